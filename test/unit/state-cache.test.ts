import pino from 'pino';
import { UnavailableError } from '../../internal/errors/errors';
import type { QueueSettings, QueueSnapshot } from '../../internal/queue/queue-state';
import { QueueStateCache } from '../../internal/queue/state-cache';
import { MemoryQueueStore } from '../../internal/store/memory-store';

/**
 * Ordering of snapshots in a replica's cache, driven through apply() with a
 * controlled clock: which snapshots replace the copy, which ones confirm
 * freshness, and what the high-water mark becomes. The store behind it is the
 * real embedded store, used only by refresh().
 */
const logger = pino({ level: 'silent' });
const SETTINGS: QueueSettings = { windowSize: 10, intervalMs: 1000, activeWindowCount: 2, mode: 'open', opensAtMs: 0 };
const MAX_STALE = 5000;

function setup() {
  let now = 1_000_000;
  const store = new MemoryQueueStore({ queueId: 'q', logger });
  const cache = new QueueStateCache({ store, settings: () => SETTINGS, logger, refreshMs: 60_000, maxStalenessMs: MAX_STALE, now: () => now });
  return { cache, store, advance: (ms: number) => (now += ms) };
}

function snap(over: Partial<QueueSnapshot> = {}): QueueSnapshot {
  return { epoch: 'e1', windowEnd: 20, nextDueMs: 0, windowSize: 10, intervalMs: 1000, activeWindowCount: 2, version: 5, counter: 30, storeNowMs: 0, mode: 'open', opensAtMs: 0, ...over };
}

describe('QueueStateCache: snapshot ordering and freshness', () => {
  type Source = 'refresh' | 'pubsub' | 'join' | 'advance';
  // [case, second snapshot, its source, copy held afterwards (W, version, counter), confirms freshness]
  test.each<[string, Partial<QueueSnapshot>, Source, [number, number, number], boolean]>([
    ['newer version by pub/sub', { windowEnd: 30, version: 6 }, 'pubsub', [30, 6, 30], true],
    ['newer version with a lower counter keeps the higher counter', { windowEnd: 30, version: 6, counter: 25 }, 'refresh', [30, 6, 30], true],
    ['same version, higher counter (a join reply)', { counter: 40 }, 'join', [20, 5, 40], true],
    ['same version, same counter', {}, 'refresh', [20, 5, 30], true],
    ['same version, lower counter (an older join reply)', { counter: 29 }, 'join', [20, 5, 30], true],
    ['lower version by pub/sub (a late message)', { windowEnd: 10, version: 4 }, 'pubsub', [20, 5, 30], false],
    ['lower version by a read (a reply older than the copy)', { windowEnd: 10, version: 4 }, 'refresh', [20, 5, 30], false],
    ['lower version by an advance reply', { windowEnd: 10, version: 4 }, 'advance', [20, 5, 30], false],
    ['another epoch by pub/sub (never switches)', { epoch: 'e9', windowEnd: 10, version: 1, counter: 0 }, 'pubsub', [20, 5, 30], false],
    ['another epoch by a read switches', { epoch: 'e9', windowEnd: 10, version: 6, counter: 0 }, 'refresh', [10, 6, 0], true],
  ])('%s', (_name, over, source, [w, version, counter], confirms) => {
    const { cache, advance } = setup();
    cache.apply(snap(), 'refresh');
    advance(MAX_STALE - 1);
    cache.apply(snap(over), source);
    const held = cache.peek()!;
    expect([held.windowEnd, held.version, held.counter]).toEqual([w, version, counter]);
    // 2 ms later the state is fresh only if the second snapshot confirmed it.
    advance(2);
    expect(cache.isFresh()).toBe(confirms);
    if (!confirms) expect(() => cache.current()).toThrow(expect.objectContaining({ code: 'state_stale' }));
  });

  test('a replaced epoch never comes back, whatever the path', () => {
    const { cache } = setup();
    cache.apply(snap(), 'refresh');
    cache.apply(snap({ epoch: 'e2', version: 6, windowEnd: 10, counter: 0 }), 'refresh');
    expect(cache.wasReplaced('e1')).toBe(true);
    for (const source of ['refresh', 'join', 'advance', 'pubsub'] as const) {
      cache.apply(snap({ epoch: 'e1', version: 99 }), source);
      expect(cache.peek()!.epoch).toBe('e2');
    }
  });
});

describe('QueueStateCache: high-water mark', () => {
  test('is empty before any snapshot, then follows the copy, the witnessed tickets and the replaced epochs', () => {
    const { cache } = setup();
    expect(cache.highWater()).toEqual({ epoch: '', counter: 0, windowEnd: 0, version: 0, retired: [] });
    cache.apply(snap(), 'refresh');
    expect(cache.highWater()).toEqual({ epoch: 'e1', counter: 30, windowEnd: 20, version: 5, retired: [] });
    cache.witness(45);
    cache.witness(40);
    expect(cache.highWater().counter).toBe(45);
    // A later counter above the witness takes over.
    cache.apply(snap({ counter: 50 }), 'join');
    expect(cache.highWater().counter).toBe(50);
    // A new epoch forgets the old epoch's values and retires it.
    cache.witness(70);
    cache.apply(snap({ epoch: 'e2', windowEnd: 10, version: 6, counter: 2 }), 'join');
    expect(cache.highWater()).toEqual({ epoch: 'e2', counter: 2, windowEnd: 10, version: 6, retired: ['e1'] });
  });

  test('a refresh passes the mark to the store, which starts a new epoch when it is behind', async () => {
    const { cache, store } = setup();
    await cache.refresh();
    const first = cache.peek()!;
    await store.issueTickets(3, SETTINGS);
    await cache.refresh();
    expect(cache.peek()).toMatchObject({ epoch: first.epoch, counter: 3 });
    // A valid ticket 50 of this epoch proves the counter reached 50; the store says 3.
    cache.witness(50);
    await cache.refresh();
    const after = cache.peek()!;
    expect(after.epoch).not.toBe(first.epoch);
    expect(after).toMatchObject({ counter: 0, windowEnd: 10 });
    // The version never decreases across the new epoch.
    expect(after.version).toBeGreaterThan(first.version);
    expect(cache.wasReplaced(first.epoch)).toBe(true);
    await cache.close();
    await store.close();
  });
});

describe('QueueStateCache: a damaged state', () => {
  test('answers 503 state_corrupt (not state_stale) until a sound reply', () => {
    const { cache } = setup();
    cache.apply(snap(), 'refresh');
    const err = new UnavailableError('state_corrupt', 'the queue state is damaged (ticket counter is "nan")', 5);
    cache.noteStoreError(new UnavailableError('store_unavailable', 'unreachable', 1));
    expect(cache.isCorrupt()).toBe(false);
    cache.noteStoreError(err);
    expect(cache.isCorrupt()).toBe(true);
    expect(cache.isFresh()).toBe(false);
    expect(() => cache.current()).toThrow(err);
    // An older reply does not clear it; a confirming one does.
    cache.apply(snap({ version: 4 }), 'pubsub');
    expect(cache.isCorrupt()).toBe(true);
    cache.apply(snap(), 'refresh');
    expect(cache.isCorrupt()).toBe(false);
    expect(cache.current().version).toBe(5);
  });
});
