import type { AddressInfo } from 'node:net';
import type { WaitroomServer } from '../../internal/server/waitroom-server';
import { queueKeys } from '../../internal/store/keys';
import { startInProcess } from '../helpers/in-process';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';

let redis: TestRedis;
let server: WaitroomServer;
let base: string;

async function boot(queue: string, persist = false): Promise<void> {
  redis = await TestRedis.start({ persist });
  server = await startInProcess({
    REDIS_URL: redis.url,
    QUEUE_ID: queue,
    WINDOW_SIZE: '5',
    WINDOW_INTERVAL: '3600',
    STATE_REFRESH_MS: '100',
    STATE_MAX_STALENESS_MS: '600',
  });
  const addr = (await server.listen(0, '127.0.0.1')) as AddressInfo;
  base = `http://127.0.0.1:${addr.port}`;
}

afterEach(async () => {
  await server?.shutdown();
  await redis?.close();
});

const join = () => fetch(`${base}/join`, { method: 'POST' });
const status = (token: string) => fetch(`${base}/status`, { headers: { Authorization: `Bearer ${token}` } });
async function joinOk(): Promise<{ token: string; ticket: number }> {
  const r = await join();
  expect(r.status).toBe(201);
  return (await r.json()) as { token: string; ticket: number };
}
async function errorCode(r: Response): Promise<string> {
  return ((await r.json()) as { error: { code: string } }).error.code;
}

describe('epochs: a queue that Redis lost is never confused with the new one', () => {
  test('after FLUSHALL, old tickets get 409 queue_reset and numbering restarts in a new epoch', async () => {
    await boot('flush');
    const old = await joinOk();
    const oldEpoch = server.cache.peek()!.epoch;
    expect((await status(old.token)).status).toBe(200);
    await redis.withClient((c) => c.flushAll());
    await waitFor(() => server.cache.peek()!.epoch !== oldEpoch, { what: 'a new epoch' });
    // This replica saw the old epoch replaced: the answer is certain at once.
    const r = await status(old.token);
    expect(r.status).toBe(409);
    expect(await errorCode(r)).toBe('queue_reset');
    const fresh = await joinOk();
    expect(fresh.ticket).toBe(1);
    expect((await status(fresh.token)).status).toBe(200);
  });

  test('after a restart without persistence, the same holds', async () => {
    await boot('restart');
    const old = await joinOk();
    const oldEpoch = server.cache.peek()!.epoch;
    await redis.restart();
    await waitFor(() => server.cache.peek()?.epoch !== oldEpoch && server.readiness.reason() === null, { timeoutMs: 10_000, what: 'recovery with a new epoch' });
    expect((await status(old.token)).status).toBe(409);
    expect((await joinOk()).ticket).toBe(1);
  });

  test('after a restart with AOF persistence, the epoch and every place are kept', async () => {
    await boot('aof', true);
    const first = await joinOk();
    await joinOk();
    const epoch = server.cache.peek()!.epoch;
    await redis.restart();
    await waitFor(async () => (await join()).status === 201, { timeoutMs: 10_000, what: 'joins again' });
    expect(server.cache.peek()!.epoch).toBe(epoch);
    const r = await status(first.token);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { ticket: number }).ticket).toBe(1);
    expect((await joinOk()).ticket).toBe(4);
  });
});

