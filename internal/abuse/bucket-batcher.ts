import type { BucketLimits, LimitVerdict } from './token-bucket';

interface Pending {
  readonly client: string;
  resolve: (v: LimitVerdict) => void;
  reject: (err: unknown) => void;
}

/** Sends a batch of bucket takes (clients in arrival order, one limit) in one call; one verdict per client. */
export type TakeBatch = (clients: readonly string[], limits: BucketLimits) => Promise<LimitVerdict[]>;

/**
 * Joins that reach this replica in the same event-loop turn share one
 * rate-limit.lua call, as their tickets share one join.lua call
 * (internal/service/ticket-batcher.ts). Measured on a busy 2-core machine, one
 * call per join doubled the server CPU of a join (docs/benchmarks.md, "The join
 * limit"): the Redis round trip, not the arithmetic, is the cost.
 */
export class BucketBatcher {
  private readonly queues = new Map<string, { limits: BucketLimits; pending: Pending[] }>();
  private scheduled = false;

  constructor(
    private readonly send: TakeBatch,
    private readonly maxBatch = 512,
  ) {}

  take(client: string, limits: BucketLimits): Promise<LimitVerdict> {
    return new Promise<LimitVerdict>((resolve, reject) => {
      const key = `${limits.burst}/${limits.ratePerSecond}`;
      let q = this.queues.get(key);
      if (!q) {
        q = { limits, pending: [] };
        this.queues.set(key, q);
      }
      q.pending.push({ client, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After this turn's I/O callbacks, as the ticket batcher does.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const queues = [...this.queues.values()];
    this.queues.clear();
    for (const q of queues) {
      while (q.pending.length > 0) {
        const batch = q.pending.splice(0, this.maxBatch);
        this.send(
          batch.map((p) => p.client),
          q.limits,
        ).then(
          (verdicts) => batch.forEach((p, i) => (verdicts[i] ? p.resolve(verdicts[i]!) : p.reject(new Error('rate-limit.lua returned fewer verdicts than keys')))),
          (err: unknown) => batch.forEach((p) => p.reject(err)),
        );
      }
    }
  }
}
