import type { Logger } from 'pino';
import { UnavailableError } from '../errors/errors';
import type { QueueStore } from '../store/store';
import { LiveSync } from '../sync/live-sync';
import type { QueueSettings, QueueSnapshot } from './queue-state';

export interface StateCacheOptions {
  readonly store: QueueStore;
  readonly settings: QueueSettings;
  readonly logger: Logger;
  /** Fallback refresh period; pub/sub normally delivers every change first. */
  readonly refreshMs: number;
  /** Beyond this age the cache refuses to answer (503 state_stale). */
  readonly maxStalenessMs: number;
  /** Local clock, injectable for tests. */
  readonly now?: () => number;
}

export type SnapshotListener = (s: QueueSnapshot, previous: QueueSnapshot | undefined) => void;

/**
 * Each replica's copy of its queue's shared state, so that GET /status makes
 * no Redis call. Kept fresh by pub/sub (every advance publishes) and, as a
 * fallback, by a periodic ensure-queue read (~1 s). Snapshots arriving by
 * either path are ordered by (epoch, version); the counter only grows.
 *
 * It also tracks the offset between the local clock and Redis's clock, since
 * the next due time is in Redis time: status ETAs do not depend on replicas'
 * clocks agreeing.
 */
export class QueueStateCache {
  private snap: QueueSnapshot | undefined;
  private confirmedAt = -Infinity;
  /** Epochs this replica saw replaced by a newer one (bounded): their tickets are certainly reset. */
  private readonly replaced: string[] = [];
  private offsetMs = 0;
  private readonly listeners = new Set<SnapshotListener>();
  private readonly now: () => number;
  private readonly sync: LiveSync;

  constructor(private readonly o: StateCacheOptions) {
    this.now = o.now ?? Date.now;
    this.sync = new LiveSync({
      subscribe: () => o.store.subscribe((s) => this.apply(s, 'pubsub')),
      read: () => this.read(),
      refreshMs: o.refreshMs,
      logger: o.logger,
      what: 'queue state',
    });
  }

  /** Subscribes and loads the state; failures are retried by the refresh loop, not thrown. */
  start(): Promise<void> {
    return this.sync.start();
  }

  /** One ensure-queue read now; concurrent calls share it. */
  refresh(): Promise<void> {
    return this.sync.refresh();
  }

  private async read(): Promise<void> {
    const before = this.now();
    const s = await this.o.store.ensureQueue(this.o.settings);
    const after = this.now();
    // Redis read its clock somewhere between before and after; assume the middle.
    this.offsetMs = s.storeNowMs - (before + after) / 2;
    this.apply(s, 'refresh');
  }

  /**
   * Accepts a snapshot from any path (refresh, pub/sub, a join or an advance)
   * if it is not older than what the cache holds. A new epoch always wins: it
   * means the queue was re-created.
   */
  apply(s: QueueSnapshot, source: 'refresh' | 'pubsub' | 'join' | 'advance'): void {
    const prev = this.snap;
    let next: QueueSnapshot;
    if (!prev || prev.epoch !== s.epoch) {
      // An epoch change that is not a fresh read could be a delayed message from the
      // old epoch; only reads of the state itself may switch epochs.
      if (prev && source === 'pubsub') return;
      if (prev) {
        this.o.logger.warn({ from: prev.epoch, to: s.epoch }, 'queue epoch changed: the queue was re-created');
        this.replaced.push(prev.epoch);
        if (this.replaced.length > 16) this.replaced.shift();
      }
      next = s;
    } else if (s.version > prev.version) {
      next = { ...s, counter: Math.max(s.counter, prev.counter) };
    } else if (s.version === prev.version && s.counter > prev.counter) {
      next = { ...prev, counter: s.counter };
    } else {
      next = prev;
    }
    // Every path is a reply from the store itself, so each one confirms the state.
    this.confirmedAt = this.now();
    if (next === prev) return;
    this.snap = next;
    for (const l of this.listeners) {
      try {
        l(next, prev);
      } catch (err) {
        this.o.logger.error({ err }, 'queue state listener failed');
      }
    }
  }

  /** The cached state, or a 503 if it is missing or older than the staleness bound. */
  current(): QueueSnapshot {
    const s = this.snap;
    if (!s) throw new UnavailableError('not_ready', 'the queue state is not loaded yet', 1);
    const age = this.now() - this.confirmedAt;
    if (age > this.o.maxStalenessMs) {
      throw new UnavailableError('state_stale', `the queue state could not be confirmed for ${Math.round(age)} ms`, 1);
    }
    return s;
  }

  /** The last snapshot however old (for admin views and metrics), or undefined. */
  peek(): QueueSnapshot | undefined {
    return this.snap;
  }

  /** True if this replica saw `epoch` as current and then saw it replaced. */
  wasReplaced(epoch: string): boolean {
    return this.replaced.includes(epoch);
  }

  /** Local time (ms) at which the store last confirmed the state. */
  confirmedAtMs(): number {
    return this.confirmedAt;
  }

  /** Milliseconds since the state was last confirmed by the store. */
  ageMs(): number {
    return this.now() - this.confirmedAt;
  }

  isFresh(): boolean {
    return this.snap !== undefined && this.ageMs() <= this.o.maxStalenessMs;
  }

  /** The store's clock now, estimated from the local clock and the measured offset. */
  storeNow(): number {
    return this.now() + this.offsetMs;
  }

  /** Registers a listener for every accepted change; returns an unsubscribe function. */
  onChange(l: SnapshotListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  async close(): Promise<void> {
    await this.sync.close();
    this.listeners.clear();
  }
}