describe('Redis outages: 503 with Retry-After, never a fake answer, then recovery', () => {
  test('Redis stopped, then started again, without restarting the service', async () => {
    await boot('outage');
    const t = await joinOk();
    await redis.stop();

    const j = await join();
    expect(j.status).toBe(503);
    expect(j.headers.get('retry-after')).toBe('1');
    expect(await errorCode(j)).toBe('store_unavailable');

    // Within the staleness bound /status still answers from memory; past it, 503.
    await waitFor(async () => (await status(t.token)).status === 503, { timeoutMs: 5000, what: '/status 503 once stale' });
    const s = await status(t.token);
    expect(s.headers.get('retry-after')).toBe('1');
    expect(await errorCode(s)).toBe('state_stale');
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    expect((await fetch(`${base}/livez`)).status).toBe(200);

    await redis.restart();
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, { timeoutMs: 10_000, what: 'ready again' });
    expect((await joinOk()).ticket).toBe(1); // no persistence: a new epoch
    expect((await status(t.token)).status).toBe(409);
  });

  test('a paused Redis gives a fast 503, not a hung request', async () => {
    await boot('pause');
    await joinOk();
    redis.pause();
    try {
      const started = Date.now();
      const r = await join();
      expect(r.status).toBe(503);
      // The per-command timeout is 1 s; the request must not hang for long.
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      redis.resume();
    }
    await waitFor(async () => (await join()).status === 201, { timeoutMs: 10_000, what: 'joins after resume' });
  });
});

describe('a ticket of a new epoch is not mistaken for a reset on a replica that has not re-read yet', () => {
  test('503 not_ready with Retry-After, then 200 once the replica has re-read the state', async () => {
    await boot('lag');
    const other = await startInProcess({ REDIS_URL: redis.url, QUEUE_ID: 'lag', WINDOW_SIZE: '5', WINDOW_INTERVAL: '3600', STATE_REFRESH_MS: '5000', STATE_MAX_STALENESS_MS: '60000' });
    try {
      const oldEpoch = other.cache.peek()!.epoch;
      // The queue's own keys lost (not the registry or the change log: a FLUSHALL now makes this
      // replica see at its next poll, 100 ms, that the log was replaced, and re-register the
      // default queue, which has every replica re-read it at once).
      await redis.withClient(async (c) => {
        const keys = await c.keys(queueKeys('lag').state.replace(/state$/, '*'));
        if (keys.length > 0) await c.del(keys);
      });
      // This replica re-creates the queue at once by joining; the other still holds the old epoch.
      const fresh = await joinOk();
      expect(other.cache.peek()!.epoch).toBe(oldEpoch);
      expect(() => other.service.status(fresh.token)).toThrow(expect.objectContaining({ status: 503, code: 'not_ready' }));
      await waitFor(() => other.cache.peek()!.epoch !== oldEpoch, { what: 'the other replica to re-read' });
      expect(other.service.status(fresh.token).ticket).toBe(fresh.ticket);
    } finally {
      await other.shutdown();
    }
  });
});

describe('a damaged state is reported, never silently reset', () => {
  test('a missing counter makes /join 503 state_corrupt and is left for an operator', async () => {
    await boot('corrupt');
    await joinOk();
    await joinOk();
    await redis.withClient((c) => c.del(queueKeys('corrupt').counter));
    const r = await join();
    expect(r.status).toBe(503);
    expect(await errorCode(r)).toBe('state_corrupt');
    // Nothing re-created the counter at 0 (which would hand out ticket 1 again).
    expect(await redis.withClient((c) => c.exists(queueKeys('corrupt').counter))).toBe(0);
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 503, { what: 'not ready' });
    // The operator repairs it; service resumes where it was.
    await redis.withClient((c) => c.set(queueKeys('corrupt').counter, '2'));
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, { what: 'ready after repair' });
    expect((await joinOk()).ticket).toBe(3);
  });

  test.each([
    ['counter', 'nan'],
    ['counter', '-100'],
    ['windowEnd', 'inf'],
    ['windowEnd', '1e400'],
    ['windowSize', '0'],
    ['intervalMs', '-5'],
  ])('%s = %s: /join and /status answer 503 state_corrupt, /readyz says why, the metric counts it', async (field, value) => {
    const queue = `bad-${field}-${value.replace(/\W/g, '')}`;
    await boot(queue);
    const t = await joinOk();
    const keys = queueKeys(queue);
    await redis.withClient<unknown>((c) => (field === 'counter' ? c.set(keys.counter, value) : c.hSet(keys.state, field, value)));
    // The replica's own read finds it within STATE_REFRESH_MS (100 ms): not "stale", corrupt.
    await waitFor(async () => (await status(t.token)).status === 503, { what: '/status 503' });
    const s = await status(t.token);
    expect(s.headers.get('retry-after')).toBe('5');
    expect(await errorCode(s)).toBe('state_corrupt');
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not_ready', reason: 'state_corrupt' });
    const j = await join();
    expect(j.status).toBe(503);
    expect(await errorCode(j)).toBe('state_corrupt');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const counted = Number(/waitroom_state_corrupt_total\{queue="[^"]+"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    // At least the read that found it and the join.
    expect(counted).toBeGreaterThanOrEqual(2);
  });

  test('a non-numeric window end is refused, not read as zero', async () => {
    await boot('nan');
    const t = await joinOk();
    await redis.withClient((c) => c.hSet(queueKeys('nan').state, 'windowEnd', 'abc'));
    const r = await join();
    expect(r.status).toBe(503);
    expect(await errorCode(r)).toBe('state_corrupt');
    await waitFor(async () => (await status(t.token)).status === 503, { what: '/status 503' });
    expect(await redis.withClient((c) => c.hGet(queueKeys('nan').state, 'windowEnd'))).toBe('abc');
  });
});

