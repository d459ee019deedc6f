import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { QueueStore } from '../store/store';

export interface LeaseOptions {
  /** Where the lease key lives: a queue's ticker lease, or its webhook dispatcher's. */
  readonly store: Pick<QueueStore, 'acquireLease' | 'renewLease' | 'releaseLease'>;
  /** What the lease is for, in log lines (default "ticker"). */
  readonly role?: string;
  /** Unique per process: hostname, pid and a random suffix. */
  readonly owner: string;
  readonly ttlMs: number;
  /** How often to renew while leading, and to try to acquire while not. */
  readonly renewMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
  /**
   * Whether this replica should lead now (internal/queues/lease-placement.ts spreads
   * queues over replicas). Not eligible: it does not try to acquire, and gives up a
   * lease it holds so the chosen replica takes over within one renew period.
   * Default: always eligible.
   */
  readonly eligible?: () => boolean;
  /**
   * While this is true and the lease is not held, the lease sleeps with no timer until wake()
   * (the webhook dispatcher's lease of a queue no endpoint takes events of: nothing can make
   * it eligible but an endpoint change, which wakes it). Default: never sleeps.
   */
  readonly sleepWhile?: () => boolean;
  /**
   * Where in each grid step this replica's renewals fall, as a fraction in [0, 1) (see
   * schedule()). Default: one random phase per process, so that replicas renew at different
   * instants while each replica's leases still renew together. Tests pass 0.
   */
  readonly gridPhase?: number;
}

/** This process's phase on the renewal grid: drawn once, shared by all its leases. */
const PROCESS_GRID_PHASE = Math.random();

/**
 * The ticker's leader lease in Redis: acquire with SET NX PX, renew with a
 * compare-and-pexpire script, release on close with compare-and-delete.
 *
 * Emits 'acquired' and 'lost', and 'valid' when a renewal makes a lease that outlived its
 * validity by this replica's clock (isLeader() false, no 'lost') believed again.
 * Leadership is believed only until the last successful renewal plus the TTL
 * (measured from before the renewal was sent), so a replica that was paused or cut
 * off stops believing it leads no later than Redis expires its key. The advance script checks the lease again, so
 * even a replica that wrongly believes it leads cannot advance the window.
 */
export class LeaderLease extends EventEmitter {
  private leading = false;
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private running: Promise<void> | undefined;
  /** Parked by sleepWhile: no step is scheduled until wake(). */
  private sleeping = false;
  private started = false;
  private readonly now: () => number;

  constructor(private readonly o: LeaseOptions) {
    super();
    this.now = o.now ?? Date.now;
  }

  get owner(): string {
    return this.o.owner;
  }

  /** True while this process holds a lease that has not expired by its own clock. */
  isLeader(): boolean {
    return this.leading && this.now() < this.validUntil;
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    void this.step();
  }

  /** A sleeping lease (see sleepWhile) takes a step now; otherwise nothing changes. */
  wake(): void {
    if (!this.sleeping || this.closed) return;
    this.sleeping = false;
    void this.step();
  }

  /**
   * The next step at most `ms` from now, brought forward to a multiple of a grid of
   * min(100 ms, ms / 10) on the local clock. Every lease of the replica then renews on the
   * same few instants: one queue's renewals keep their period (give or take the grid), and a
   * replica leading 1,000 queues wakes about 10 times a second for 600 renewals, written to
   * Redis together, instead of 600 times (docs/benchmarks.md, "Many idle queues: the
   * replica's CPU"). Never later than `ms`, so the TTL's margin is unchanged. Each process
   * sits at its own phase on the grid (gridPhase), so replicas do not all renew at the same
   * instant: with 10,000 queues on three replicas, one burst of ~600 renewals every 100 ms
   * becomes ~200 at each of three instants.
   */
  private schedule(ms: number): void {
    if (this.closed) return;
    const grid = Math.min(100, Math.floor(ms / 10));
    let delay = ms;
    if (grid > 1) {
      const phase = Math.floor((this.o.gridPhase ?? PROCESS_GRID_PHASE) * grid);
      const now = Date.now();
      delay = Math.floor((now + ms - phase) / grid) * grid + phase - now;
    }
    this.timer = setTimeout(() => void this.step(), delay);
  }

  private step(): Promise<void> {
    this.running = (async () => {
      const sentAt = this.now();
      try {
        const eligible = this.o.eligible?.() ?? true;
        if (!eligible) {
          if (this.leading) await this.handOver();
          return;
        }
        const ok = this.leading
          ? await this.o.store.renewLease(this.o.owner, this.o.ttlMs)
          : await this.o.store.acquireLease(this.o.owner, this.o.ttlMs);
        if (this.closed) return;
        if (ok) {
          // Held all along but past its validity by our clock (a slow renewal, a stalled loop):
          // isLeader() was false for a while with no 'lost', so say when it is true again.
          const lapsed = this.leading && this.now() >= this.validUntil;
          this.validUntil = sentAt + this.o.ttlMs;
          if (!this.leading) this.gain();
          else if (lapsed && this.isLeader()) this.emit('valid');
        } else if (this.leading) {
          this.lose('renewal refused: another replica holds the lease');
        }
      } catch (err) {
        // Keep believing only until validUntil; isLeader() turns false by itself.
        if (this.leading && this.now() >= this.validUntil) this.lose('lease could not be renewed before it expired');
        this.o.logger.debug({ err: (err as Error).message }, 'lease step failed');
      }
    })();
    return this.running.finally(() => {
      if (this.closed) return;
      if (!this.leading && this.o.sleepWhile?.()) this.sleeping = true;
      else this.schedule(this.o.renewMs);
    });
  }

  private gain(): void {
    this.leading = true;
    this.o.logger.info({ owner: this.o.owner, ttlMs: this.o.ttlMs }, `became ${this.o.role ?? 'ticker'} leader`);
    this.emit('acquired');
  }

  private lose(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.validUntil = 0;
    this.o.logger.warn({ owner: this.o.owner, why }, `lost ${this.o.role ?? 'ticker'} leadership`);
    this.emit('lost');
  }

  /** Gives the lease up for the replica chosen to lead (see `eligible`). */
  private async handOver(): Promise<void> {
    this.lose('handing the queue over to the replica chosen to lead it');
    await this.o.store.releaseLease(this.o.owner);
  }

  /** Called by the ticker when the advance script says the lease is not ours. */
  markLost(why: string): void {
    this.lose(why);
  }

  /** Stops renewing and releases the lease if held, so a successor takes over at once. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
    const wasLeading = this.leading;
    this.leading = false;
    if (wasLeading) {
      try {
        const released = await this.o.store.releaseLease(this.o.owner);
        this.o.logger.info({ owner: this.o.owner, released }, `released ${this.o.role ?? 'ticker'} lease`);
      } catch (err) {
        this.o.logger.warn({ err: (err as Error).message }, 'could not release lease; it expires by its TTL');
      }
      this.emit('lost');
    }
  }
}
