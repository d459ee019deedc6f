import { TestRedisSentinel } from '../helpers/redis-topology';
import { ServerProcess } from '../helpers/server-process';
import { waitFor } from '../helpers/ports';
import { duplicateTickets, joinLoad, joinOnce, type JoinRecord } from '../helpers/join-load';
import { queueKeys } from '../../internal/store/keys';

/**
 * waitroom on a real Sentinel group (a primary, a replica, three sentinels):
 * two replicas of the service follow a kill -9 of the primary to the promoted
 * replica without a restart.
 */
jest.setTimeout(120_000);

const QUEUE = 'sentinel-q';
let group: TestRedisSentinel;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  group = await TestRedisSentinel.start({ replicas: 1, sentinels: 3 });
  for (let i = 0; i < 2; i++) {
    servers.push(
      await ServerProcess.start({
        REDIS_URL: group.url(),
        QUEUE_ID: QUEUE,
        WINDOW_SIZE: '5',
        WINDOW_INTERVAL: '0.5',
        LEASE_TTL_MS: '1500',
        STATE_REFRESH_MS: '250',
        // Longer than a failover (a few seconds here): /status answers from the cache throughout.
        STATE_MAX_STALENESS_MS: '20000',
        LOG_LEVEL: process.env.HA_LOG_LEVEL ?? 'warn',
      }),
    );
  }
});

afterAll(async () => {
  for (const s of servers) await s.stop();
  await group?.close();
});

test('both replicas serve joins and statuses through the sentinels', async () => {
  for (const s of servers) {
    const j = await s.fetch('/join', { method: 'POST' });
    expect(j.status).toBe(201);
    const { token } = (await j.json()) as { token: string };
    expect((await s.fetch('/status', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  }
  expect(await group.primary.command(['EXISTS', queueKeys(QUEUE).counter])).toBe(1);
});

test('kill -9 of the primary: recovers by itself, no ticket handed out twice', async () => {
  const [a, b] = servers as [ServerProcess, ServerProcess];
  const tok = (await (await a.fetch('/join', { method: 'POST' })).json()) as { token: string };
  const victimPort = await group.currentPrimaryPort();
  const victim = group.nodeOnPort(victimPort);

  let killedAt = 0;
  const statusAnswers: Array<{ status: number; code?: string }> = [];
  let polling = true;
  const statusPoller = (async () => {
    while (polling) {
      const r = await b.fetch('/status', { headers: { authorization: `Bearer ${tok.token}` } }).catch(() => null);
      const body = r && r.status !== 200 ? ((await r.json().catch(() => ({}))) as { error?: { code?: string } }) : undefined;
      statusAnswers.push({ status: r?.status ?? 0, code: body?.error?.code });
      await new Promise((res) => setTimeout(res, 100));
    }
  })();

  const enough = (rs: readonly JoinRecord[]) => killedAt > 0 && rs.filter((r) => r.atMs > killedAt && r.status === 201).length >= 20;
  const loads = [a, b].map((s) => joinLoad(s, { workers: 2, pauseMs: 25, maxJoins: 3000, maxMs: 60_000, stop: enough }));
  await new Promise((r) => setTimeout(r, 500));
  killedAt = Date.now();
  await victim.kill();
  const perServer = await Promise.all(loads);
  polling = false;
  await statusPoller;

  const records = perServer.flat().sort((x, y) => x.atMs - y.atMs);
  const after = records.filter((r) => r.atMs >= killedAt);
  const firstOk = after.find((r) => r.status === 201);
  if (!firstOk) console.log([...a.logs.slice(-30), ...b.logs.slice(-10)].join('\n'));
  expect(firstOk).toBeDefined();
  const recoveryMs = (firstOk as JoinRecord).atMs - killedAt;
  const failed = after.filter((r) => r.status !== 201);
  // eslint-disable-next-line no-console
  console.log(
    `sentinel failover: primary killed, first successful join after ${recoveryMs} ms; ` +
      `${records.length} joins sent by 2 replicas, ${failed.length} answered 503 during the switch`,
  );
  for (const f of failed) {
    expect(f.status).toBe(503);
    expect(f.retryAfter).toMatch(/^\d+$/);
  }
  // Both replicas of the service recovered, and no (epoch, ticket) was handed out twice.
  for (const rs of perServer) expect(rs.some((r) => r.atMs > killedAt && r.status === 201)).toBe(true);
  expect(duplicateTickets(records)).toEqual([]);
  expect(statusAnswers.length).toBeGreaterThan(5);
  expect(statusAnswers.filter((x) => x.status !== 200)).toEqual([]);

  const promotedPort = await group.currentPrimaryPort();
  expect(promotedPort).not.toBe(victimPort);
  // Both service replicas re-opened their sharded subscription on the promoted primary.
  await waitFor(
    async () => {
      const n = (await group.nodeOnPort(promotedPort).command(['PUBSUB', 'SHARDNUMSUB', queueKeys(QUEUE).events])) as [string, number];
      return Number(n[1]) >= 2;
    },
    { timeoutMs: 20_000, what: 'the events subscriptions on the new primary' },
  );
  for (const s of servers) {
    await waitFor(async () => (await s.fetch('/readyz')).status === 200, { timeoutMs: 15_000, what: 'ready again' });
    expect((await joinOnce(s)).status).toBe(201);
  }
});
