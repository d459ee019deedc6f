import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { UnavailableError } from '../errors/errors';
import type { AdvanceResult, IssuedTickets, QueueSettings, QueueSnapshot } from '../queue/queue-state';
import type { QueueStore, Subscription } from './store';

export interface MemoryStoreOptions {
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
  readonly epoch: string;
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
  private closed = false;

  constructor(opts: MemoryStoreOptions) {
    this.queueId = opts.queueId;
    this.log = opts.logger;
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

  /** ensure-queue.lua: create with a new epoch and W = S if missing. */
  private ensure(settings: QueueSettings, nowMs: number): { state: QueueState; created: boolean } {
    if (this.state) return { state: this.state, created: false };
    this.state = {
      epoch: randomUUID(),
      // W starts at S: the first batch is admitted at once; the second after one interval.
      windowEnd: settings.windowSize,
      nextDueMs: nowMs + settings.intervalMs,
      windowSize: settings.windowSize,
      intervalMs: settings.intervalMs,
      activeWindowCount: settings.activeWindowCount,
      version: 1,
      counter: 0,
    };
    this.log.warn({ queue: this.queueId, epoch: this.state.epoch }, 'queue state created (new epoch)');
    return { state: this.state, created: true };
  }

  async ensureQueue(settings: QueueSettings): Promise<QueueSnapshot & { readonly created: boolean }> {
    this.assertOpen();
    const now = this.now();
    const { state, created } = this.ensure(settings, now);
    return { ...this.snapshot(state, now), created };
  }

  /** join.lua, after ensure-queue.lua when the state is missing (as RedisQueueStore does). */
  async issueTickets(count: number, settings: QueueSettings): Promise<IssuedTickets> {
    this.assertOpen();
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`ticket count must be a positive integer, got ${count}`);
    const now = this.now();
    const { state } = this.ensure(settings, now);
    state.counter += count;
    return { first: state.counter - count + 1, count, snapshot: this.snapshot(state, now) };
  }

  /** advance-window.lua: lease fence, due check, skip while nobody waits, no catch-up. */
  async advance(owner: string, settings: QueueSettings): Promise<AdvanceResult> {
    this.assertOpen();
    const now = this.now();
    if (this.holder(now) !== owner) return { outcome: 'not_leader', lagMs: 0 };
    const s = this.state;
    if (!s) return { outcome: 'missing', lagMs: 0 };
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
