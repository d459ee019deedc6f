import pino from 'pino';
import type { QueueSettings } from '../../internal/queue/queue-state';
import type { QueueStateCache } from '../../internal/queue/state-cache';
import { PresenceSweeper } from '../../internal/queues/presence-sweeper';
import { MemoryQueueCell, MemoryQueueStore } from '../../internal/store/memory-store';
import { RedisQueueStore } from '../../internal/store/redis-store';
import type { QueueStore } from '../../internal/store/store';
import { TestRedis } from '../helpers/redis-server';

/**
 * Replica-side stale marking (docs/system.md, "Visitors who went quiet"): two replicas' presence
 * sweepers on one store, with a clock the test moves. A visitor quiet on replica A but heard on
 * replica B within the grace is not marked; one nobody heard from for the grace is, in one batch.
 */
const logger = pino({ level: 'silent' });
const S: QueueSettings = { windowSize: 3, intervalMs: 60_000, activeWindowCount: 1, mode: 'open', opensAtMs: 0 };
const GRACE = 300_000;

let redis: TestRedis;
beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(() => redis?.close());

describe.each([
  ['redis', async (id: string): Promise<[QueueStore, QueueStore, () => Promise<void>]> => {
    const a = new RedisQueueStore({ url: redis.url, queueId: id, logger });
    const b = new RedisQueueStore({ url: redis.url, queueId: id, logger });
    await a.connect();
    await b.connect();
    return [a, b, async () => void (await Promise.all([a.close(), b.close()]))];
  }],
  ['memory', async (id: string): Promise<[QueueStore, QueueStore, () => Promise<void>]> => {
    const cell = new MemoryQueueCell();
    const a = new MemoryQueueStore({ queueId: id, logger, cell });
    return [a, new MemoryQueueStore({ queueId: id, logger, cell }), async () => a.close()];
  }],
] as const)('presence sweeps: %s', (name, open) => {
  test('quiet on one replica but heard on another: kept; quiet everywhere for the grace: marked', async () => {
    const [storeA, storeB, close] = await open(`presence-${name}`);
    const snap = await storeA.ensureQueue(S);
    await storeA.issueTickets(20, S);
    const cache = { peek: () => snap } as unknown as QueueStateCache;
    let now = 10_000_000;
    const marked: number[] = [];
    const sweeper = (store: QueueStore, open: () => number[]) =>
      new PresenceSweeper({
        store,
        cache,
        openTickets: open,
        graceMs: () => GRACE,
        goneLifetimeMs: () => 3_600_000,
        onMarked: (n) => marked.push(n),
        logger,
        now: () => now,
      });
    let streamOnB: number[] = [];
    const a = sweeper(storeA, () => []);
    const b = sweeper(storeB, () => streamOnB);
    a.start();
    b.start();
    // Replica A serves tickets 10, 11, 12 (polls); then 10 moves to a stream on B.
    for (const t of [10, 11, 12]) a.note(snap.epoch, t);
    await a.sweep();
    now += 60_000;
    streamOnB = [10];
    await b.sweep();
    // 12 keeps polling A.
    now += 200_000;
    a.note(snap.epoch, 12);
    await b.sweep();
    now += 45_000; // 305 s after A last heard from 10 and 11
    await a.sweep();
    // The seen bitmaps checked reach back to the period holding "now − grace", which still holds
    // A's own record of 11: marking comes between the grace and 1.25 × the grace (one period).
    expect(await storeA.readGone(snap.epoch, 1, 20)).toEqual([]);
    a.note(snap.epoch, 13);
    now += 75_000; // 380 s
    await a.sweep();
    expect(await storeA.readGone(snap.epoch, 1, 20)).toEqual([11]);
    expect(marked).toEqual([1]);
    a.close();
    b.close();
    await close();
  });
});
