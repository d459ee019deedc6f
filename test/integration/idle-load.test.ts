import { createHash } from 'node:crypto';
import { lua } from '../../internal/store/scripts';
import { globalKeys, queueKeys } from '../../internal/store/keys';
import { waitFor } from '../helpers/ports';
import { monitorCalls } from '../helpers/redis-monitor';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * Many idle queues on three real replicas against one real Redis: an idle queue is not read
 * again and again (docs/benchmarks.md, "Many idle queues"). Each replica polls the change
 * log every STATE_REFRESH_MS (250 ms here) and re-reads only the queues it lists; the full
 * re-read (STATE_RESYNC_MS) is set to 10 minutes, so whatever reaches the replicas here
 * came by pub/sub or through the log. Redis's own MONITOR says what was called.
 */
const TOKEN = 'idle-admin-token-0123456789abcdef';
const REFRESH_MS = 250;
const STALE_MS = 1500;
const QUEUES = 12;
// The text Redis runs (lua() puts the included libraries in), so the SHA1 is the EVALSHA's.
const sha = (name: string) => createHash('sha1').update(lua(name)).digest('hex');

let redis: TestRedis;
let trio: ServerProcess[];
const tickets: string[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  trio = await Promise.all(
    [0, 1, 2].map(() =>
      ServerProcess.start({
        REDIS_URL: redis.url,
        QUEUE_ID: 'main',
        ADMIN_TOKENS: `ops:${TOKEN}`,
        STATE_REFRESH_MS: String(REFRESH_MS),
        STATE_MAX_STALENESS_MS: String(STALE_MS),
        STATE_RESYNC_MS: '600000',
        LOG_LEVEL: 'warn',
      }),
    ),
  );
  for (let i = 0; i < QUEUES; i++) {
    const r = await trio[0]!.fetch('/admin/api/v1/queues', {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: `idle-${i}`, windowSize: 10, intervalSeconds: 5 }),
    });
    expect(r.status).toBe(201);
  }
  for (const p of trio) {
    await waitFor(async () => (await p.fetch(`/q/idle-${QUEUES - 1}/window`)).status === 200, { what: `every queue on ${p.port}` });
  }
  for (let i = 0; i < QUEUES; i++) {
    const r = await trio[i % 3]!.fetch(`/q/idle-${i}/join`, { method: 'POST' });
    expect(r.status).toBe(201);
    tickets.push(((await r.json()) as { token: string }).token);
  }
}, 90_000);

afterAll(async () => {
  await Promise.all((trio ?? []).map((p) => p.stop()));
  await redis?.close();
});


const isScript = (c: string[], name: string) => c[0]?.toLowerCase() === 'evalsha' && c[1] === sha(name);

async function windowState(p: ServerProcess, queue: string): Promise<string | undefined> {
  const r = await p.fetch(`/q/${queue}/window`);
  return r.status === 200 ? ((await r.json()) as { state: string }).state : undefined;
}

test('idle queues are not re-read: no state or revocation read, no dispatcher call; one change-log poll per replica per period; /status stays confirmed', async () => {
  // Let the start settle: every queue's first reads, the lease placement, and each ticker's
  // first due advance (5 s after its queue was created), after which it sleeps.
  await new Promise((r) => setTimeout(r, 8000));
  const windowMs = 3000;
  const calls = await monitorCalls(redis.port, windowMs);
  const count = (f: (c: string[]) => boolean) => calls.filter(f).length;
  // 39 copies (13 queues on 3 replicas), each re-read once per 10 minutes at a random phase:
  // about 0.2 full reads of each kind in 3 s. Re-read every poll, as before the change log,
  // it would be 468.
  // The SHA1s named here are the ones Redis holds (lua() includes the libraries), or the
  // counts below would be vacuous.
  const held = await redis.withClient((c) => c.scriptExists([sha('ensure-queue'), sha('pass-sweep'), sha('lease-renew')]));
  expect(held.map(Number)).toEqual([1, 1, 1]);
  expect(count((c) => isScript(c, 'ensure-queue'))).toBeLessThanOrEqual(2);
  expect(count((c) => isScript(c, 'pass-sweep'))).toBeLessThanOrEqual(2);
  expect(count((c) => isScript(c, 'read-queue'))).toBe(0);
  // No webhook endpoint exists: no dispatcher lease, no stream or retry reads.
  expect(count((c) => /^(xreadgroup|xautoclaim)$/i.test(c[0] ?? ''))).toBe(0);
  expect(count((c) => c.some((a) => a.endsWith(':webhook-dispatcher') || a.endsWith(':webhook-retries')))).toBe(0);
  const polls = count((c) => isScript(c, 'registry-poll'));
  const expected = (3 * windowMs) / REFRESH_MS;
  expect(polls).toBeGreaterThanOrEqual(expected * 0.5);
  expect(polls).toBeLessThanOrEqual(expected * 1.5);
  // Nothing read any queue for longer than STATE_MAX_STALENESS_MS, yet every copy is confirmed (by the polls).
  for (const p of trio) {
    for (const t of tickets) {
      const r = await p.fetch('/status', { headers: { Authorization: `Bearer ${t}` } });
      expect(r.status).toBe(200);
    }
  }
}, 30_000);

test('a change whose message was lost reaches every replica within one second through the change log; without the log it does not', async () => {
  const q = 'idle-3';
  const k = queueKeys(q);
  // A change written without its pub/sub message (as if every replica's subscription was down):
  // the version goes up, so each replica's read accepts it.
  const handEdit = (mode: string) =>
    redis.withClient(async (client) => {
      await client.hSet(k.state, 'mode', mode);
      await client.hIncrBy(k.state, 'version', 1);
    });
  await handEdit('paused');
  // Not logged: an idle queue's copy is not read again, so no replica sees it (the full re-read is minutes away).
  await new Promise((r) => setTimeout(r, 4 * REFRESH_MS));
  for (const p of trio) expect(await windowState(p, q)).toBe('open');
  // Logged, as every writer of the service does after its script (registry-touch.lua).
  const t0 = Date.now();
  // As registered: lua() puts the included libraries in.
  const touch = lua('registry-touch');
  // Without an author: no replica holds this change, so every one re-reads the queue.
  await redis.withClient((client) => client.eval(touch, { keys: [globalKeys.changeSeq, globalKeys.changed, globalKeys.changedBy], arguments: [q, ''] }));
  await Promise.all(trio.map((p) => waitFor(async () => (await windowState(p, q)) === 'paused', { timeoutMs: 3000, intervalMs: 20, what: `paused on ${p.port}` })));
  expect(Date.now() - t0).toBeLessThan(1000);
}, 30_000);
