import pino from 'pino';
import { MemoryPassStore } from '../../internal/store/memory-pass-store';
import { MemoryQueueStore } from '../../internal/store/memory-store';
import { RedisPassStore, type PassStore } from '../../internal/store/pass-store';
import { RedisQueueStore } from '../../internal/store/redis-store';
import type { QueueStore } from '../../internal/store/store';
import { TestRedis } from './redis-server';

/**
 * One queue store and its pass store, on a private redis-server or embedded, for the
 * store contracts that run the same cases against both (occupancy, no-shows).
 */
export interface OpenedStores {
  readonly queue: QueueStore;
  readonly passes: PassStore;
  /** The store's clock (Redis TIME, or the embedded store's). */
  now(): Promise<number>;
  close(): Promise<void>;
}

export interface StoreKit {
  setup(): Promise<void>;
  teardown(): Promise<void>;
  open(queueId: string): Promise<OpenedStores>;
}

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export function redisKit(): StoreKit {
  let redis: TestRedis | undefined;
  return {
    setup: async () => {
      redis = await TestRedis.start();
    },
    teardown: async () => redis?.close(),
    async open(queueId) {
      const q = new RedisQueueStore({ url: redis!.url, queueId, logger });
      await q.connect();
      return {
        queue: q,
        passes: new RedisPassStore(q, logger),
        now: async () => {
          const [sec, usec] = (await q.redis.time()).map(Number) as [number, number];
          return sec * 1000 + Math.floor(usec / 1000);
        },
        close: () => q.close(),
      };
    },
  };
}

export function memoryKit(): StoreKit {
  return {
    setup: async () => undefined,
    teardown: async () => undefined,
    async open(queueId) {
      const q = new MemoryQueueStore({ queueId, logger });
      return { queue: q, passes: new MemoryPassStore(q), now: async () => q.clock(), close: () => q.close() };
    },
  };
}
