import type { Logger } from 'pino';
import { UnavailableError } from '../errors/errors';
import type { QueueStore } from '../store/store';
import { LiveSync } from '../sync/live-sync';
import type { HighWater, QueueSettings, QueueSnapshot } from './queue-state';

export interface StateCacheOptions {
  readonly store: QueueStore;
  /** The queue's settings, used only if the state has to be created (ensure-queue.lua). */
  readonly settings: () => QueueSettings;
  readonly logger: Logger;
  /**
   * Period of the fallback full read (STATE_RESYNC_MS); pub/sub delivers every change first,
   * and the registry's change-log poll asks for a read of a queue that changed (refresh())
   * and confirms the copies of the others (confirm()).
   */
  readonly refreshMs: number;
  /** Start the fallback period at a random point (many queues on one replica). */
  readonly spread?: boolean;
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
 * either path are ordered by (epoch, version); the counter only grows. A
 * snapshot older than the one held confirms nothing: it neither replaces the
 * copy nor counts towards freshness.
 *
 * What the cache holds is also the replica's high-water mark (highWater()):
 * every read, join and advance passes it to its script, which starts a new epoch
 * instead of issuing or advancing when the store is behind it (docs/system.md,
 * "A store that goes backwards"). Valid tickets polled here add to it.
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
  /** Highest ticket of the current epoch seen in a valid token (a signed proof the counter reached it). */
  private witnessed = 0;
  /** Set while the store reports the state damaged; cleared by the next sound reply. */
  private corrupt: UnavailableError | undefined;
  /** Local send time of the latest refresh read that confirmed the state. */
  private readSentAt = -Infinity;
  /** Set when the change log listed this queue, until a read sent after that succeeds. */
  private dirtyAt: number | undefined;
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
      spread: o.spread,
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
    let s;
    try {
      s = await this.o.store.ensureQueue(this.o.settings(), this.highWater());
    } catch (err) {
      this.noteStoreError(err);
      throw err;
    }
    const after = this.now();
    // Redis read its clock somewhere between before and after; assume the middle.
    this.offsetMs = s.storeNowMs - (before + after) / 2;
    this.apply(s, 'refresh', before);
    if (this.dirtyAt !== undefined && before >= this.dirtyAt) this.dirtyAt = undefined;
  }

  /**
   * The change log listed this queue: the copy may be behind until a read sent from now on
   * succeeds, so confirm() does not count for it meanwhile. The caller then calls refresh().
   */
  markDirty(): void {
    this.dirtyAt = this.now();
  }

  /** True from markDirty() until a read sent after it succeeded. */
  isDirty(): boolean {
    return this.dirtyAt !== undefined;
  }

  /**
   * The change log, read at local time `sentAtMs`, listed no change of this queue since the
   * copy was read: every change published before then reached this copy (by pub/sub or by the
   * read the log asked for), so the copy is confirmed as of then. Nothing is confirmed before
   * the first read, nor while a read the log asked for has not succeeded yet.
   */
  confirm(sentAtMs: number): void {
    if (!this.snap || this.dirtyAt !== undefined || this.corrupt) return;
    if (sentAtMs > this.confirmedAt) this.confirmedAt = sentAtMs;
  }

  /** A store call failed: a damaged state makes every answer 503 state_corrupt until a sound reply. */
  noteStoreError(err: unknown): void {
    if (err instanceof UnavailableError && err.code === 'state_corrupt') this.corrupt = err;
  }

  /**
   * Accepts a snapshot from any path (refresh, pub/sub, a join or an advance)
   * if it is not older than what the cache holds. A new epoch wins (the queue was
   * re-created) unless it is one this replica saw replaced: that one can only be a
   * restored copy, which the scripts refuse.
   */
  apply(s: QueueSnapshot, source: 'refresh' | 'pubsub' | 'join' | 'advance', sentAtMs?: number): void {
    const prev = this.snap;
    let next: QueueSnapshot;
    if (!prev || prev.epoch !== s.epoch) {
      // An epoch change that is not a fresh read could be a delayed message from the
      // old epoch; only reads of the state itself may switch epochs.
      if (prev && source === 'pubsub') return;
      if (this.replaced.includes(s.epoch)) {
        this.o.logger.error({ epoch: s.epoch, source }, 'a replaced queue epoch came back; ignored');
        return;
      }
      if (prev) {
        this.o.logger.warn({ from: prev.epoch, to: s.epoch }, 'queue epoch changed: the queue was re-created');
        this.replaced.push(prev.epoch);
        if (this.replaced.length > 16) this.replaced.shift();
      }
      this.witnessed = 0;
      next = s;
    } else if (s.version < prev.version) {
      // Older than the copy held (a late reply or message): it confirms nothing. A store
      // that is really behind is caught by the next read, which carries the high-water mark.
      return;
    } else if (s.version > prev.version) {
      next = { ...s, counter: Math.max(s.counter, prev.counter) };
    } else if (s.counter > prev.counter) {
      next = { ...prev, counter: s.counter };
    } else {
      next = prev;
    }
    // A reply at least as new as the copy: the store confirms the state.
    this.confirmedAt = this.now();
    this.corrupt = undefined;
    if (sentAtMs !== undefined) this.readSentAt = Math.max(this.readSentAt, sentAtMs);
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

  /** What this replica has seen of the queue, for the scripts' rollback checks. */
  highWater(): HighWater {
    const s = this.snap;
    if (!s) return { epoch: '', counter: 0, windowEnd: 0, version: 0, retired: this.replaced };
    return { epoch: s.epoch, counter: Math.max(s.counter, this.witnessed), windowEnd: s.windowEnd, version: s.version, retired: this.replaced };
  }

  /**
   * A valid ticket of the current epoch: the counter reached it, whatever the store says
   * now. The next read passes it on, so a counter that fell below it starts a new epoch.
   */
  witness(ticket: number): void {
    if (ticket > this.witnessed) this.witnessed = ticket;
  }

  /** Local time (ms) at which the latest confirming refresh read was sent (-Infinity before one). */
  readSentAtMs(): number {
    return this.readSentAt;
  }

  /** True while the store reports the state damaged. */
  isCorrupt(): boolean {
    return this.corrupt !== undefined;
  }

  /** The cached state, or a 503 if it is missing or older than the staleness bound. */
  current(): QueueSnapshot {
    if (this.corrupt) throw this.corrupt;
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
    return this.snap !== undefined && !this.corrupt && this.ageMs() <= this.o.maxStalenessMs;
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
