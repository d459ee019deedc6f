/** One reading of the queue's ticket counter: it counts every join on every replica. */
export interface CounterSample {
  readonly epoch: string;
  readonly counter: number;
  /** Store clock when read, ms. */
  readonly atMs: number;
}

/**
 * Joins per second over the whole queue, from readings of the ticket counter that
 * each replica already receives (its state cache is refreshed by pub/sub, by its
 * own joins and every STATE_REFRESH_MS): no extra Redis call and no coordination
 * between replicas. The rate is the counter's rise over the readings of the last
 * `spanMs` (at least `minSpanMs` apart, so two readings 3 ms apart cannot make a
 * huge rate). A new epoch restarts the count. The clock is passed in.
 */
export class JoinRateMeter {
  private samples: CounterSample[] = [];

  constructor(
    private readonly spanMs = 5000,
    private readonly minSpanMs = 500,
  ) {}

  add(s: CounterSample): void {
    const last = this.samples[this.samples.length - 1];
    if (last && (last.epoch !== s.epoch || s.counter < last.counter)) this.samples = [];
    if (last && last.epoch === s.epoch && s.atMs <= last.atMs) {
      // Same or older reading time: keep the higher counter only.
      if (s.counter > last.counter) this.samples[this.samples.length - 1] = { ...last, counter: s.counter };
      return;
    }
    this.samples.push(s);
    const from = s.atMs - this.spanMs;
    while (this.samples.length > 2 && this.samples[0]!.atMs < from) this.samples.shift();
  }

  /** Joins per second over the recent readings; 0 when not known yet or quiet. */
  perSecond(nowMs: number): number {
    const n = this.samples.length;
    if (n < 2) return 0;
    const first = this.samples[0]!;
    const last = this.samples[n - 1]!;
    // A reading older than the span says nothing about now: the queue went quiet.
    if (nowMs - last.atMs > this.spanMs) return 0;
    const span = Math.max(this.minSpanMs, last.atMs - first.atMs);
    return ((last.counter - first.counter) * 1000) / span;
  }
}
