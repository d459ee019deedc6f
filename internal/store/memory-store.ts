import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { UnavailableError } from '../errors/errors';
import {
  NOTHING_SEEN,
  type AdvanceResult,
  type EnsuredQueue,
  type HighWater,
  type IssuedTickets,
  type QueueSettings,
  type QueueSnapshot,
  type RollbackReason,
} from '../queue/queue-state';
import { checkState, MAX_EXACT, rollbackReason } from '../queue/state-check';
import type { QueueStore, StoreIntegrityHooks, Subscription } from './store';

export interface MemoryStoreOptions extends StoreIntegrityHooks {
  readonly queueId: string;
  readonly logger: Logger;
  /**
   * The store's clock in epoch milliseconds (plays the part of Redis TIME).
   * Default: wall-clock time at process start plus a monotonic offset, so a
   * wall-clock step (NTP, suspend) can neither fire a burst of advances nor stall
   * the ticker, while values still look like Redis's epoch milliseconds.
   */
  readonly now?: () => number;
}

/** The queue state hash of the Redis store, as one record. */
interface QueueState {
  epoch: string;
  windowEnd: number;
  nextDueMs: number;
  windowSize: number;
  intervalMs: number;
  activeWindowCount: number;
  version: number;
  counter: number;
}

interface Lease {
  readonly owner: string;
  expiresAtMs: number;
}

function monotonicEpochClock(): () => number {
  const origin = Date.now() - performance.now();
  // Whole milliseconds, like the Lua scripts' TIME-based clock.
  return () => Math.floor(origin + performance.now());
}

/**
 * The embedded single-process store: the same QueueStore contract as
 * RedisQueueStore (test/store/store-contract.test.ts runs one suite against
 * both), kept in this process's memory. It lets `npm start` run with nothing
 * installed; it cannot be shared, so it is for one replica only and its queue
 * is lost when the process ends (the next start creates a new epoch, exactly as
 * a Redis that lost its data would).
 *
 * Each method mirrors one Lua script step for step. Node runs them to
 * completion without yielding, which gives the atomicity Redis gives a script.
 * Pub/sub is delivered on a later turn (setImmediate), as a message from
 * Redis's subscriber connection would be, never inside the caller's stack.
 */
export class MemoryQueueStore implements QueueStore {
  readonly queueId: string;
  private state: QueueState | undefined;
  private lease: Lease | undefined;
  private readonly listeners = new Set<(s: QueueSnapshot) => void>();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly hooks: StoreIntegrityHooks;
  private closed = false;

  constructor(opts: MemoryStoreOptions) {
    this.queueId = opts.queueId;
    this.log = opts.logger;
    this.hooks = opts;
    this.now = opts.now ?? monotonicEpochClock();
  }

  /** The store's clock (what Redis's TIME is to the Redis store), for companion stores. */
  clock(): number {
    return this.now();
  }

  /** Nothing to connect to; present so the server can treat both stores alike. */
  async connect(): Promise<void> {
    this.assertOpen();
  }

  /** After close() every call fails like a closed Redis client: a typed 503. */
  private assertOpen(): void {
    if (this.closed) throw new UnavailableError('store_unavailable', 'the embedded queue store is closed', 1);
  }

  private snapshot(s: QueueState, nowMs: number): QueueSnapshot {
    return {
      epoch: s.epoch,
      windowEnd: s.windowEnd,
      nextDueMs: s.nextDueMs,
      windowSize: s.windowSize,
      intervalMs: s.intervalMs,
      activeWindowCount: s.activeWindowCount,
      version: s.version,
      counter: s.counter,
      storeNowMs: nowMs,
    };
  }

  /**
   * The scripts' field validation: a state that fails it answers 503 state_corrupt and is
   * never computed with (in memory only a bug could damage it, but the rule is the same).
   */
  private checked(s: QueueState): QueueState {
    const c = checkState(s as unknown as Record<string, unknown>);
    if (c.ok) return s;
    return this.corrupt(`queue state field ${c.field} is "${String(c.value)}"`);
  }

  private corrupt(detail: string): never {
    this.log.error({ queue: this.queueId, detail }, 'embedded queue state is damaged; refusing to guess');
    this.hooks.onCorrupt?.(detail);
    throw new UnavailableError('state_corrupt', `the queue state is damaged (${detail})`, 5);
  }

  /** The state as ensure-queue.lua sets it up: a new epoch, W = S, counter 0. */
  private create(settings: QueueSettings, nowMs: number, version: number): QueueState {
    this.state = {
      epoch: randomUUID(),
      // W starts at S: the first batch is admitted at once; the second after one interval.
      windowEnd: settings.windowSize,
      nextDueMs: nowMs + settings.intervalMs,
      windowSize: settings.windowSize,
      intervalMs: settings.intervalMs,
      activeWindowCount: settings.activeWindowCount,
      version,
      counter: 0,
    };
    return this.state;
  }

