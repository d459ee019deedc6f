import type { WaitroomServer } from '../../internal/server/waitroom-server';
import { queueKeys } from '../../internal/store/keys';
import { startInProcess } from '../helpers/in-process';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';

/**
 * waitroom_tick_lag_seconds against a real Redis: it must not report an idle
 * spell as lag (the first advance after 15 s of nobody waiting used to report
 * 15 s), it must report a real stall of the leader, and a replica that loses
 * the lease must drop to 0 (the alert takes the leader's value only).
 */

let redis: TestRedis;
let server: WaitroomServer | undefined;

beforeAll(async () => {
  redis = await TestRedis.start();
});
afterEach(async () => {
  await server?.shutdown();
  server = undefined;
});
afterAll(async () => {
  await redis?.close();
});

async function gauge(s: WaitroomServer, name: 'tickLag' | 'leader', queue: string): Promise<number | undefined> {
  return (await s.metrics[name].get()).values.find((v) => v.labels.queue === queue)?.value;
}

test('the first advance after an idle spell reports milliseconds, not the idle time', async () => {
  const queue = 'lag-idle';
  server = await startInProcess({ REDIS_URL: redis.url, QUEUE_ID: queue, WINDOW_SIZE: '2', WINDOW_INTERVAL: '0.1' });
  const s = server;
  await Promise.all(Array.from({ length: 6 }, () => s.service.join()));
  await waitFor(() => s.cache.peek()!.windowEnd >= 6, { timeoutMs: 10_000, what: 'the first tickets admitted' });
  // Idle: nobody waits, the due time stays put. Wait until it is 2 s in the past.
  const idleMs = 2000;
  await waitFor(() => s.cache.storeNow() - s.cache.peek()!.nextDueMs > idleMs, { timeoutMs: 10_000, intervalMs: 50, what: 'a 2 s idle spell' });
  const before = s.cache.peek()!.windowEnd;
  // Three tickets over W: the first advance after the spell admits two of them.
  await Promise.all(Array.from({ length: before - s.cache.peek()!.counter + 3 }, () => s.service.join()));
  await waitFor(() => s.cache.peek()!.windowEnd > before, { timeoutMs: 5000, what: 'the advance after the idle spell' });
  const lag = (await gauge(s, 'tickLag', queue))!;
  // The script's own lagMs for this advance exceeded 2 s; the ticker's measure is
  // the Redis round trip plus timer slack (well under 1 s even on a busy machine).
  expect(lag).toBeGreaterThanOrEqual(0);
  expect(lag).toBeLessThan(idleMs / 2 / 1000);
});

test('a stalled leader reports its stall, and the value drops to 0 when it loses the lease', async () => {
  const queue = 'lag-stall';
  server = await startInProcess({ REDIS_URL: redis.url, QUEUE_ID: queue, WINDOW_SIZE: '1', WINDOW_INTERVAL: '1' });
  const s = server;
  // Enough waiting tickets that every step advances for the whole test.
  await Promise.all(Array.from({ length: 40 }, () => s.service.join()));
  const w0 = s.cache.peek()!.windowEnd;
  await waitFor(() => s.cache.peek()!.windowEnd > w0, { timeoutMs: 5000, what: 'a first advance' });
  const w1 = s.cache.peek()!.windowEnd;
  await waitFor(() => s.cache.peek()!.windowEnd > w1, { timeoutMs: 5000, what: 'a second advance (the ticker has a plan)' });
  // Block this process's event loop for 2.5 s right after an advance, as a GC
  // pause or a CPU-starved pod would: the next advance, due 1 s after the last,
  // runs about 1.5 s late.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
  await waitFor(async () => ((await gauge(s, 'tickLag', queue)) ?? 0) >= 1, { timeoutMs: 3000, intervalMs: 20, what: 'the stall in the tick lag gauge' });

  // Another replica takes the lease (as after a network partition): this one stops leading.
  await redis.withClient((c) => c.set(queueKeys(queue).leader, 'another-replica', { PX: 60_000 }));
  await waitFor(async () => (await gauge(s, 'leader', queue)) === 0, { timeoutMs: 10_000, what: 'the lease loss' });
  expect(await gauge(s, 'tickLag', queue)).toBe(0);
});
