import { TestRedisCluster, type RedisNodeProcess } from '../helpers/redis-topology';
import { ServerProcess } from '../helpers/server-process';
import { waitFor } from '../helpers/ports';
import { duplicateTickets, joinLoad, joinOnce, type JoinRecord } from '../helpers/join-load';
import { queueKeys } from '../../internal/store/keys';

/**
 * waitroom on a real 6-node Redis Cluster (3 primaries, 1 replica each):
 * replicas seeded with any node serve queues on every shard, and a kill -9 of
 * a queue's primary is survived without a restart.
 */
jest.setTimeout(120_000);

let cluster: TestRedisCluster;
const servers: ServerProcess[] = [];
/** queue id -> its server process */
const byQueue = new Map<string, ServerProcess>();

function env(queue: string, url: string): Record<string, string> {
  return {
    REDIS_URL: url,
    QUEUE_ID: queue,
    WINDOW_SIZE: '5',
    WINDOW_INTERVAL: '0.5',
    LEASE_TTL_MS: '1500',
    STATE_REFRESH_MS: '250',
    // Longer than a failover (about 3 s here): /status answers from the cache throughout.
    STATE_MAX_STALENESS_MS: '20000',
    LOG_LEVEL: process.env.HA_LOG_LEVEL ?? 'warn',
  };
}

beforeAll(async () => {
  cluster = await TestRedisCluster.start({ primaries: 3, replicas: 1 });
  // One queue per primary: ids whose hash tag lands on each primary in turn.
  const primaries = await cluster.primaryPorts();
  const chosen = new Map<number, string>();
  for (let i = 0; chosen.size < primaries.length && i < 1000; i++) {
    const q = `shard-${i}`;
    const p = (await cluster.primaryFor(queueKeys(q).state)).port;
    if (!chosen.has(p)) chosen.set(p, q);
  }
  expect(chosen.size).toBe(3);
  // Each replica gets a different single seed node, a replica node included:
  // the seed only starts discovery, it need not own the queue's slot.
  let seed = 0;
  for (const q of chosen.values()) {
    const seedNode = cluster.nodes[seed++ * 2 + 1] as RedisNodeProcess;
    const s = await ServerProcess.start(env(q, cluster.url([seedNode])));
    servers.push(s);
    byQueue.set(q, s);
  }
});

afterAll(async () => {
  for (const s of servers) await s.stop();
  await cluster?.close();
});

test('queues on every shard serve joins and statuses, whichever node seeded them', async () => {
  const ports = new Set<number>();
  for (const [q, s] of byQueue) {
    const j = await s.fetch('/join', { method: 'POST' });
    expect(j.status).toBe(201);
    const { token, queue } = (await j.json()) as { token: string; queue: string };
    expect(queue).toBe(q);
    const st = await s.fetch('/status', { headers: { authorization: `Bearer ${token}` } });
    expect(st.status).toBe(200);
    // The queue's keys really are on its shard's primary.
    const owner = await cluster.primaryFor(queueKeys(q).state);
    expect(await owner.command(['EXISTS', queueKeys(q).counter])).toBe(1);
    ports.add(owner.port);
  }
  expect(ports.size).toBe(3);
});

test('100 queues spread over all three primaries (one hash slot per queue)', async () => {
  // Checks the key design (the {queue} hash tag): every key and channel of a queue
  // shares one slot, and different queues land on different primaries. Serving
  // many queues from one deployment is the multi-queue work's; here one deployment
  // serves one queue, so the test above runs one server per shard.
  const perPrimary = new Map<number, number>();
  for (let i = 0; i < 100; i++) {
    const k = queueKeys(`event-${i}`);
    const slots = new Set(await Promise.all([k.state, k.counter, k.leader, k.events, k.passes, k.revokedPasses, k.passStats, k.passRevocations, k.passClaim('e', 1)].map((x) => cluster.slotOf(x))));
    expect(slots.size).toBe(1);
    const p = (await cluster.primaryFor(k.state)).port;
    perPrimary.set(p, (perPrimary.get(p) ?? 0) + 1);
  }
  expect(perPrimary.size).toBe(3);
  // Each primary owns a third of the slots; 100 ids give 33 ± 15 each.
  for (const n of perPrimary.values()) expect(n).toBeGreaterThanOrEqual(15);
});

