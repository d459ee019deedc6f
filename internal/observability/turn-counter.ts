import type { Counter } from 'prom-client';

/**
 * A prom-client Counter fed once per event-loop turn instead of once per event:
 * prom-client hashes the label set on every inc() (~0.5-1 µs), and a turn under
 * load handles many requests with the same labels, so they are added up under a
 * caller-chosen key (the label values joined, or any value that stands for the
 * label set, such as a status code) and handed over in one inc() per key from a
 * setImmediate. A scrape sees every event counted before the turn it runs in.
 */
export class TurnCounter<T extends string, K = string> {
  private readonly pending = new Map<K, { labels: Partial<Record<T, string | number>>; n: number }>();
  private scheduled = false;

  constructor(
    private readonly counter: Counter<T>,
    /** Distinct keys kept between turns; keys are bounded label sets, this is a backstop. */
    private readonly maxKeys = 1024,
  ) {}

  /**
   * Counts one event; `labels` is only called the first time `key` is seen (a
   * function made once and given the key avoids a closure per event).
   */
  inc(key: K, labels: (key: K) => Partial<Record<T, string | number>>): void {
    const e = this.pending.get(key);
    if (e) e.n++;
    else this.pending.set(key, { labels: labels(key), n: 1 });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Hands the counts to prom-client; entries stay (zeroed), since the same keys come back every turn. */
  readonly flush = (): void => {
    this.scheduled = false;
    for (const e of this.pending.values()) {
      if (e.n === 0) continue;
      this.counter.inc(e.labels, e.n);
      e.n = 0;
    }
    if (this.pending.size > this.maxKeys) this.pending.clear();
  };
}
