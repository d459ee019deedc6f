import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { UnavailableError } from '../../internal/errors/errors';
import { NOTHING_SEEN, type AdvanceResult, type HighWater, type QueueSettings, type QueueSnapshot } from '../../internal/queue/queue-state';
import { MemoryQueueStore } from '../../internal/store/memory-store';
import { RedisQueueStore } from '../../internal/store/redis-store';
import type { QueueStore } from '../../internal/store/store';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';

/**
 * One contract, two stores: every behaviour the server relies on (counter,
 * epoch creation, W = S at creation, advance rules with lease fencing, skip,
 * no catch-up, not_due, the store's clock, lease TTL expiry, pub/sub) must be
 * identical for RedisQueueStore (against a private redis-server) and the
 * embedded MemoryQueueStore. Each test uses its own queue id, so the Redis
 * kit never flushes anything.
 */
interface StoreKit {
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A connected store for `queueId`; the kit closes it after the test. */
  open(queueId: string): Promise<QueueStore>;
  /** A second, independent handle on the same queue (another replica), where the store can be shared. */
  readonly shared: boolean;
}

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

function redisKit(): StoreKit {
  let redis: TestRedis | undefined;
  return {
    shared: true,
    async setup() {
      redis = await TestRedis.start();
    },
    async teardown() {
      await redis?.close();
    },
    async open(queueId) {
      const s = new RedisQueueStore({ url: redis!.url, queueId, logger });
      await s.connect();
      return s;
    },
  };
}

function memoryKit(): StoreKit {
  return {
    shared: false,
    async setup() {},
    async teardown() {},
    async open(queueId) {
      const s = new MemoryQueueStore({ queueId, logger });
      await s.connect();
      return s;
    },
  };
}

// 50 ms windows keep the suite fast; every wait below polls with a deadline.
const I = 50;
const SETTINGS: QueueSettings = Object.freeze({ windowSize: 3, intervalMs: I, activeWindowCount: 2, mode: 'open', opensAtMs: 0 });
// Where a test asserts "not due yet" a few calls after a change, a longer interval keeps
// a busy CI machine from turning the slot due in between.
const SLOW: QueueSettings = Object.freeze({ windowSize: 3, intervalMs: 400, activeWindowCount: 2, mode: 'open', opensAtMs: 0 });

const kits: Array<[string, () => StoreKit]> = [
  ['redis', redisKit],
  ['memory', memoryKit],
];

