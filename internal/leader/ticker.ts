import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics';
import type { AdvanceResult, QueueSnapshot } from '../queue/queue-state';
import type { QueueStateCache } from '../queue/state-cache';
import type { QueueStore } from '../store/store';
import type { LeaderLease } from './lease';
import { nextPlannedMs, stepLagMs, type PlannedStepMs } from './tick-lag';

export interface TickerOptions {
  readonly store: QueueStore;
  readonly lease: LeaderLease;
  readonly cache: QueueStateCache;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /**
   * Longest sleep while nobody waits or the queue is held (paused, closed,
   * passthrough). The ticker is woken earlier by the cache: by the first waiting
   * join (join.lua publishes it) or a settings change. Default 10 s.
   */
  readonly idleCheckMs?: number;
  /**
   * No-show compensation now (the queue's compensateNoShows, from its stored settings): 0 off,
   * else the bound on W's move per advance (arithmetic.ts NO_SHOW_MAX_MOVE). Default off.
   */
  readonly maxMove?: () => number;
}

/**
 * While this replica leads its queue, runs advance-window.lua once per due
 * slot. It sleeps until the due time Redis returned (in Redis's clock, so
 * replicas' clocks need not agree). S, I, K and the queue's state are read by
 * the script from the stored queue, never from this process's settings.
 *
 * An idle queue (nobody waits) or a held one costs no Redis calls: the ticker
 * sleeps until the replica's state cache shows somebody waiting or the state
 * changing (pub/sub delivers both within milliseconds; the periodic refresh
 * within STATE_REFRESH_MS), with idleCheckMs as a backstop. With 1,000 queues
 * on a replica, polling every 100 ms would have cost 10,000 calls a second.
 */
export class Ticker {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private inFlight: Promise<void> | undefined;
  /** A place freed while an advance was in flight: step again once it is handled. */
  private again = false;
  private readonly onAcquired = () => {
    this.planned = undefined;
    this.kick(0);
  };
  private readonly onLost = () => {
    this.clear();
    // A replica that no longer leads is not late: its lag must not outlive its lease.
    this.planned = undefined;
    this.o.metrics?.tickLag.set({ queue: this.o.store.queueId }, 0);
  };
  private unsubscribe: (() => void) | undefined;
  /** True while sleeping until the cache shows work (idle or held), rather than until a due time. */
  private sleeping = false;
  /** True after a skipped slot, until the next advance: one skip is counted per idle spell. */
  private idle = false;
  private readonly idleCheckMs: number;
  /** When this ticker planned its next step (store clock), for the lag measure (tick-lag.ts). */
  private planned: PlannedStepMs;

  constructor(private readonly o: TickerOptions) {
    this.idleCheckMs = o.idleCheckMs ?? 10_000;
  }

  start(): void {
    if (this.closed) return;
    this.o.lease.on('acquired', this.onAcquired);
    this.o.lease.on('lost', this.onLost);
    this.unsubscribe = this.o.cache.onChange((s, prev) => this.onState(s, prev));
    if (this.o.lease.isLeader()) this.kick(0);
  }

  /** Wakes a sleeping ticker when there is work, and follows a due time moved by a settings change. */
  private onState(s: QueueSnapshot, prev: QueueSnapshot | undefined): void {
    // With a cap W never passes the counter, so a visitor who joins while the slot still has
    // room (places free, fewer than S admitted) is admitted at once, as without a cap a
    // ticket under W is: join.lua announces the first ticket over W.
    if (s.maxActive && s.counter > s.windowEnd && prev && prev.counter <= prev.windowEnd) {
      this.wake();
      return;
    }
    if (this.closed || !this.o.lease.isLeader()) return;
    if (this.inFlight) {
      // The advance in flight may answer from a state read before this change: a first
      // visitor who joined after the script ran would find the ticker asleep for the idle
      // check (10 s). Look again when it returns. Only a crossing of W by the counter (join.lua
      // announces exactly that) or a new mode counts: the advance's own announcement can
      // arrive before its reply and must not cost a second call.
      const crossed = s.mode === 'open' && s.counter > s.windowEnd && (!prev || prev.counter <= prev.windowEnd);
      if (crossed || (prev && prev.mode !== s.mode)) this.again = true;
      return;
    }
    if (this.sleeping) {
      const work = s.mode === 'open' && s.counter > s.windowEnd;
      if (work || (prev && prev.mode !== s.mode)) this.kick(0);
      return;
    }
    if (prev && (prev.nextDueMs !== s.nextDueMs || prev.mode !== s.mode)) this.kick(0);
  }

  /**
   * A place on the site was freed (a pass reported done: pass-done.lua's message). With a
   * capacity cap the leader tries to admit the next visitor now, not at the next interval
   * (advance-window.lua tops up a started slot, never past S per slot). Without a cap it is
   * a no-op: admissions follow the rate only.
   */
  wake(): void {
    if (this.closed || !this.o.lease.isLeader()) return;
    const s = this.o.cache.peek();
    if (!s || !s.maxActive || s.mode !== 'open' || s.counter <= s.windowEnd) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.kick(0);
  }

