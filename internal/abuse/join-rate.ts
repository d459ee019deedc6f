/**
 * Joins per second over the whole queue, from readings of the ticket counter that
 * each replica already receives (its state cache is refreshed by pub/sub, by its
 * own joins and every STATE_REFRESH_MS): no extra Redis call and no coordination
 * between replicas. The rate is the counter's rise over the readings of the last
 * `spanMs` (at least `minSpanMs` apart, so two readings 3 ms apart cannot make a
 * huge rate). A new epoch restarts the count. The clock is passed in.
 *
 * A reading within `spanMs / 50` of the one before the newest replaces the newest, so any
 * two readings but the next one are a granule apart; they live in a fixed ring of numbers:
 * at most ~104 per queue however fast it is joined (1.8 KB), and
 * nothing allocated per reading. Before, a reading object per join batch lived for the
 * whole span, long enough to be promoted, and old ones left by Array.shift: with joins
 * spread over 1,000 queues that listener was 2.5% of a join's sampled CPU in a profile
 * (docs/benchmarks.md, "Joins spread over many queues"). The window's start is at most
 * 2% of the span coarser than the exact readings'.
 */
/** The span is divided into this many granules: a reading per granule is kept, and one more. */
const GRANULES = 50;

export class JoinRateMeter {
  private epoch = '';
  private readonly counters: Float64Array;
  private readonly times: Float64Array;
  /** Ring: the oldest reading is at `head`, `size` readings in all. */
  private head = 0;
  private size = 0;
  private readonly granularityMs: number;

  constructor(
    private readonly spanMs = 5000,
    private readonly minSpanMs = 500,
  ) {
    this.granularityMs = spanMs / GRANULES;
    // Every other reading is a granule apart: at most two per granule of the span (101 seen
    // with pairs 1 ms apart every 100 ms), plus the two kept before it; 10 more to spare, so
    // that the oldest-goes branch below is never reached with readings in time order.
    const capacity = 2 * GRANULES + 12;
    this.counters = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
  }

  /** One reading: the queue's counter in `epoch`, as learned at `atMs` (this replica's clock). */
  add(epoch: string, counter: number, atMs: number): void {
    const cap = this.counters.length;
    if (this.size > 0) {
      const last = (this.head + this.size - 1) % cap;
      // A new epoch, or a counter that went down (Redis lost data): the count starts again,
      // from this reading. (The meter before kept nothing of a lower reading made at or before
      // the newest one's time; starting from it is as right and simpler.)
      if (epoch !== this.epoch || counter < this.counters[last]!) this.size = 0;
      else if (atMs <= this.times[last]!) {
        // Same or older reading time: keep the higher counter only.
        if (counter > this.counters[last]!) this.counters[last] = counter;
        return;
      } else if (this.size >= 2 && atMs - this.times[(last - 1 + cap) % cap]! < this.granularityMs) {
        // Within a granule of the reading before the newest: the newest moves forward.
        this.counters[last] = counter;
        this.times[last] = atMs;
        this.prune(atMs);
        return;
      }
    }
    this.epoch = epoch;
    if (this.size === cap) {
      // Not reached with readings in time order (at most ~104 fit in a span); if it were,
      // the oldest goes, never the newest.
      this.head = (this.head + 1) % cap;
      this.size--;
    }
    const at = (this.head + this.size) % cap;
    this.counters[at] = counter;
    this.times[at] = atMs;
    this.size++;
    this.prune(atMs);
  }

  /** Drops readings older than the span before `atMs`, keeping at least two. */
  private prune(atMs: number): void {
    const from = atMs - this.spanMs;
    const cap = this.counters.length;
    while (this.size > 2 && this.times[this.head]! < from) {
      this.head = (this.head + 1) % cap;
      this.size--;
    }
  }

  /** How many readings are held (bounded by the ring). */
  get readings(): number {
    return this.size;
  }

  /** Joins per second over the recent readings; 0 when not known yet or quiet. */
  perSecond(nowMs: number): number {
    if (this.size < 2) return 0;
    const cap = this.counters.length;
    const first = this.head;
    const last = (this.head + this.size - 1) % cap;
    // A reading older than the span says nothing about now: the queue went quiet.
    if (nowMs - this.times[last]! > this.spanMs) return 0;
    const span = Math.max(this.minSpanMs, this.times[last]! - this.times[first]!);
    return ((this.counters[last]! - this.counters[first]!) * 1000) / span;
  }
}
