import type { Logger } from 'pino';
import type { QueueStateCache } from '../queue/state-cache';
import type { PresenceSweep, QueueStore } from '../store/store';

/** How often a replica reports presence for a queue (docs/system.md, "Visitors who went quiet"). */
export const PRESENCE_SWEEP_MS = 15_000;
/** Seen bitmaps checked before marking a ticket: the current period and four before it (one period = grace ÷ 4). */
export const PRESENCE_PERIODS = 5;
/** Tickets per sweep-gone.lua call. */
const BATCH = 10_000;

/**
 * What one sweep reports, from the last contact this replica had with each waiting ticket (pure:
 * the clock and the state are arguments). Tickets at or under W are forgotten (admitted);
 * tickets quiet for the grace are reported quiet at every sweep (the store marks them once no
 * replica heard from them within the grace: up to one period later) until twice the grace, then
 * forgotten (marked, or followed by the replica that hears from them now); the others heard
 * from since they were last recorded in this period are reported seen (once per period).
 */
export function presenceBatch(
  lastContact: Map<number, number>,
  recorded: Map<number, number>,
  windowEnd: number,
  nowMs: number,
  graceMs: number,
  period: number,
): { seen: number[]; quiet: number[] } {
  const seen: number[] = [];
  const quiet: number[] = [];
  for (const [t, at] of lastContact) {
    if (t <= windowEnd) {
      lastContact.delete(t);
      recorded.delete(t);
    } else if (nowMs - at >= 2 * graceMs) {
      lastContact.delete(t);
      recorded.delete(t);
    } else if (nowMs - at >= graceMs) {
      quiet.push(t);
    } else if (recorded.get(t) !== period) {
      seen.push(t);
      recorded.set(t, period);
    }
  }
  return { seen, quiet };
}

export interface PresenceSweeperOptions {
  readonly store: Pick<QueueStore, 'sweepGone'>;
  readonly cache: QueueStateCache;
  /** Waiting tickets with an open event stream on this replica (continuous contact). */
  readonly openTickets: (epoch: string) => number[];
  /** The queue's grace in ms while it compensates no-shows; null when off. */
  readonly graceMs: () => number | null;
  /** How long a marked bit must live: a ticket's lifetime plus (K+1)·I. */
  readonly goneLifetimeMs: () => number;
  readonly onMarked: (n: number) => void;
  readonly logger: Logger;
  readonly now?: () => number;
  readonly sweepMs?: number;
}

/**
 * Marks gone the waiting visitors this replica served who went quiet (no poll, no open stream)
 * for longer than the queue's grace, in one batch per queue per sweep (sweep-gone.lua), unless
 * another replica heard from them meanwhile (the shared seen bitmaps). Only while the queue
 * compensates no-shows. note() runs on /status: one Map.set.
 */
export class PresenceSweeper {
  private readonly lastContact = new Map<number, number>();
  private readonly recorded = new Map<number, number>();
  private epoch = '';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly o: PresenceSweeperOptions) {
    this.now = o.now ?? Date.now;
  }

  /** A waiting ticket of `epoch` was heard from (a poll, a stream event). */
  note(epoch: string, ticket: number): void {
    if (epoch !== this.epoch || this.closed) return;
    this.lastContact.set(ticket, this.now());
  }

  start(): void {
    if (this.closed || this.timer) return;
    this.timer = setInterval(() => void this.sweep(), this.o.sweepMs ?? PRESENCE_SWEEP_MS);
    this.timer.unref();
    this.track();
  }

  /** Follows the cached epoch; what was noted in another epoch is dropped. */
  private track(): boolean {
    const s = this.o.cache.peek();
    const grace = this.o.graceMs();
    if (!s || grace === null) {
      this.epoch = grace === null ? '' : this.epoch;
      if (grace === null) {
        this.lastContact.clear();
        this.recorded.clear();
      }
      return false;
    }
    if (s.epoch !== this.epoch) {
      this.epoch = s.epoch;
      this.lastContact.clear();
      this.recorded.clear();
    }
    return true;
  }

  /** One sweep; runs are never concurrent. */
  sweep(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(): Promise<void> {
    if (this.closed || !this.track()) return;
    const s = this.o.cache.peek()!;
    const grace = this.o.graceMs()!;
    const now = this.now();
    for (const t of this.o.openTickets(s.epoch)) if (t > s.windowEnd) this.lastContact.set(t, now);
    const periodMs = Math.max(1000, Math.floor(grace / (PRESENCE_PERIODS - 1)));
    const period = Math.floor(now / periodMs);
    const { seen, quiet } = presenceBatch(this.lastContact, this.recorded, s.windowEnd, now, grace, period);
    const all = [...seen.map((t) => [t, 0] as const), ...quiet.map((t) => [t, 1] as const)];
    let marked = 0;
    for (let i = 0; i < all.length && !this.closed; i += BATCH) {
      const part = all.slice(i, i + BATCH);
      const sweep: PresenceSweep = {
        period,
        periodsChecked: PRESENCE_PERIODS,
        seen: part.filter((p) => p[1] === 0).map((p) => p[0]),
        quiet: part.filter((p) => p[1] === 1).map((p) => p[0]),
        goneLifetimeMs: this.o.goneLifetimeMs(),
        seenLifetimeMs: (PRESENCE_PERIODS + 1) * periodMs,
      };
      try {
        const r = await this.o.store.sweepGone(s.epoch, sweep);
        if (r.outcome === 'ok') marked += r.marked;
      } catch (err) {
        // The quiet ones of this batch stay unmarked: they take their slot as without compensation.
        this.o.logger.warn({ err: (err as Error).message }, 'presence sweep failed');
      }
    }
    if (marked > 0) this.o.onMarked(marked);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.lastContact.clear();
    this.recorded.clear();
  }
}