describe.each(kits)('QueueStore contract: %s', (_name, makeKit) => {
  const kit = makeKit();
  const opened: QueueStore[] = [];

  beforeAll(() => kit.setup());
  afterAll(() => kit.teardown());
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });

  const newQueueId = () => `q-${randomBytes(6).toString('hex')}`;
  async function open(queueId = newQueueId()): Promise<QueueStore> {
    const s = await kit.open(queueId);
    opened.push(s);
    return s;
  }

  /** Polls advance() until the slot is due, i.e. until it answers anything but not_due. */
  async function advanceWhenDue(store: QueueStore, owner: string, settings = SETTINGS): Promise<AdvanceResult> {
    return waitFor(
      async () => {
        const r = await store.advance(owner);
        return r.outcome === 'not_due' ? undefined : r;
      },
      { timeoutMs: 5000, intervalMs: 5, what: 'the next slot to fall due' },
    );
  }

  describe('queue creation', () => {
    it('creates the queue once with a new epoch, W = S, version 1, counter 0 and nextDue = now + I', async () => {
      const store = await open();
      const a = await store.ensureQueue(SETTINGS);
      expect(a.created).toBe(true);
      expect(a.epoch).toMatch(/\S{8,}/);
      expect(a).toMatchObject({ windowEnd: 3, windowSize: 3, intervalMs: I, activeWindowCount: 2, version: 1, counter: 0 });
      expect(a.nextDueMs).toBe(a.storeNowMs + I);

      const b = await store.ensureQueue({ windowSize: 99, intervalMs: 9999, activeWindowCount: 9, mode: 'open', opensAtMs: 0 });
      expect(b.created).toBe(false);
      // Settings passed to a later ensureQueue do not change an existing queue.
      expect(b).toMatchObject({ epoch: a.epoch, windowEnd: 3, windowSize: 3, intervalMs: I, activeWindowCount: 2, version: 1, counter: 0 });
    });

    it('gives every newly created queue its own epoch', async () => {
      const epochs = new Set<string>();
      for (let i = 0; i < 5; i++) epochs.add((await (await open()).ensureQueue(SETTINGS)).epoch);
      expect(epochs.size).toBe(5);
    });

    it('reports the store clock in epoch milliseconds, never going backwards', async () => {
      const store = await open();
      let last = 0;
      for (let i = 0; i < 20; i++) {
        const s = await store.ensureQueue(SETTINGS);
        expect(s.storeNowMs).toBeGreaterThanOrEqual(last);
        last = s.storeNowMs;
      }
      // Same machine: the store clock and the local wall clock agree closely (tolerant bound).
      expect(Math.abs(last - Date.now())).toBeLessThan(2000);
    });
  });

  describe('ticket counter', () => {
    it('creates the queue on the first join and issues consecutive tickets per batch', async () => {
      const store = await open();
      const a = await store.issueTickets(3, SETTINGS);
      expect(a).toMatchObject({ first: 1, count: 3 });
      expect(a.snapshot).toMatchObject({ counter: 3, windowEnd: 3, version: 1 });
      const b = await store.issueTickets(2, SETTINGS);
      expect(b).toMatchObject({ first: 4, count: 2 });
      expect(b.snapshot.counter).toBe(5);
      expect(b.snapshot.epoch).toBe(a.snapshot.epoch);
      expect((await store.ensureQueue(SETTINGS)).counter).toBe(5);
    });

    it('never issues a ticket twice under concurrent batches, and leaves no gaps', async () => {
      const store = await open();
      const other = kit.shared ? await open(store.queueId) : store;
      const counts = Array.from({ length: 60 }, (_, i) => 1 + (i % 7));
      const batches = await Promise.all(counts.map((n, i) => (i % 2 ? other : store).issueTickets(n, SETTINGS)));
      const tickets = batches.flatMap((b) => Array.from({ length: b.count }, (_, k) => b.first + k)).sort((x, y) => x - y);
      const total = counts.reduce((x, y) => x + y, 0);
      expect(tickets).toEqual(Array.from({ length: total }, (_, k) => k + 1));
      for (const b of batches) expect(b.snapshot.counter).toBeGreaterThanOrEqual(b.first + b.count - 1);
    });
  });

  describe('leader lease', () => {
    it('is exclusive, renewable and releasable only by its owner', async () => {
      const store = await open();
      expect(await store.leaseHolder()).toBeNull();
      expect(await store.acquireLease('a', 5000)).toBe(true);
      expect(await store.acquireLease('b', 5000)).toBe(false);
      expect(await store.acquireLease('a', 5000)).toBe(false);
      expect(await store.leaseHolder()).toBe('a');
      expect(await store.renewLease('b', 5000)).toBe(false);
      expect(await store.renewLease('a', 5000)).toBe(true);
      expect(await store.releaseLease('b')).toBe(false);
      expect(await store.leaseHolder()).toBe('a');
      expect(await store.releaseLease('a')).toBe(true);
      expect(await store.releaseLease('a')).toBe(false);
      expect(await store.leaseHolder()).toBeNull();
      expect(await store.acquireLease('b', 5000)).toBe(true);
      expect(await store.leaseHolder()).toBe('b');
    });

    it('expires by its TTL unless renewed; the former owner can then neither renew nor advance', async () => {
      const store = await open();
      await store.issueTickets(10, SETTINGS);
      expect(await store.acquireLease('a', 150)).toBe(true);
      // A renewal pushes expiry out: still held right after the original TTL would have ended.
      expect(await store.renewLease('a', 1000)).toBe(true);
      expect(await store.leaseHolder()).toBe('a');
      expect(await store.renewLease('a', 100)).toBe(true);
      await waitFor(async () => (await store.leaseHolder()) === null, { timeoutMs: 3000, what: 'lease to expire' });
      expect(await store.renewLease('a', 1000)).toBe(false);
      expect(await store.releaseLease('a')).toBe(false);
      expect((await store.advance('a')).outcome).toBe('not_leader');
      expect(await store.acquireLease('b', 1000)).toBe(true);
    });
  });

  describe('window advance', () => {
    it('refuses a caller without the lease and changes nothing', async () => {
      const store = await open();
      const before = await store.issueTickets(10, SETTINGS);
      expect(await store.advance('nobody')).toEqual({ outcome: 'not_leader', lagMs: 0 });
      await store.acquireLease('a', 5000);
      expect((await store.advance('b')).outcome).toBe('not_leader');
      const after = await store.ensureQueue(SETTINGS);
      expect(after).toMatchObject({ windowEnd: before.snapshot.windowEnd, version: before.snapshot.version });
    });

    it('reports a missing queue instead of creating it', async () => {
      const store = await open();
      await store.acquireLease('a', 5000);
      expect(await store.advance('a')).toEqual({ outcome: 'missing', lagMs: 0 });
      expect((await store.ensureQueue(SETTINGS)).created).toBe(true);
    });

    it('is not due before nextDue, skips while nobody waits, and advances by S once somebody does', async () => {
      const store = await open();
      const created = await store.ensureQueue(SLOW);
      await store.acquireLease('a', 5000);

      const early = await store.advance('a');
      expect(early.outcome).toBe('not_due');
      expect(early.snapshot).toMatchObject({ windowEnd: 3, nextDueMs: created.nextDueMs, version: 1 });
      expect(early.lagMs).toBe(0);

      // Due, but counter (0) <= W (3): skipped, and nextDue stays where it was so the
      // first ticket over W is admitted at the next check, not a full interval later.
      const skip = await advanceWhenDue(store, 'a', SLOW);
      expect(skip.outcome).toBe('skipped');
      expect(skip.snapshot).toMatchObject({ windowEnd: 3, nextDueMs: created.nextDueMs, version: 1 });
      expect(skip.lagMs).toBe(skip.snapshot!.storeNowMs - created.nextDueMs);
      await store.issueTickets(3, SLOW);
      expect((await store.advance('a')).outcome).toBe('skipped');

      await store.issueTickets(1, SLOW); // ticket 4 > W = 3: somebody waits
      const adv = await store.advance('a');
      expect(adv.outcome).toBe('advanced');
      const s = adv.snapshot!;
      expect(s).toMatchObject({ epoch: created.epoch, windowEnd: 6, version: 2, counter: 4 });
      expect(s.nextDueMs).toBe(s.storeNowMs + SLOW.intervalMs);
      expect(adv.lagMs).toBeGreaterThanOrEqual(0);

      // The same slot never advances twice: the next call is not due.
      const again = await store.advance('a');
      expect(again.outcome).toBe('not_due');
      expect(again.snapshot).toMatchObject({ windowEnd: 6, version: 2, nextDueMs: s.nextDueMs });
    });

    it('does not catch up after a long gap: one late advance, the next one a full interval later', async () => {
      const store = await open();
      await store.issueTickets(30, SETTINGS);
      await store.acquireLease('a', 5000);
      const first = await advanceWhenDue(store, 'a');
      expect(first.outcome).toBe('advanced');
      // Let about five slots pass with plenty of tickets waiting.
      const gapUntil = first.snapshot!.nextDueMs + 4 * I;
      await waitFor(async () => (await store.ensureQueue(SETTINGS)).storeNowMs >= gapUntil, { timeoutMs: 5000, what: 'five intervals to pass' });
      const late = await store.advance('a');
      expect(late.outcome).toBe('advanced');
      expect(late.snapshot!.windowEnd).toBe(first.snapshot!.windowEnd + 3);
      expect(late.lagMs).toBeGreaterThanOrEqual(4 * I);
      expect(late.snapshot!.nextDueMs).toBe(late.snapshot!.storeNowMs + I);
      expect((await store.advance('a')).outcome).toBe('not_due');
    });

    it('advances with the stored S, I, K, never the caller\'s', async () => {
      const store = await open();
      await store.issueTickets(50, SETTINGS);
      await store.acquireLease('a', 5000);
      const adv = await advanceWhenDue(store, 'a', SETTINGS);
      expect(adv.outcome).toBe('advanced');
      expect(adv.snapshot).toMatchObject({ windowEnd: 6, windowSize: 3, intervalMs: I, activeWindowCount: 2 });
      expect(adv.snapshot!.nextDueMs).toBe(adv.snapshot!.storeNowMs + I);
      expect(await store.ensureQueue({ ...SETTINGS, windowSize: 10 })).toMatchObject({ windowEnd: 6, windowSize: 3, intervalMs: I, activeWindowCount: 2 });
    });
  });

  describe('a store that went backwards (the caller saw more than it holds)', () => {
    const seenOf = (s: QueueSnapshot, over: Partial<HighWater> = {}): HighWater => ({
      epoch: s.epoch,
      counter: s.counter,
      windowEnd: s.windowEnd,
      version: s.version,
      retired: [],
      ...over,
    });

    it('accepts exactly what was seen, and a caller that saw nothing', async () => {
      const store = await open();
      const a = await store.issueTickets(4, SETTINGS);
      const again = await store.ensureQueue(SETTINGS, seenOf(a.snapshot));
      expect(again).toMatchObject({ created: false, epoch: a.snapshot.epoch, counter: 4 });
      expect(again.rollback).toBeUndefined();
      expect(await store.issueTickets(1, SETTINGS, seenOf(a.snapshot))).toMatchObject({ first: 5 });
      expect(await store.issueTickets(1, SETTINGS, NOTHING_SEEN)).toMatchObject({ first: 6 });
    });

    it.each<[string, (s: QueueSnapshot) => Partial<HighWater>, string]>([
      ['a counter seen above the stored one', (s) => ({ counter: s.counter + 1 }), 'counter_below_seen'],
      ['a W seen above the stored one', (s) => ({ windowEnd: s.windowEnd + 1 }), 'window_below_seen'],
      ['a version seen above the stored one', (s) => ({ version: s.version + 1 }), 'version_below_seen'],
      ['the stored epoch seen replaced', (s) => ({ epoch: 'another', retired: [s.epoch] }), 'retired_epoch'],
    ])('ensureQueue starts a new epoch for %s, with a version above both', async (_name, over, reason) => {
      const store = await open();
      const a = await store.issueTickets(7, SETTINGS);
      const seen = seenOf(a.snapshot, over(a.snapshot));
      const r = await store.ensureQueue(SETTINGS, seen);
      expect(r).toMatchObject({ created: true, rollback: reason, counter: 0, windowEnd: SETTINGS.windowSize });
      expect(r.epoch).not.toBe(a.snapshot.epoch);
      expect(r.version).toBe(Math.max(a.snapshot.version, seen.version) + 1);
      // The old epoch is gone for good: the next caller sees the new one.
      expect((await store.ensureQueue(SETTINGS)).epoch).toBe(r.epoch);
    });

    it('a join never issues a number below what was seen: it starts a new epoch at 1', async () => {
      const store = await open();
      const a = await store.issueTickets(5, SETTINGS);
      // Another replica saw ticket 12 of this epoch (e.g. before a crash lost 7 joins).
      const b = await store.issueTickets(2, SETTINGS, seenOf(a.snapshot, { counter: 12 }));
      expect(b.first).toBe(1);
      expect(b.snapshot.epoch).not.toBe(a.snapshot.epoch);
      expect(b.snapshot.counter).toBe(2);
      expect(b.snapshot.version).toBeGreaterThan(a.snapshot.version);
    });

    it('an advance refuses a state behind what was seen, and changes nothing', async () => {
      const store = await open();
      const a = await store.issueTickets(20, SETTINGS);
      await store.acquireLease('a', 5000);
      const r = await store.advance('a', seenOf(a.snapshot, { counter: 25 }));
      expect(r).toEqual({ outcome: 'rolled_back', lagMs: 0, rollback: 'counter_below_seen' });
      expect(await store.ensureQueue(SETTINGS)).toMatchObject({ epoch: a.snapshot.epoch, windowEnd: a.snapshot.windowEnd, version: a.snapshot.version });
      // With an accurate mark it advances as usual.
      expect((await advanceWhenDue(store, 'a', SETTINGS)).outcome).toBe('advanced');
    });

    it('a state created after data loss takes a version above what the caller saw', async () => {
      const store = await open();
      const r = await store.ensureQueue(SETTINGS, { epoch: 'lost', counter: 900, windowEnd: 800, version: 41, retired: [] });
      expect(r).toMatchObject({ created: true, version: 42, counter: 0 });
      expect(r.rollback).toBeUndefined();
    });
  });

  describe('pub/sub', () => {
    it('delivers every advance as a snapshot, and nothing after the subscription closes', async () => {
      const store = await open();
      const received: QueueSnapshot[] = [];
      const closedOnes: QueueSnapshot[] = [];
      await store.issueTickets(20, SETTINGS);
      // Subscribed after the joins: the first waiting join publishes a wake-up (tested below).
      const sub = await store.subscribe((s) => received.push(s));
      const early = await store.subscribe((s) => closedOnes.push(s));
      await store.acquireLease('a', 5000);

      const first = await advanceWhenDue(store, 'a');
      expect(first.outcome).toBe('advanced');
      await waitFor(() => received.length === 1 && closedOnes.length === 1, { timeoutMs: 3000, what: 'first event' });
      expect(received[0]).toEqual(first.snapshot);
      await early.close();

      const second = await advanceWhenDue(store, 'a');
      expect(second.outcome).toBe('advanced');
      await waitFor(() => received.length === 2, { timeoutMs: 3000, what: 'second event' });
      expect(received[1]).toEqual(second.snapshot);
      expect(closedOnes).toHaveLength(1);
      await sub.close();
      await sub.close(); // idempotent
    });

    it('publishes nothing for a skipped slot', async () => {
      const store = await open();
      const received: QueueSnapshot[] = [];
      await store.subscribe((s) => received.push(s));
      await store.ensureQueue(SETTINGS);
      await store.acquireLease('a', 5000);
      expect((await advanceWhenDue(store, 'a')).outcome).toBe('skipped');
      // A marker proves delivery works, so an empty list before it is meaningful: the first
      // join over W publishes the new counter once (it wakes the sleeping ticker), then the advance.
      const joined = await store.issueTickets(4, SETTINGS);
      await store.issueTickets(1, SETTINGS); // already waiting: no second wake-up
      const adv = await store.advance('a');
      expect(adv.outcome).toBe('advanced');
      await waitFor(() => received.length >= 2, { timeoutMs: 3000, what: 'wake-up and advance events' });
      expect(received).toHaveLength(2);
      expect(received[0]).toMatchObject({ version: joined.snapshot.version, counter: 4, windowEnd: 3 });
      expect(received[1]).toEqual(adv.snapshot);
    });
  });

  describe('lifecycle', () => {
    it('is ready while open; after close every call fails with a typed 503 and close is idempotent', async () => {
      const store = await kit.open(newQueueId());
      expect(store.isReady()).toBe(true);
      await expect(store.ping()).resolves.toBeUndefined();
      await store.close();
      await store.close();
      expect(store.isReady()).toBe(false);
      for (const call of [() => store.ping(), () => store.issueTickets(1, SETTINGS), () => store.ensureQueue(SETTINGS)]) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(UnavailableError);
        expect(err).toMatchObject({ code: 'store_unavailable', status: 503 });
      }
    });
  });
});
