import { JoinLimitRefusal, type BucketLimits, type BucketTake, type LimitVerdict } from '../abuse/token-bucket';
import type { HighWater, IssuedTickets, QueueSettings, QueueSnapshot } from '../queue/queue-state';
import type { QueueStore } from '../store/store';

export interface IssuedTicket {
  readonly ticket: number;
  readonly snapshot: QueueSnapshot;
  /** The join-limit verdict, when the join's token was taken with its ticket. */
  readonly verdict?: LimitVerdict;
}

interface Pending {
  readonly take: BucketTake | undefined;
  resolve: (t: IssuedTicket) => void;
  reject: (err: unknown) => void;
}

/** Joins of one turn sent together: those without a take, or those of one limit (a batch has one burst and rate). */
interface Group {
  readonly limits: BucketLimits | undefined;
  readonly pending: Pending[];
}

/**
 * Joins that reach this replica in the same event-loop turn share one
 * join.lua call (INCRBY n), and the n tickets are handed out in arrival
 * order. Batches from one replica are sent on one connection, so Redis runs
 * them in the order they were sent; across replicas each batch is atomic, so
 * tickets stay unique and each replica's visitors keep their relative order.
 * A turn's joins that take a join-limit token with their ticket go in one call
 * per limit (burst and rate), the others in another; the calls go out in the
 * order each group's first join arrived. In practice a queue has one limit, so
 * a turn makes one call.
 */
export class TicketBatcher {
  private groups = new Map<string, Group>();
  private scheduled = false;

  constructor(
    private readonly store: QueueStore,
    /** The queue's settings, used only if its state has to be created. */
    private readonly settings: () => QueueSettings,
    /** Upper bound per round trip; a bigger burst is split over several calls. */
    private readonly maxBatch = 512,
    private readonly onBatch?: (b: IssuedTickets) => void,
    /** The replica's high-water mark (QueueStateCache.highWater), read when each batch is sent. */
    private readonly seen?: () => HighWater,
  ) {}

  /**
   * A ticket, in arrival order with the other joins of this turn. With `take`, the join's
   * limit token is taken in the same store call (join.lua); a refused join rejects with
   * JoinLimitRefusal and gets no ticket.
   */
  issue(take?: BucketTake): Promise<IssuedTicket> {
    return new Promise<IssuedTicket>((resolve, reject) => {
      const key = take ? `${take.limits.burst}/${take.limits.ratePerSecond}` : '';
      let g = this.groups.get(key);
      if (!g) {
        g = { limits: take?.limits, pending: [] };
        this.groups.set(key, g);
      }
      g.pending.push({ take, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate runs after the I/O callbacks of this turn, so requests parsed
        // from the same socket reads land in the same batch.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const groups = this.groups;
    this.groups = new Map();
    for (const g of groups.values()) {
      while (g.pending.length > 0) {
        const batch = g.pending.splice(0, this.maxBatch);
        const limit = g.limits ? { clients: batch.map((p) => p.take!.client), limits: g.limits } : undefined;
        this.store.issueTickets(batch.length, this.settings(), this.seen?.(), limit).then(
          (issued) => {
            this.onBatch?.(issued);
            hand(batch, issued);
          },
          (err: unknown) => batch.forEach((p) => p.reject(err)),
        );
      }
    }
  }
}

/** Tickets first.. to the joins the limit allowed (all of them without one), in order; the refused ones hear why. */
function hand(batch: readonly Pending[], issued: IssuedTickets): void {
  const v = issued.verdicts;
  if (!v) {
    batch.forEach((p, i) => p.resolve({ ticket: issued.first + i, snapshot: issued.snapshot }));
    return;
  }
  let next = issued.first;
  batch.forEach((p, i) => {
    const verdict = v[i]!;
    if (verdict.allowed) p.resolve({ ticket: next++, snapshot: issued.snapshot, verdict });
    else p.reject(new JoinLimitRefusal(verdict));
  });
}
