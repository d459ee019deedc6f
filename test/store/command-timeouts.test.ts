import pino from 'pino';
import { QueueSettings } from '../../internal/queue/queue-state';
import { RedisQueueStore } from '../../internal/store/redis-store';
import { TestRedis } from '../helpers/redis-server';

/**
 * The store's commands carry one timer each, the store's own (storeCall), not also
 * node-redis's per-command AbortSignal.timeout, which cost 12-13 µs of CPU per command
 * (internal/store/redis-connection.ts, storeViewOf). The store's timer still bounds a
 * command to a paused Redis.
 */
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const OPEN: QueueSettings = { windowSize: 5, intervalMs: 60_000, activeWindowCount: 2, mode: 'open', opensAtMs: 0 };

describe('store command timeouts (single node)', () => {
  let redis: TestRedis;
  let store: RedisQueueStore;
  const original = AbortSignal.timeout;
  let made = 0;

  beforeAll(async () => {
    redis = await TestRedis.start();
    store = new RedisQueueStore({ url: redis.url, queueId: 'timeouts', logger, commandTimeoutMs: 300 });
    await store.connect();
    AbortSignal.timeout = (ms: number) => {
      made++;
      return original.call(AbortSignal, ms);
    };
  });

  afterAll(async () => {
    AbortSignal.timeout = original;
    redis.resume();
    await store.close();
    await redis.close();
  });

  it('makes no AbortSignal per store command', async () => {
    made = 0;
    for (let i = 0; i < 50; i++) await store.issueTickets(1, OPEN);
    await store.leaseHolder();
    await store.acquireLease('me', 5000);
    await store.renewLease('me', 5000);
    expect(made).toBe(0);
  });

  it('still answers a paused Redis with a timeout error within the store timeout', async () => {
    redis.pause();
    try {
      const started = Date.now();
      await expect(store.issueTickets(1, OPEN)).rejects.toMatchObject({ status: 503 });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      redis.resume();
    }
    // And the connection works again once Redis does: the reply that was late is not taken for this one.
    const after = await store.issueTickets(1, OPEN);
    expect(after.count).toBe(1);
  });
});