  /** `ms`, or one interval of the queue when that is shorter (a 50 ms queue must not wait 250 ms). */
  private shortWaitMs(ms: number): number {
    return Math.min(ms, this.o.cache.peek()?.intervalMs ?? ms);
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private kick(ms: number, sleeping = false): void {
    this.clear();
    if (this.closed) return;
    this.sleeping = sleeping;
    this.timer = setTimeout(() => void this.step(), Math.max(0, ms));
  }

  private async step(): Promise<void> {
    this.timer = undefined;
    this.sleeping = false;
    if (this.closed) return;
    if (!this.o.lease.isLeader()) {
      // Not leading now. Usually 'acquired' wakes us, but a renewal that answers after
      // the lease's local validity lapsed restores leadership without an event: keep
      // checking (a local call, no Redis) so a leader never holds the lease without ticking.
      this.kick(this.shortWaitMs(100));
      return;
    }
    const run = this.o.store.advance(this.o.lease.owner, this.o.cache.highWater(), { maxMove: this.o.maxMove?.() ?? 0 });
    this.inFlight = run.then(
      (r) => this.handle(r),
      (err: unknown) => {
        this.o.logger.warn({ err: (err as Error).message }, 'window advance failed; retrying');
        this.kick(this.shortWaitMs(250));
      },
    );
    await this.inFlight;
    this.inFlight = undefined;
    if (this.again) {
      this.again = false;
      if (!this.closed && this.o.lease.isLeader()) this.kick(0);
    }
  }

  private handle(r: AdvanceResult): void {
    const q = this.o.store.queueId;
    const m = this.o.metrics;
    const lagMs = stepLagMs(this.planned, r);
    if (lagMs !== undefined) m?.tickLag.set({ queue: q }, lagMs / 1000);
    this.planned = nextPlannedMs(r, this.idleCheckMs);
    switch (r.outcome) {
      case 'not_leader':
        this.o.lease.markLost('advance refused: the lease belongs to another replica');
        return;
      case 'missing':
        // Redis lost the queue: re-create it (new epoch) via the cache's read, then go on.
        void this.o.cache.refresh().then(() => this.kick(0));
        return;
      case 'rolled_back':
        // The state is behind what this replica saw: the cache's read (ensure-queue.lua with
        // the same high-water mark) starts a new epoch; advancing the old one could lift its
        // version back over the mark and hide the rollback.
        this.o.logger.warn({ reason: r.rollback }, 'advance refused: the queue state went backwards');
        void this.o.cache.refresh().then(() => this.kick(0));
        return;
      case 'advanced': {
        const s = r.snapshot!;
        this.o.cache.apply(s, 'advance');
        this.idle = false;
        m?.advances.inc({ queue: q });
        if (r.skipped) m?.noShowSkipped.inc({ queue: q }, r.skipped);
        this.o.logger.debug({ windowEnd: s.windowEnd, lagMs, occupancy: r.occupancy }, 'window advanced');
        this.kick(s.nextDueMs - s.storeNowMs);
        return;
      }
      case 'skipped': {
        this.o.cache.apply(r.snapshot!, 'advance');
        if (!this.idle) m?.advancesSkipped.inc({ queue: q });
        this.idle = true;
        this.kick(this.idleCheckMs, true);
        return;
      }
      case 'full': {
        // Every place is taken: nothing moves until a pass is done (wake()), a pass expires or
        // a claim window closes (nextFreeMs, which the script computed), whichever comes first.
        const s = r.snapshot!;
        this.o.cache.apply(s, 'advance');
        const untilFree = r.nextFreeMs ? r.nextFreeMs - s.storeNowMs : this.idleCheckMs;
        this.kick(Math.min(this.idleCheckMs, Math.max(0, untilFree)), true);
        return;
      }
      case 'held': {
        this.o.cache.apply(r.snapshot!, 'advance');
        this.kick(this.idleCheckMs, true);
        return;
      }
      case 'not_due': {
        const s = r.snapshot!;
        this.o.cache.apply(s, 'advance');
        // With a cap, a place that frees by itself before the due time tops up the slot.
        const untilDue = s.nextDueMs - s.storeNowMs;
        this.kick(r.nextFreeMs ? Math.min(untilDue, Math.max(0, r.nextFreeMs - s.storeNowMs)) : untilDue);
        return;
      }
    }
  }

  /** Stops ticking; waits for an advance already sent. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.clear();
    this.unsubscribe?.();
    this.o.lease.off('acquired', this.onAcquired);
    this.o.lease.off('lost', this.onLost);
    await this.inFlight?.catch(() => undefined);
  }
}
