import type { Logger } from 'pino';
import type { QueueSnapshot } from '../queue/queue-state';
import type { QueueStore } from '../store/store';

/** Admitted ranges kept: a skipped ticket older than this many moves is expired by arithmetic anyway. */
const MAX_RANGES = 10_000;

/**
 * This replica's copy of the tickets a compensating advance skipped (docs/system.md, "No-shows"),
 * so /status can say "skipped" without a store call. For each move of the window this replica
 * sees (W from a to b), it reads the gone bits of a+1..b once (read-gone.lua: one call per
 * advance per replica) and keeps the marked ones while they could still be active (K windows).
 * The claim script checks the bit itself: this copy may lag by one read, never decides a claim.
 */
export class SkippedMirror {
  /** Skipped tickets of the current epoch, with the W of the move that skipped them. */
  private readonly skipped = new Map<number, number>();
  private epoch = '';
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly o: {
      readonly store: Pick<QueueStore, 'readGone'>;
      /** The queue compensates no-shows now (its stored settings). */
      readonly enabled: () => boolean;
      readonly logger: Logger;
    },
  ) {}

  /** A cache change: reads the newly admitted range when the window moved. */
  note(s: QueueSnapshot, prev: QueueSnapshot | undefined): void {
    if (this.closed) return;
    if (s.epoch !== this.epoch) {
      this.epoch = s.epoch;
      this.skipped.clear();
    }
    if (!prev || prev.epoch !== s.epoch || s.windowEnd <= prev.windowEnd || !this.o.enabled()) return;
    const from = prev.windowEnd + 1;
    const to = s.windowEnd;
    const epoch = s.epoch;
    // Drop what no longer matters: tickets at or below W − S·K are expired by arithmetic.
    const floor = s.windowEnd - s.windowSize * s.activeWindowCount;
    for (const t of this.skipped.keys()) if (t <= floor) this.skipped.delete(t);
    // One read at a time, in order: a burst of moves never stacks concurrent calls.
    this.chain = this.chain.then(async () => {
      if (this.closed || this.epoch !== epoch) return;
      try {
        const marked = await this.o.store.readGone(epoch, from, to);
        if (this.epoch !== epoch) return;
        for (const t of marked) this.skipped.set(t, to);
        if (this.skipped.size > MAX_RANGES * 8) this.skipped.clear();
      } catch (err) {
        // A missed range only delays "skipped" until the page says it is back or claims.
        this.o.logger.warn({ err: (err as Error).message, from, to }, 'could not read the skipped tickets of an advance');
      }
    });
  }

  /** True if this replica saw `ticket` of `epoch` skipped. */
  has(epoch: string, ticket: number): boolean {
    return epoch === this.epoch && this.skipped.size > 0 && this.skipped.has(ticket);
  }

  /** Resolves when the reads started so far are done (tests). */
  settled(): Promise<void> {
    return this.chain;
  }

  close(): void {
    this.closed = true;
    this.skipped.clear();
  }
}
