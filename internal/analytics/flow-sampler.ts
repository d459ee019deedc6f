import type { Logger } from 'pino';
import type { LeaderLease } from '../leader/lease';
import type { QueueStateCache } from '../queue/state-cache';
import type { FlowStore } from '../store/flow-store';

export interface FlowSamplerOptions {
  readonly flow: FlowStore;
  readonly lease: LeaderLease;
  readonly cache: QueueStateCache;
  readonly logger: Logger;
  /** How often to look for a change; 1000 ms gives the one-sample-per-second series. */
  readonly periodMs?: number;
}

/**
 * The ticker leader's hook that feeds the console's charts: once a second, if
 * this replica leads the queue and its cached state shows a new counter or W,
 * flow-sample.lua records the values Redis holds now. An idle queue costs no
 * Redis call at all (1,000 idle queues: 0 calls a second); a busy one costs one
 * call a second. Any replica may sample (the script keeps one entry per second),
 * so a lease moving between replicas neither loses nor doubles a sample.
 *
 * The counter reaches the cache with every advance and every periodic refresh
 * (STATE_REFRESH_MS, 1 s by default), so the issued curve is late by at most
 * about one refresh period.
 */
export class FlowSampler {
  private timer: NodeJS.Timeout | undefined;
  private lastKey = '';
  private running = false;
  private closed = false;

  constructor(private readonly o: FlowSamplerOptions) {}

  start(): void {
    if (this.closed || this.timer) return;
    this.timer = setInterval(() => void this.sample(), this.o.periodMs ?? 1000);
    this.timer.unref();
  }

  /** One check; exported for tests. Never throws (a failed write is retried next period). */
  async sample(): Promise<void> {
    if (this.closed || this.running || !this.o.lease.isLeader()) return;
    const s = this.o.cache.peek();
    if (!s) return;
    const key = `${s.epoch}:${s.counter}:${s.windowEnd}`;
    if (key === this.lastKey) return;
    this.running = true;
    try {
      const r = await this.o.flow.record();
      if (r.outcome !== 'same_second') this.lastKey = key;
    } catch (err) {
      this.o.logger.debug({ err: (err as Error).message }, 'flow sample failed; retrying next second');
    } finally {
      this.running = false;
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
