import type { Histogram } from 'prom-client';

/** The part of prom-client's Histogram (15.x) that a batch writes into: one series per label set. */
interface SeriesValues {
  labels: Record<string, string | number>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}
interface HistogramInternals {
  hashMap: Record<string, SeriesValues>;
  upperBounds: readonly number[];
  zero(labels: Record<string, string | number>): void;
}

/** True when `h` has the internals a batch relies on; otherwise batches observe one by one. */
function hasInternals(h: unknown): h is HistogramInternals {
  const i = h as Partial<HistogramInternals>;
  return typeof i.hashMap === 'object' && i.hashMap !== null && Array.isArray(i.upperBounds) && typeof i.zero === 'function';
}

/**
 * One series of a prom-client Histogram fed once per event-loop turn instead
 * of once per observation. prom-client's observe() makes a closure, validates
 * and hashes the label set and then finds the bucket on every call: ~0.6 µs,
 * 2% of a GET /status. Here an observation is a bucket search and three
 * additions on plain numbers, and the turn's sum, count and bucket counts are
 * added to the series in one go from a setImmediate, so a scrape sees every
 * observation made before the turn it runs in (as TurnCounter does for
 * counters). The series is exported exactly as if each value had been
 * observed: same name, labels, buckets, sum and count
 * (test/unit/turn-histogram.test.ts compares the two).
 *
 * It writes into prom-client's per-series record (hashMap), which is not
 * public API: if a prom-client upgrade changes it, hasInternals fails and every
 * value is observed one by one again (slower, never wrong), and the test fails.
 */
export class TurnHistogram<T extends string> {
  private readonly bounds: readonly number[];
  /** Per bucket, not cumulative; a value above the last bound is only counted (prom-client's +Inf). */
  private readonly pending: number[];
  private sum = 0;
  private count = 0;
  private scheduled = false;
  /** The hashMap key of this series, once found. */
  private key: string | undefined;
  private readonly batched: boolean;

  constructor(
    private readonly histogram: Histogram<T>,
    private readonly labels: Readonly<Record<T, string | number>>,
  ) {
    this.batched = hasInternals(histogram);
    this.bounds = this.batched ? (histogram as unknown as HistogramInternals).upperBounds : [];
    this.pending = this.bounds.map(() => 0);
  }

  observe(value: number): void {
    if (!this.batched || !Number.isFinite(value)) {
      // prom-client's own checks (and its TypeError for a non-finite value).
      this.histogram.observe(this.labels as never, value);
      return;
    }
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    if (i < b.length) this.pending[i]!++;
    this.sum += value;
    this.count++;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Adds the pending observations to the series. */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.count === 0) return;
    const s = this.series();
    for (let i = 0; i < this.bounds.length; i++) {
      const n = this.pending[i]!;
      if (n === 0) continue;
      s.bucketValues[this.bounds[i]!]! += n;
      this.pending[i] = 0;
    }
    s.sum += this.sum;
    s.count += this.count;
    this.sum = 0;
    this.count = 0;
  };

  /** prom-client's record of this series, made (zeroed) when missing: after a reset() or remove() too. */
  private series(): SeriesValues {
    const h = this.histogram as unknown as HistogramInternals;
    const known = this.key === undefined ? undefined : h.hashMap[this.key];
    if (known && this.sameLabels(known.labels)) return known;
    for (let pass = 0; pass < 2; pass++) {
      // reset() replaces the map: read it afresh on each pass.
      const map = h.hashMap;
      for (const k in map) {
        if (this.sameLabels(map[k]!.labels)) {
          this.key = k;
          return map[k]!;
        }
      }
      h.zero({ ...this.labels });
    }
    throw new Error('prom-client did not create the histogram series');
  }

  private sameLabels(l: Record<string, string | number>): boolean {
    const mine = this.labels as Record<string, string | number>;
    let n = 0;
    for (const k in l) {
      if (String(l[k]) !== String(mine[k])) return false;
      n++;
    }
    return n === Object.keys(mine).length;
  }
}