test('the window advances over sharded pub/sub on the queue shard', async () => {
  const [q, s] = [...byQueue][0] as [string, ServerProcess];
  const owner = await cluster.primaryFor(queueKeys(q).events);
  // SSUBSCRIBE on the owning primary sees the ticker's SPUBLISH.
  const got = await owner.withClient(async (c) => {
    const messages: string[] = [];
    await c.sSubscribe(queueKeys(q).events, (m) => messages.push(m));
    // More joins than one window (S = 5), so the ticker has someone to admit and advances.
    for (let i = 0; i < 8; i++) expect((await s.fetch('/join', { method: 'POST' })).status).toBe(201);
    await waitFor(() => messages.length > 0, { timeoutMs: 10_000, what: 'a sharded window message' });
    return messages;
  });
  expect(JSON.parse(got[0] as string)).toHaveProperty('windowEnd');
});

test('kill -9 of the queue primary: recovers by itself, no ticket handed out twice', async () => {
  const [q, server] = [...byQueue][1] as [string, ServerProcess];
  const first = await joinOnce(server);
  expect(first.status).toBe(201);
  const tok = (await (await server.fetch('/join', { method: 'POST' })).json()) as { token: string };

  const victim = await cluster.primaryFor(queueKeys(q).state);
  let killedAt = 0;
  const statusAnswers: Array<{ status: number; code?: string }> = [];
  let polling = true;
  const statusPoller = (async () => {
    while (polling) {
      const r = await server.fetch('/status', { headers: { authorization: `Bearer ${tok.token}` } }).catch(() => null);
      const body = r && r.status !== 200 ? ((await r.json().catch(() => ({}))) as { error?: { code?: string } }) : undefined;
      statusAnswers.push({ status: r?.status ?? 0, code: body?.error?.code });
      await new Promise((res) => setTimeout(res, 100));
    }
  })();

  const recovered = (rs: readonly JoinRecord[]) => killedAt > 0 && rs.filter((r) => r.atMs > killedAt && r.status === 201).length >= 20;
  const load = joinLoad(server, { workers: 3, pauseMs: 25, maxJoins: 4000, maxMs: 60_000, stop: recovered });
  await new Promise((r) => setTimeout(r, 500));
  killedAt = Date.now();
  await victim.kill();
  const records = await load;
  polling = false;
  await statusPoller;

  const after = records.filter((r) => r.atMs >= killedAt);
  const firstOk = after.find((r) => r.status === 201);
  if (!firstOk) console.log(server.logs.slice(-40).join('\n'));
  expect(firstOk).toBeDefined();
  const recoveryMs = (firstOk as JoinRecord).atMs - killedAt;
  const failed = after.filter((r) => r.status !== 201);
  // eslint-disable-next-line no-console
  console.log(
    `cluster failover: primary killed, first successful join after ${recoveryMs} ms; ` +
      `${records.length} joins sent, ${failed.length} answered 503 during the switch`,
  );
  // Every failure during the switch is a clean 503 with Retry-After, never a hang or a 500.
  for (const f of failed) {
    expect(f.status).toBe(503);
    expect(f.retryAfter).toMatch(/^\d+$/);
  }
  expect(duplicateTickets(records)).toEqual([]);
  // /status kept answering from the cache (its staleness bound is 20 s).
  expect(statusAnswers.length).toBeGreaterThan(5);
  expect(statusAnswers.filter((a) => a.status !== 200)).toEqual([]);
  // The replica took over: a new primary for the slot, and the queue works on it.
  const promoted = await cluster.primaryFor(queueKeys(q).state);
  expect(promoted.port).not.toBe(victim.port);
  await waitFor(async () => (await server.fetch('/readyz')).status === 200, { timeoutMs: 15_000, what: 'ready again' });
  // The service re-opened its sharded subscription on the promoted primary.
  await waitFor(
    async () => {
      const n = (await promoted.command(['PUBSUB', 'SHARDNUMSUB', queueKeys(q).events])) as [string, number];
      return Number(n[1]) >= 1;
    },
    { timeoutMs: 15_000, what: 'the events subscription on the new primary' },
  );

  // The other shards' queues never noticed.
  for (const [other, s] of byQueue) {
    if (other === q) continue;
    expect((await joinOnce(s)).status).toBe(201);
  }
});
