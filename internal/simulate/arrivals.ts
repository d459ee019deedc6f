import type { Arrivals } from './scenario';
import { Random } from './random';

/**
 * Turns an arrival curve into visitors' arrival instants (whole milliseconds from t = 0,
 * the store clock's resolution), sorted. Rates are per second; a fractional rate carries
 * over from one second to the next (0.5 a second is one visitor every two seconds), so the
 * total is the curve's integral rounded down, never a random number. Within a second the
 * instants are uniform draws from the seeded generator.
 */

/** Visitors arriving in each second [i, i + 1) of the curve. */
export function countsPerSecond(a: Arrivals, csvCounts?: readonly number[]): number[] {
  switch (a.kind) {
    case 'steps': {
      const steps = [...a.steps].sort((x, y) => x.fromSecond - y.fromSecond);
      const end = Math.ceil(a.untilSecond);
      return fromCumulative(end, (t) => {
        let total = 0;
        for (let i = 0; i < steps.length; i++) {
          const from = steps[i]!.fromSecond;
          if (t <= from) break;
          const to = Math.min(t, i + 1 < steps.length ? steps[i + 1]!.fromSecond : a.untilSecond);
          total += steps[i]!.perSecond * (to - from);
        }
        return total;
      });
    }
    case 'burst': {
      const end = Math.ceil(a.untilSecond ?? a.atSecond + a.overSeconds);
      const T = a.overSeconds;
      return fromCumulative(end, (t) => {
        const u = Math.min(Math.max(0, t - a.atSecond), T) / T;
        // falling: rate 2V/T·(1 − u), whose integral is V·(1 − (1 − u)²); flat: V·u.
        const burst = a.shape === 'falling' ? a.visitors * (1 - (1 - u) * (1 - u)) : a.visitors * u;
        return burst + a.backgroundPerSecond * t;
      });
    }
    case 'csv':
      if (!csvCounts) throw new Error('a csv arrival curve needs its counts (loadScenario reads the file)');
      return [...csvCounts];
    case 'times': {
      const counts: number[] = [];
      for (const s of a.seconds) {
        const i = Math.floor(s);
        while (counts.length <= i) counts.push(0);
        counts[i]! += 1;
      }
      return counts;
    }
  }
}

/** Integer counts per second from a cumulative curve: floor(F(i + 1)) − floor(F(i)). */
function fromCumulative(seconds: number, F: (t: number) => number): number[] {
  const counts = new Array<number>(seconds);
  let before = 0;
  for (let i = 0; i < seconds; i++) {
    // The epsilon keeps 299.99999999 (a float sum) from losing a visitor.
    const upto = Math.floor(F(i + 1) + 1e-9);
    counts[i] = Math.max(0, upto - before);
    before = Math.max(before, upto);
  }
  return counts;
}

/** Parses CSV counts: one count per line, or "second,count" lines; a non-numeric first line is a header. */
export function parseCountsCsv(text: string): number[] {
  const counts: number[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, n) => {
    const l = line.trim();
    if (l === '' || l.startsWith('#')) return;
    const cells = l.split(/[,;\t]/).map((c) => c.trim());
    const nums = cells.map(Number);
    if (nums.some((x) => !Number.isFinite(x))) {
      if (n === 0) return; // a header
      throw new Error(`arrivals CSV line ${n + 1}: "${l}" is not a count or a "second,count" pair`);
    }
    if (nums.length === 1) {
      counts.push(checkCount(nums[0]!, n));
    } else if (nums.length === 2) {
      const s = nums[0]!;
      if (!Number.isInteger(s) || s < 0 || s > 30 * 86_400) throw new Error(`arrivals CSV line ${n + 1}: second ${s} is not a whole second in [0, 2592000]`);
      while (counts.length <= s) counts.push(0);
      counts[s]! += checkCount(nums[1]!, n);
    } else {
      throw new Error(`arrivals CSV line ${n + 1}: expected 1 or 2 columns, got ${nums.length}`);
    }
  });
  if (counts.length === 0) throw new Error('arrivals CSV has no counts');
  return counts;
}

function checkCount(c: number, line: number): number {
  if (!Number.isInteger(c) || c < 0 || c > 1_000_000) throw new Error(`arrivals CSV line ${line + 1}: count ${c} is not a whole number in [0, 1000000]`);
  return c;
}

/** Arrival instants in ms, sorted; `exact` (the 'times' curve) keeps the given instants. */
export function arrivalTimesMs(a: Arrivals, seed: number, csvCounts?: readonly number[]): Float64Array {
  if (a.kind === 'times') {
    const out = Float64Array.from(a.seconds, (s) => Math.round(s * 1000));
    return out.sort();
  }
  const counts = countsPerSecond(a, csvCounts);
  const total = counts.reduce((x, y) => x + y, 0);
  const out = new Float64Array(total);
  const rnd = new Random(seed, 0);
  let k = 0;
  for (let i = 0; i < counts.length; i++) {
    const start = k;
    for (let j = 0; j < counts[i]!; j++) out[k++] = i * 1000 + Math.floor(rnd.next() * 1000);
    out.subarray(start, k).sort();
  }
  return out;
}
