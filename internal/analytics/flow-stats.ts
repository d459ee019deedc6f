/**
 * Figures of a queue's cumulative flow: pure functions of its samples (no I/O,
 * no clock; test/unit/flow-stats.test.ts checks them against small queues whose
 * every visitor's wait is known).
 *
 * The two curves are step functions: issued A(t) and admitted D(t) hold a
 * sample's value from its time until the next sample. D is clamped to A
 * (W starts S ahead of the counter and stays ahead while nobody waits: those
 * numbers are free places, not visitors). Then, for visitor n,
 *   joined(n)   = the first sample time with A ≥ n,
 *   admitted(n) = the first sample time with D ≥ n,
 * and the time in queue is admitted(n) − joined(n): the horizontal gap between
 * the curves. The queue length at t is A(t) − D(t): the vertical gap. With one
 * sample per second, each time is the sample at or after the event, so a wait is
 * exact to within one sample period.
 *
 * A counter that goes down is a new epoch (the queue was re-created): figures
 * are computed from the last such reset on.
 */

export interface FlowPoint {
  readonly t: number;
  readonly issued: number;
  readonly admitted: number;
}

export interface WaitStats {
  /** Visitors admitted in the range whose join time is in the samples. */
  readonly visitors: number;
  /** Visitors admitted in the range who joined before the first sample (their wait is unknown). */
  readonly withoutJoinTime: number;
  /** Seconds; null when no visitor was counted. Nearest-rank percentiles. */
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

export interface QueueLength {
  /** A − D at the end of the range. */
  readonly current: number;
  /** The largest A − D in the range. */
  readonly max: number;
}

export interface Series {
  readonly t: number[];
  readonly issued: Array<number | null>;
  readonly admitted: Array<number | null>;
}

export interface PerMinute {
  /** Start of each minute, ms. */
  readonly t: number[];
  readonly joins: Array<number | null>;
  readonly admissions: Array<number | null>;
}

/** Samples sorted by time, admitted clamped to issued, from the last counter reset on. */
export function normalise(samples: readonly FlowPoint[]): FlowPoint[] {
  const sorted = [...samples].sort((a, b) => a.t - b.t);
  let start = 0;
  for (let i = 1; i < sorted.length; i++) if (sorted[i]!.issued < sorted[i - 1]!.issued) start = i;
  return sorted.slice(start).map((s) => ({ t: s.t, issued: s.issued, admitted: Math.min(s.admitted, s.issued) }));
}

/** The last sample at or before t, or undefined. Samples sorted by t. */
function at(samples: readonly FlowPoint[], t: number): FlowPoint | undefined {
  let lo = 0;
  let hi = samples.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (samples[mid]!.t <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? samples[lo - 1] : undefined;
}

/** Nearest rank: the smallest wait w such that at least ceil(p·N) visitors waited w or less. */
function percentile(pieces: ReadonlyArray<readonly [wait: number, count: number]>, total: number, p: number): number {
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (const [wait, count] of pieces) {
    seen += count;
    if (seen >= rank) return wait;
  }
  return pieces[pieces.length - 1]![0];
}

/**
 * Time in queue of every visitor admitted in (fromMs, toMs], from the samples
 * (which should reach back far enough to hold their joins). Merges the two
 * step curves in one pass: O(samples), however many visitors.
 */
export function waitStats(raw: readonly FlowPoint[], fromMs: number, toMs: number): WaitStats {
  const s = normalise(raw);
  const empty: WaitStats = { visitors: 0, withoutJoinTime: 0, p50: null, p90: null, p99: null, max: null };
  if (s.length === 0) return empty;
  // Join segments: tickets (lo, hi] joined at t. Tickets up to the first sample's count have no join time.
  const joins: Array<{ lo: number; hi: number; t: number }> = [];
  for (let i = 1; i < s.length; i++) if (s[i]!.issued > s[i - 1]!.issued) joins.push({ lo: s[i - 1]!.issued, hi: s[i]!.issued, t: s[i]!.t });
  const unknownUpTo = s[0]!.issued;
  const pieces: Array<[number, number]> = [];
  let withoutJoinTime = 0;
  let j = 0;
  for (let i = 1; i < s.length; i++) {
    const prev = s[i - 1]!;
    const cur = s[i]!;
    if (cur.admitted <= prev.admitted) continue;
    // Tickets (prev.admitted, cur.admitted] were admitted at cur.t.
    let lo = prev.admitted;
    const hi = cur.admitted;
    const counted = cur.t > fromMs && cur.t <= toMs;
    if (lo < unknownUpTo) {
      const n = Math.min(hi, unknownUpTo) - lo;
      if (counted) withoutJoinTime += n;
      lo += n;
    }
    while (lo < hi) {
      while (j < joins.length && joins[j]!.hi <= lo) j++;
      const seg = joins[j];
      if (!seg) break; // cannot happen: admitted is clamped to issued
      const upto = Math.min(hi, seg.hi);
      if (counted) pieces.push([(cur.t - seg.t) / 1000, upto - lo]);
      lo = upto;
    }
  }
  const total = pieces.reduce((n, p) => n + p[1], 0);
  if (total === 0) return { ...empty, withoutJoinTime };
  pieces.sort((a, b) => a[0] - b[0]);
  return {
    visitors: total,
    withoutJoinTime,
    p50: percentile(pieces, total, 0.5),
    p90: percentile(pieces, total, 0.9),
    p99: percentile(pieces, total, 0.99),
    max: pieces[pieces.length - 1]![0],
  };
}

/** Queue length A − D at the end of the range and its largest value in the range (0 with no data). */
export function queueLength(raw: readonly FlowPoint[], fromMs: number, toMs: number): QueueLength {
  const s = normalise(raw);
  const first = at(s, fromMs);
  let max = first ? first.issued - first.admitted : 0;
  for (const p of s) if (p.t > fromMs && p.t <= toMs) max = Math.max(max, p.issued - p.admitted);
  const last = at(s, toMs);
  return { current: last ? last.issued - last.admitted : 0, max };
}

/**
 * The curves on a regular grid from fromMs to toMs every stepMs, each point the
 * last sample at or before it (null before the first sample): what the chart draws.
 */
export function resample(raw: readonly FlowPoint[], fromMs: number, toMs: number, stepMs: number): Series {
  const s = normalise(raw);
  const out: Series = { t: [], issued: [], admitted: [] };
  let i = 0;
  let cur: FlowPoint | undefined;
  for (let t = fromMs; t <= toMs; t += stepMs) {
    while (i < s.length && s[i]!.t <= t) cur = s[i++];
    out.t.push(t);
    out.issued.push(cur ? cur.issued : null);
    out.admitted.push(cur ? cur.admitted : null);
  }
  return out;
}

/** Joins and admissions in each whole minute that starts in [fromMs, toMs) (null where no sample precedes the minute's start). */
export function perMinute(raw: readonly FlowPoint[], fromMs: number, toMs: number): PerMinute {
  const s = normalise(raw);
  const out: PerMinute = { t: [], joins: [], admissions: [] };
  for (let t = Math.ceil(fromMs / 60_000) * 60_000; t < toMs; t += 60_000) {
    const a = at(s, t);
    const b = at(s, Math.min(t + 60_000, toMs));
    out.t.push(t);
    out.joins.push(a && b ? b.issued - a.issued : null);
    out.admissions.push(a && b ? b.admitted - a.admitted : null);
  }
  return out;
}
