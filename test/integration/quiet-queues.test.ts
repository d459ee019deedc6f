import type { AddressInfo } from 'node:net';
import { startInProcess } from '../helpers/in-process';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import type { WaitroomServer } from '../../internal/server/waitroom-server';

/**
 * What a quiet queue costs its replica in timers (docs/benchmarks.md, "Many idle queues:
 * the replica's CPU"). This test counted 8.9 timers per queue before the change, among
 * them five kinds polling every 0.5-1.67 s with nothing to do (flow sampler, origin prober,
 * sharing detector, webhook dispatcher and its lease): about 5,600 timer callbacks a second
 * for 1,000 idle queues. Those now sleep until something can give them work. What is left per queue
 * is the ticker's lease, the ticker's backstop, the two spread re-reads (state and revoked
 * passes), the stream heartbeat and the presence sweep: six.
 *
 * One real replica in this process against a real Redis; the queues are made through the
 * admin API and each gets a visitor; the count is process.getActiveResourcesInfo()'s timers.
 */
const TOKEN = 'quiet-queues-admin-token-0123456789';
const QUEUES = 40;
const TIMERS_PER_QUEUE = 6;

let redis: TestRedis;
let server: WaitroomServer;
let base: string;

beforeAll(async () => {
  redis = await TestRedis.start();
  server = await startInProcess({
    REDIS_URL: redis.url,
    QUEUE_ID: 'main',
    WINDOW_SIZE: '5',
    WINDOW_INTERVAL: '60',
    ADMIN_TOKEN: TOKEN,
    // The default sharing detection and flow sampling stay on: they are what is measured.
  });
  const addr = (await server.listen(0, '127.0.0.1')) as AddressInfo;
  base = `http://127.0.0.1:${addr.port}`;
}, 30_000);

afterAll(async () => {
  await server?.shutdown();
  await redis?.close();
});

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** The timer count once it holds still for half a second (connections' own timers ending). */
async function settledTimers(): Promise<number> {
  let last = -1;
  let sameSince = Date.now();
  return waitFor(
    () => {
      const n = timers();
      if (n !== last) {
        last = n;
        sameSince = Date.now();
        return undefined;
      }
      return Date.now() - sameSince >= 500 ? n : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 50, what: 'the timer count to settle' },
  );
}

test(`${QUEUES} quiet queues keep at most ${TIMERS_PER_QUEUE} timers each`, async () => {
  const before = await settledTimers();
  for (let i = 0; i < QUEUES; i++) {
    const id = `quiet-${i}`;
    const made = await fetch(`${base}/admin/api/v1/queues`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', Connection: 'close' },
      body: JSON.stringify({ id, name: id, windowSize: 5, intervalSeconds: 60, activeWindowCount: 2 }),
    });
    expect(made.status).toBe(201);
    const joined = await fetch(`${base}/q/${id}/join`, { method: 'POST', headers: { Connection: 'close' } });
    expect(joined.status).toBe(201);
  }
  // Every queue is led by this replica (its only one) before counting.
  await waitFor(
    () => server.registry.list().every((r) => r.lease.isLeader()) || undefined,
    { timeoutMs: 10_000, what: 'this replica to lead every queue' },
  );
  const after = await settledTimers();
  const perQueue = (after - before) / QUEUES;
  expect(perQueue).toBeLessThanOrEqual(TIMERS_PER_QUEUE);
  // The queues still work: each answers its visitor.
  const r = await fetch(`${base}/q/quiet-${QUEUES - 1}/join`, { method: 'POST' });
  expect(r.status).toBe(201);
}, 60_000);
