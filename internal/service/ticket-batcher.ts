import type { HighWater, IssuedTickets, QueueSettings, QueueSnapshot } from '../queue/queue-state';
import type { QueueStore } from '../store/store';

export interface IssuedTicket {
  readonly ticket: number;
  readonly snapshot: QueueSnapshot;
}

interface Pending {
  resolve: (t: IssuedTicket) => void;
  reject: (err: unknown) => void;
}

/**
 * Joins that reach this replica in the same event-loop turn share one
 * join.lua call (INCRBY n), and the n tickets are handed out in arrival
 * order. Batches from one replica are sent on one connection, so Redis runs
 * them in the order they were sent; across replicas each batch is atomic, so
 * tickets stay unique and each replica's visitors keep their relative order.
 */
export class TicketBatcher {
  private queue: Pending[] = [];
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

  issue(): Promise<IssuedTicket> {
    return new Promise<IssuedTicket>((resolve, reject) => {
      this.queue.push({ resolve, reject });
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
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.store.issueTickets(batch.length, this.settings(), this.seen?.()).then(
        (issued) => {
          this.onBatch?.(issued);
          batch.forEach((p, i) => p.resolve({ ticket: issued.first + i, snapshot: issued.snapshot }));
        },
        (err: unknown) => batch.forEach((p) => p.reject(err)),
      );
    }
  }
}