describe('a counter that went backwards starts a new epoch, never a duplicate place', () => {
  test('SET lower by hand: the next join is ticket 1 of a new epoch and old tickets get 409 queue_reset', async () => {
    await boot('setlower');
    const held = [];
    for (let i = 0; i < 6; i++) held.push(await joinOk());
    const oldEpoch = server.cache.peek()!.epoch;
    await redis.withClient((c) => c.set(queueKeys('setlower').counter, '2'));
    const fresh = await joinOk();
    expect(fresh.ticket).toBe(1);
    expect(server.cache.peek()!.epoch).not.toBe(oldEpoch);
    for (const t of held) {
      const r = await status(t.token);
      expect(r.status).toBe(409);
      expect(await errorCode(r)).toBe('queue_reset');
    }
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/waitroom_state_rollbacks_total\{queue="setlower",reason="counter_below_seen"\} 1/);
  });

  test('a replica with no memory of the lost numbers learns them from a polled ticket: 503 state_corrupt, then 409 queue_reset', async () => {
    await boot('witness');
    const tickets = [];
    for (let i = 0; i < 8; i++) tickets.push(await joinOk());
    const last = tickets[7]!;
    // The replica that saw ticket 8 goes away; the counter then falls back to 3
    // (W = 5 stays within counter + S, so the state alone does not show it).
    await server.shutdown();
    await redis.withClient((c) => c.set(queueKeys('witness').counter, '3'));
    // Tickets carry whole-second iat: wait until a read sent now is surely after ticket 8 was issued.
    await new Promise((r) => setTimeout(r, 1100));
    server = await startInProcess({ REDIS_URL: redis.url, QUEUE_ID: 'witness', WINDOW_SIZE: '5', WINDOW_INTERVAL: '3600', STATE_REFRESH_MS: '100', STATE_MAX_STALENESS_MS: '600' });
    const addr = (await server.listen(0, '127.0.0.1')) as AddressInfo;
    base = `http://127.0.0.1:${addr.port}`;
    // Its first read may have raced the connection; one confirmed read after ticket 8 was issued.
    await server.cache.refresh();
    const epoch = server.cache.peek()!.epoch;
    // Ticket 2 is within the counter: an ordinary answer.
    expect((await status(tickets[1]!.token)).status).toBe(200);
    // Ticket 8 is above the counter this replica confirmed after it was issued.
    const r = await status(last.token);
    expect(r.status).toBe(503);
    expect(await errorCode(r)).toBe('state_corrupt');
    // The read it triggered carried ticket 8 as seen: a new epoch.
    await waitFor(() => server.cache.peek()!.epoch !== epoch, { what: 'a new epoch' });
    for (const t of tickets) expect((await status(t.token)).status).toBe(409);
    expect((await joinOk()).ticket).toBe(1);
  });
});
