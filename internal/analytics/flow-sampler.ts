import type { Logger } from 'pino';
import type { LeaderLease } from '../leader/lease';
import type { QueueSnapshot } from '../queue/queue-state';
import type { QueueStateCache } from '../queue/state-cache';
import type { FlowStore } from '../store/flow-store';

export interface FlowSamplerOptions {
  readonly flow: FlowStore;
  readonly lease: LeaderLease;
  readonly cache: QueueStateCache;
  readonly logger: Logger;
  /** Shortest time between two samples; 1000 ms gives the one-sample-per-second series. */
  readonly periodMs?: number;
  /** Local clock, injectable for tests. */
  readonly now?: () => number;
}

/** What a sample records changes with: the epoch, the counter and W. */
function sampleKey(s: QueueSnapshot): string {
  return `${s.epoch}:${s.counter}:${s.windowEnd}`;
}

/**
 * The ticker leader's hook that feeds the console's charts: when this replica leads the
 * queue and its cached state shows a new counter or W, flow-sample.lua records the values
 * Redis holds now, at most once a period (1 s). An idle queue costs no Redis call and no
 * timer at all (1,000 idle queues: 0 calls and 0 wake-ups a second; when the sampler
 * looked every second, 1,000 empty checks a second); a busy one costs one call a second.
 * A check is scheduled by a change of the cached state and by becoming (or, after a late
 * renewal, again believing to be) the leader. Any replica may sample (the script keeps one
 * entry per second), so a lease moving between replicas neither loses nor doubles a sample.
 *
 * The counter reaches the cache with every join on this replica, every advance and every
 * re-read the change log asks for (STATE_REFRESH_MS, 1 s by default), so the issued curve
 * is late by up to about two refresh periods (docs/operations.md, "The samples").
 */
export class FlowSampler {
  private timer: NodeJS.Timeout | undefined;
  private lastKey = '';
  private running = false;
  private closed = false;
  /** Local time of the last store call: the next one waits a period after it. */
  private lastAt = -Infinity;
  private unsubscribe: (() => void) | undefined;
  private readonly now: () => number;
  private readonly onLeader = () => this.soon();

  constructor(private readonly o: FlowSamplerOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    if (this.closed || this.unsubscribe) return;
    // Every join changes the counter: the check costs a property read while one is due.
    const off = this.o.cache.onChange(() => {
      if (this.timer === undefined && this.o.lease.isLeader()) this.soon();
    });
    this.o.lease.on('acquired', this.onLeader);
    this.o.lease.on('valid', this.onLeader);
    this.unsubscribe = () => {
      off();
      this.o.lease.off('acquired', this.onLeader);
      this.o.lease.off('valid', this.onLeader);
    };
    this.soon();
  }

  private get periodMs(): number {
    return this.o.periodMs ?? 1000;
  }

  /** One check as soon as a period has passed since the last store call, unless one is due. */
  private soon(): void {
    if (this.closed || this.timer !== undefined) return;
    const wait = Math.max(0, this.lastAt + this.periodMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sample();
    }, wait);
    this.timer.unref();
  }

  /** One check; exported for tests. Never throws (a failed write is retried a period later). */
  async sample(): Promise<void> {
    if (this.closed || this.running || !this.o.lease.isLeader()) return;
    const s = this.o.cache.peek();
    if (!s) return;
    const key = sampleKey(s);
    if (key === this.lastKey) return;
    this.running = true;
    this.lastAt = this.now();
    try {
      const r = await this.o.flow.record();
      if (r.outcome !== 'same_second') this.lastKey = key;
    } catch (err) {
      this.o.logger.debug({ err: (err as Error).message }, 'flow sample failed; retrying in a second');
    } finally {
      this.running = false;
    }
    // Not recorded (failed, or the second already had its entry), or changed meanwhile: again.
    const after = this.o.cache.peek();
    if (after && sampleKey(after) !== this.lastKey) this.soon();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
  }
}
