import { createClient } from 'redis';
import { queueKeys } from '../../internal/store/keys';
import { TestKeyDir } from '../helpers/pass-keys';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * The capacity cap across three real replica processes on one real Redis
 * (docs/system.md, "Occupancy"): whatever the concurrency of claims and
 * completions, the places taken never exceed maxActive nor go below zero, and
 * a completion admits the next visitor within one second, not at the next
 * interval (here 60 s).
 */
const ADMIN = 'admin-token-0123456789abcdef0123456789';
const SITE_KEY = 'site-key-0123456789abcdef0123456789abcdef';
const CAP = 4;

let redis: TestRedis;
let keys: TestKeyDir;
let trio: ServerProcess[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  keys = new TestKeyDir().add('2026-01-a', 'ES256');
  trio = await Promise.all(
    [0, 1, 2].map(() =>
      ServerProcess.start({
        REDIS_URL: redis.url,
        QUEUE_ID: 'main',
        PASS_KEYS_DIR: keys.dir,
        SITE_API_KEYS: SITE_KEY,
        ADMIN_TOKEN: ADMIN,
        PASS_TTL: '600',
        STATE_REFRESH_MS: '1000',
      }),
    ),
  );
}, 60_000);
afterAll(async () => {
  await Promise.all(trio.map((p) => p.stop()));
  await redis?.close();
  keys?.close();
});

type Json = Record<string, unknown>;

async function call(p: ServerProcess, method: string, path: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await p.fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : {}) as Json };
}

/** Occupancy as the scripts keep it, read atomically: live passes + admitted-unclaimed in open windows. */
async function occupancy(c: ReturnType<typeof createClient>, queue: string): Promise<{ live: number; pending: number }> {
  const k = queueKeys(queue);
  const [live, pending] = (await c.multi().zCard(k.passes).hGet(k.occupancy, 'pending').exec()) as unknown as [number, string | null];
  return { live: Number(live), pending: Number(pending ?? 0) };
}

test('three replicas, concurrent claims and completions: occupancy never above the cap nor below zero; a completion admits the next within 1 s', async () => {
  const [a, b, c] = trio as [ServerProcess, ServerProcess, ServerProcess];
  // S = 50 per 60 s slot: after the first advance, every admission is a top-up on a freed place.
  const created = await call(a, 'POST', '/admin/api/v1/queues', { id: 'capped', windowSize: 50, intervalSeconds: 60, maxActive: CAP }, ADMIN);
  expect(created.status).toBe(201);
  expect(created.body.maxActive).toBe(CAP);
  // Every replica serves it within a second (the registry's pub/sub).
  for (const p of trio) await waitFor(async () => (await call(p, 'GET', '/q/capped/window')).status === 200, { timeoutMs: 5000 });

  const tickets: Array<{ token: string; ticket: number }> = [];
  for (let i = 0; i < 30; i++) {
    const j = await call(trio[i % 3]!, 'POST', '/q/capped/join');
    expect(j.status).toBe(201);
    tickets.push({ token: String(j.body.token), ticket: Number(j.body.ticket) });
  }
  const first = await call(b, 'GET', '/status', undefined, tickets[29]!.token);
  expect(first.body.etaKind).toBe('estimate');

  const watcher = createClient({ url: redis.url });
  await watcher.connect();
  let maxSeen = 0;
  let minPending = Infinity;
  let watching = true;
  const watch = (async () => {
    while (watching) {
      const o = await occupancy(watcher, 'capped');
      maxSeen = Math.max(maxSeen, o.live + o.pending);
      minPending = Math.min(minPending, o.pending);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();

  const windowEnd = async () => Number((await call(c, 'GET', '/q/capped/window')).body.windowEnd);
  await waitFor(async () => (await windowEnd()) === CAP, { timeoutMs: 5000, what: 'the first batch, cut to the cap' });

  // Rounds: every admitted, unclaimed visitor claims (on a random replica, twice at once to race
  // the claim script), then every visitor on the site completes at once, on all three replicas.
  const passes = new Map<number, string>();
  const done = new Set<number>();
  const admitLatencies: number[] = [];
  let rounds = 0;
  while (done.size < 20 && rounds < 30) {
    rounds++;
    const W = await windowEnd();
    const admitted = tickets.filter((t) => t.ticket <= W && !passes.has(t.ticket));
    const claims = await Promise.all(
      admitted.flatMap((t) => [0, 1].map((k) => call(trio[(t.ticket + k) % 3]!, 'POST', '/claim', undefined, t.token).then((r) => ({ t, r })))),
    );
    for (const { t, r } of claims) {
      expect([200]).toContain(r.status);
      passes.set(t.ticket, String(r.body.pass));
    }
    const onSite = [...passes.entries()].filter(([n]) => !done.has(n));
    expect(onSite.length).toBeLessThanOrEqual(CAP);
    const before = await windowEnd();
    const sentAt = Date.now();
    const results = await Promise.all(
      onSite.flatMap(([n, pass]) =>
        // Each completion is sent twice, to two replicas: counted once, freed once.
        [0, 1].map((k) => call(trio[(n + k + rounds) % 3]!, 'POST', '/passes/done', { pass, outcome: 'completed' }, SITE_KEY)),
      ),
    );
    for (const r of results) expect(r.status).toBe(200);
    for (const [n] of onSite) done.add(n);
    // The freed places go to the next visitors within one ticker check, not the 60 s interval.
    const want = Math.min(tickets.length, before + onSite.length);
    await waitFor(async () => (await windowEnd()) >= want, { timeoutMs: 3000, intervalMs: 5, what: `W to reach ${want}` });
    admitLatencies.push(Date.now() - sentAt);
  }
  watching = false;
  await watch;
  await watcher.close();

  expect(done.size).toBeGreaterThanOrEqual(20);
  expect(maxSeen).toBeLessThanOrEqual(CAP);
  expect(maxSeen).toBe(CAP);
  expect(minPending).toBeGreaterThanOrEqual(0);
  // Within one second of the completions being answered (the test reads W through /window, so
  // this includes a replica's copy catching up): the median, to stay robust on a busy machine.
  admitLatencies.sort((x, y) => x - y);
  expect(admitLatencies[Math.floor(admitLatencies.length / 2)]).toBeLessThan(1000);
  // The stats agree: every completion counted once.
  const stats = await call(a, 'GET', '/passes/stats?queue=capped', undefined, SITE_KEY);
  expect(stats.body).toMatchObject({ completed: done.size });
}, 120_000);
