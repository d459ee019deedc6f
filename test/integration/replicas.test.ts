import { connect } from 'node:net';
import { createClient } from 'redis';
import { queueKeys } from '../../internal/store/keys';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * Three real server processes against one real Redis: the leader is killed,
 * paused past its lease, or terminated gracefully, and the published history
 * of window advances must show W moving by exactly S per due slot, never
 * twice in one slot, and on again within lease TTL + renew period.
 */
const S = 1;
const INTERVAL_MS = 50;
const LEASE_TTL_MS = 600;
const LEASE_RENEW_MS = 150;

interface Advance {
  windowEnd: number;
  nowMs: number;
  nextDueMs: number;
  receivedAt: number;
}

let redis: TestRedis;
let procs: ServerProcess[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
});
afterEach(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  procs = [];
});
afterAll(async () => {
  await redis?.close();
});

async function startTrio(queue: string, extra: Record<string, string> = {}): Promise<ServerProcess[]> {
  procs = await Promise.all(
    [0, 1, 2].map(() =>
      ServerProcess.start({
        REDIS_URL: redis.url,
        QUEUE_ID: queue,
        WINDOW_SIZE: String(S),
        WINDOW_INTERVAL: String(INTERVAL_MS / 1000),
        LEASE_TTL_MS: String(LEASE_TTL_MS),
        LEASE_RENEW_MS: String(LEASE_RENEW_MS),
        STATE_REFRESH_MS: '200',
        ...extra,
      }),
    ),
  );
  return procs;
}

async function record(queue: string) {
  const list: Advance[] = [];
  let seenW = 0;
  const sub = createClient({ url: redis.url });
  await sub.connect();
  // Numbers travel as decimal strings (exact beyond cjson's 14 digits).
  await sub.sSubscribe(queueKeys(queue).events, (m) => {
    const a = JSON.parse(m) as Record<string, string>;
    // The channel also carries the queue's creation and the first waiting join (which wakes
    // the ticker), both at version 1 and without moving W: an advance is a message that moves W up.
    const windowEnd = Number(a.windowEnd);
    const moved = Number(a.version) > 1 && windowEnd > seenW;
    seenW = Math.max(seenW, windowEnd);
    if (!moved) return;
    list.push({ windowEnd, nowMs: Number(a.nowMs), nextDueMs: Number(a.nextDueMs), receivedAt: Date.now() });
  });
  return { list, close: () => sub.close() };
}

async function leaderOf(queue: string, trio: ServerProcess[]): Promise<ServerProcess | undefined> {
  const owner = await redis.withClient((c) => c.get(queueKeys(queue).leader));
  const pid = owner ? Number(owner.split(':')[1]) : NaN;
  return trio.find((p) => p.proc.pid === pid);
}

/** Joins `n` tickets spread over the live replicas; returns every ticket number. */
async function joinMany(targets: ServerProcess[], n: number): Promise<number[]> {
  const tickets: number[] = [];
  const batch = 50;
  for (let i = 0; i < n; i += batch) {
    const rs = await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, (_, k) =>
        targets[(i + k) % targets.length]!.fetch('/join', { method: 'POST' }).then(async (r) => {
          expect(r.status).toBe(201);
          return ((await r.json()) as { ticket: number }).ticket;
        }),
      ),
    );
    tickets.push(...rs);
  }
  return tickets;
}

/** The invariants of the whole published history. */
function expectNoDoubleAdvance(list: Advance[]): void {
  expect(list.length).toBeGreaterThan(5);
  for (let i = 1; i < list.length; i++) {
    // Exactly S per advance: a double advance for one slot would show +2S or a repeat.
    expect(list[i]!.windowEnd - list[i - 1]!.windowEnd).toBe(S);
    // In Redis's clock, an advance never comes sooner than one interval after the last.
    expect(list[i]!.nowMs - list[i - 1]!.nowMs).toBeGreaterThanOrEqual(INTERVAL_MS);
  }
}

test('SIGKILL of the leader: another replica takes over within TTL + renew, tickets stay unique', async () => {
  const trio = await startTrio('kill');
  const rec = await record('kill');
  const early = await joinMany(trio, 400);
  await waitFor(() => rec.list.length >= 5, { what: 'steady advances' });
  const leader = (await waitFor(() => leaderOf('kill', trio), { what: 'a leader' }))!;
  const killedAt = Date.now();
  leader.kill('SIGKILL');
  await leader.exited;
  const before = rec.list.length;
  const next = await waitFor(() => rec.list.slice(before).find((a) => a.receivedAt > killedAt), {
    timeoutMs: 5000,
    what: 'an advance by the successor',
  });
  const newLeader = await leaderOf('kill', trio);
  expect(newLeader).toBeDefined();
  expect(newLeader).not.toBe(leader);
  // Lease TTL + one renew period, plus one interval and scheduling slack for a busy 2-core machine.
  expect(next.receivedAt - killedAt).toBeLessThan(LEASE_TTL_MS + LEASE_RENEW_MS + INTERVAL_MS + 750);
  await waitFor(() => rec.list.length >= before + 5, { what: 'advances keep coming' });

  const survivors = trio.filter((p) => p !== leader);
  const late = await joinMany(survivors, 200);
  const all = [...early, ...late];
  expect(new Set(all).size).toBe(all.length);
  await rec.close();
  expectNoDoubleAdvance(rec.list);
});