  /** ensure-queue.lua: create if missing, re-create (new epoch) if behind `seen`. */
  private ensure(settings: QueueSettings, nowMs: number, seen: HighWater): { state: QueueState; created: boolean; rollback?: RollbackReason } {
    if (!this.state) {
      const state = this.create(settings, nowMs, seen.version + 1);
      this.log.warn({ queue: this.queueId, epoch: state.epoch }, 'queue state created (new epoch)');
      return { state, created: true };
    }
    const s = this.checked(this.state);
    const rollback = rollbackReason(s, seen);
    if (!rollback) return { state: s, created: false };
    const state = this.create(settings, nowMs, Math.max(s.version, seen.version) + 1);
    this.log.error({ queue: this.queueId, reason: rollback, epoch: state.epoch }, 'the queue state went backwards; started a new epoch');
    this.hooks.onRollback?.(rollback);
    return { state, created: true, rollback };
  }

  async ensureQueue(settings: QueueSettings, seen: HighWater = NOTHING_SEEN): Promise<EnsuredQueue> {
    this.assertOpen();
    const now = this.now();
    const { state, created, rollback } = this.ensure(settings, now, seen);
    return { ...this.snapshot(state, now), created, ...(rollback ? { rollback } : {}) };
  }

  /** join.lua, after ensure-queue.lua when the state is missing or behind (as RedisQueueStore does). */
  async issueTickets(count: number, settings: QueueSettings, seen: HighWater = NOTHING_SEEN): Promise<IssuedTickets> {
    this.assertOpen();
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`ticket count must be a positive integer, got ${count}`);
    const now = this.now();
    const { state } = this.ensure(settings, now, seen);
    if (state.counter > MAX_EXACT - count) this.corrupt(`ticket counter is "${state.counter}" (no room for ${count} more)`);
    state.counter += count;
    return { first: state.counter - count + 1, count, snapshot: this.snapshot(state, now) };
  }

  /** advance-window.lua: lease fence, due check, skip while nobody waits, no catch-up. */
  async advance(owner: string, settings: QueueSettings, seen: HighWater = NOTHING_SEEN): Promise<AdvanceResult> {
    this.assertOpen();
    const now = this.now();
    if (this.holder(now) !== owner) return { outcome: 'not_leader', lagMs: 0 };
    if (!this.state) return { outcome: 'missing', lagMs: 0 };
    const s = this.checked(this.state);
    const rollback = rollbackReason(s, seen);
    if (rollback) return { outcome: 'rolled_back', lagMs: 0, rollback };
    if (now < s.nextDueMs) return { outcome: 'not_due', snapshot: this.snapshot(s, now), lagMs: 0 };
    const lagMs = now - s.nextDueMs;
    // Nobody waits: nextDue stays, so the first ticket over W is admitted at the next check.
    if (s.counter <= s.windowEnd) return { outcome: 'skipped', snapshot: this.snapshot(s, now), lagMs };
    s.windowEnd += settings.windowSize;
    s.nextDueMs = now + settings.intervalMs;
    // The leader's settings become the queue's, as in the Lua script.
    s.windowSize = settings.windowSize;
    s.intervalMs = settings.intervalMs;
    s.activeWindowCount = settings.activeWindowCount;
    s.version += 1;
    const snap = this.snapshot(s, now);
    this.publish(snap);
    return { outcome: 'advanced', snapshot: snap, lagMs };
  }

  private publish(snap: QueueSnapshot): void {
    for (const l of this.listeners) {
      setImmediate(() => {
        if (this.closed || !this.listeners.has(l)) return;
        try {
          l(snap);
        } catch (err) {
          this.log.error({ err }, 'queue event listener failed');
        }
      });
    }
  }

  /** The lease holder by the store clock: an expired lease is no lease (Redis PX expiry). */
  private holder(nowMs: number): string | null {
    if (this.lease && nowMs >= this.lease.expiresAtMs) this.lease = undefined;
    return this.lease?.owner ?? null;
  }

  async acquireLease(owner: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    const now = this.now();
    if (this.holder(now) !== null) return false;
    this.lease = { owner, expiresAtMs: now + ttlMs };
    return true;
  }

  async renewLease(owner: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    const now = this.now();
    if (this.holder(now) !== owner || !this.lease) return false;
    this.lease.expiresAtMs = now + ttlMs;
    return true;
  }

  async releaseLease(owner: string): Promise<boolean> {
    this.assertOpen();
    if (this.holder(this.now()) !== owner) return false;
    this.lease = undefined;
    return true;
  }

  async leaseHolder(): Promise<string | null> {
    this.assertOpen();
    return this.holder(this.now());
  }

  async subscribe(onSnapshot: (s: QueueSnapshot) => void): Promise<Subscription> {
    this.assertOpen();
    // Wrapped so that subscribing the same function twice gives two deliveries, as two Redis subscriptions would.
    const listener = (s: QueueSnapshot) => onSnapshot(s);
    this.listeners.add(listener);
    return {
      close: async () => {
        this.listeners.delete(listener);
      },
    };
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  isReady(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }
}
