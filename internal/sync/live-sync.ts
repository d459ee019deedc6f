import type { Logger } from 'pino';
import type { Subscription } from '../store/store';

export interface LiveSyncOptions {
  /** Opens the pub/sub subscription that delivers changes as they happen. */
  readonly subscribe: () => Promise<Subscription>;
  /** One full read of the shared state (the fallback, and the first load). */
  readonly read: () => Promise<void>;
  /** Period of the fallback full read. */
  readonly refreshMs: number;
  readonly logger: Logger;
  /** Names what is kept in sync, for log lines. */
  readonly what: string;
  /**
   * Start the period at a random point of its first interval, so that the copies of 1,000
   * queues made at one start do not all re-read in the same millisecond every period.
   */
  readonly spread?: boolean;
  /** Random source in [0, 1) for `spread`, injectable for tests. */
  readonly random?: () => number;
}

/**
 * Keeps a replica's copy of some shared state fresh the way every such copy in
 * waitroom is kept: a pub/sub subscription for changes as they happen, and a
 * periodic full read that covers messages lost while the subscription was down
 * and re-opens it. Concurrent reads share one call; there is never more than one
 * subscription, even when a read finishes while the subscription is still being
 * set up (each extra one would be a leaked connection). Failures are logged and
 * retried by the next period, never thrown.
 */
export class LiveSync {
  private timer: NodeJS.Timeout | undefined;
  private firstTimer: NodeJS.Timeout | undefined;
  private sub: Subscription | undefined;
  private subscribing: Promise<void> | undefined;
  private reading: Promise<void> | undefined;
  private started = false;
  private closed = false;

  constructor(private readonly o: LiveSyncOptions) {}

  /** Subscribes and reads once; resolves when both were tried. */
  async start(): Promise<void> {
    if (this.started || this.closed) return;
    this.started = true;
    if (this.o.spread) {
      this.firstTimer = setTimeout(() => {
        this.firstTimer = undefined;
        if (this.closed) return;
        void this.refresh();
        this.timer = setInterval(() => void this.refresh(), this.o.refreshMs);
      }, Math.floor((this.o.random ?? Math.random)() * this.o.refreshMs));
    } else {
      this.timer = setInterval(() => void this.refresh(), this.o.refreshMs);
    }
    await Promise.all([this.trySubscribe(), this.refresh()]);
  }

  private trySubscribe(): Promise<void> {
    if (this.sub || this.closed) return Promise.resolve();
    this.subscribing ??= (async () => {
      try {
        const sub = await this.o.subscribe();
        if (this.closed) await sub.close();
        else this.sub = sub;
      } catch (err) {
        this.o.logger.warn({ err: (err as Error).message }, `${this.o.what} subscription failed; will retry`);
      } finally {
        this.subscribing = undefined;
      }
    })();
    return this.subscribing;
  }

  /** One full read now; concurrent calls share it. */
  refresh(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.reading ??= (async () => {
      try {
        await this.o.read();
        if (!this.sub) void this.trySubscribe();
      } catch (err) {
        // The store already logged and counted it; the owner's staleness rules apply.
        this.o.logger.debug({ err: (err as Error).message }, `${this.o.what} refresh failed`);
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  /** Stops the period, waits for a read or subscription in flight, closes the subscription. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.firstTimer) clearTimeout(this.firstTimer);
    this.timer = undefined;
    this.firstTimer = undefined;
    await this.reading;
    // A subscription still being set up closes itself when it sees `closed`.
    await this.subscribing;
    const sub = this.sub;
    this.sub = undefined;
    if (sub) await sub.close();
  }
}