test('SIGSTOP of the leader past its lease, then SIGCONT: W never advances twice for one slot', async () => {
  const trio = await startTrio('pause');
  const rec = await record('pause');
  await joinMany(trio, 400);
  await waitFor(() => rec.list.length >= 5, { what: 'steady advances' });
  const leader = (await waitFor(() => leaderOf('pause', trio), { what: 'a leader' }))!;
  leader.kill('SIGSTOP');
  try {
    const successor = await waitFor(
      async () => {
        const l = await leaderOf('pause', trio);
        return l && l !== leader ? l : undefined;
      },
      { timeoutMs: 5000, what: 'a successor while the old leader is paused' },
    );
    expect(successor).toBeDefined();
    const count = rec.list.length;
    await waitFor(() => rec.list.length >= count + 5, { what: 'the successor advancing' });
  } finally {
    leader.kill('SIGCONT');
  }
  // The old leader wakes up believing it leads; its next advance is refused by the fence.
  await waitFor(() => leader.logs.some((l) => l.includes('lost ticker leadership')), { timeoutMs: 5000, what: 'the old leader to step down' });
  const count = rec.list.length;
  await waitFor(() => rec.list.length >= count + 10, { what: 'advances after the old leader resumed' });
  await rec.close();
  expectNoDoubleAdvance(rec.list);
  // Exactly one replica believes it leads.
  const leaders = await Promise.all(
    trio.map(async (p) => {
      const text = await (await p.fetch('/metrics')).text();
      return /waitroom_leader\{queue="pause"\} 1/.test(text);
    }),
  );
  expect(leaders.filter(Boolean)).toHaveLength(1);
});

/** Opens a raw connection and sends a request without its final blank line. */
function partialRequest(port: number, token: string) {
  const sock = connect(port, '127.0.0.1');
  let data = '';
  sock.on('data', (d) => (data += d.toString()));
  const done = new Promise<string>((resolve) => sock.on('close', () => resolve(data)));
  sock.write(`GET /status HTTP/1.1\r\nHost: waitroom\r\nAuthorization: Bearer ${token}\r\n`);
  return { finish: () => sock.write('\r\n'), done };
}

test('SIGTERM while requests are in flight: readiness 503 at once, every request completes, exit 0, lease handed over', async () => {
  const trio = await startTrio('term', { SHUTDOWN_DELAY_MS: '800' });
  const rec = await record('term');
  await joinMany(trio, 300);
  await waitFor(() => rec.list.length >= 3, { what: 'steady advances' });
  const leader = (await waitFor(() => leaderOf('term', trio), { what: 'a leader' }))!;
  const { token } = (await (await leader.fetch('/join', { method: 'POST' })).json()) as { token: string };

  const inFlight = Array.from({ length: 5 }, () => partialRequest(leader.port, token));
  await new Promise((r) => setImmediate(r));
  const termAt = Date.now();
  leader.kill('SIGTERM');
  await waitFor(async () => (await leader.fetch('/readyz')).status === 503, { timeoutMs: 2000, what: 'readiness 503' });
  expect(Date.now() - termAt).toBeLessThan(700);

  // The lease is released, not left to expire: a successor leads within one renew period.
  const successor = await waitFor(
    async () => {
      const l = await leaderOf('term', trio);
      return l && l !== leader ? l : undefined;
    },
    { timeoutMs: LEASE_TTL_MS, what: 'successor before the lease TTL' },
  );
  expect(successor).toBeDefined();
  expect(Date.now() - termAt).toBeLessThan(LEASE_RENEW_MS + 400);

  for (const r of inFlight) r.finish();
  const replies = await Promise.all(inFlight.map((r) => r.done));
  for (const reply of replies) {
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(reply).toMatch(/"status":"(waiting|active|expired)"/);
  }
  await leader.exited;
  expect(leader.exitCode).toBe(0);
  expect(leader.logs.some((l) => l.includes('released ticker lease'))).toBe(true);
  const count = rec.list.length;
  await waitFor(() => rec.list.length >= count + 3, { what: 'the successor advancing' });
  await rec.close();
  expectNoDoubleAdvance(rec.list);
});
