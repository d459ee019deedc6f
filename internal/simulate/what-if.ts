import { countsPerSecond } from './arrivals';
import { parseScenario, ScenarioError, type Scenario } from './scenario';
import { simulate, type SimulationResult } from './simulation';
import { summarize, type Summary } from './summary';

/**
 * The console's "what if" panel (docs/simulator.md, "In the console"): the same simulation
 * as `npm run simulate`, run in a Web Worker of the operator's browser on the queue's own
 * arrival curve, bounded so the tab stays responsive. The bounds are a few seconds of work
 * on a laptop: the stadium of the docs (200,000 visitors, 4 h of virtual time) takes about
 * 3 s in Node; a browser's JavaScript engine is the same V8 or of its speed.
 */
export const WHAT_IF_LIMITS = Object.freeze({
  /** Visitors in one run. */
  visitors: 200_000,
  /** Virtual time simulated at most (24 h): a run that has not finished by then is cut short and says so. */
  horizonSeconds: 86_400,
  /** Points per chart line. */
  points: 600,
});

/** What the panel draws with uPlot: one row per time bucket (seconds from t = 0). */
export interface WhatIfSeries {
  readonly t: number[];
  readonly arrived: number[];
  readonly admitted: number[];
  readonly waiting: number[];
  readonly onSite: number[];
  readonly occupancy: number[];
}

export interface WhatIfResult {
  /** The scenario as run (validated, limits applied): `npm run simulate` on it prints the same summary. */
  readonly scenario: Scenario;
  readonly summary: Summary;
  readonly series: WhatIfSeries;
}

/** A scenario the panel may not run: too many visitors for a browser tab. */
export class WhatIfLimitError extends ScenarioError {}

/** Validates the scenario (the CLI's schema), applies the limits and runs it. */
export async function runWhatIf(raw: unknown): Promise<WhatIfResult> {
  const parsed = parseScenario(raw);
  if (parsed.arrivals.kind === 'csv') throw new ScenarioError(['arrivals.kind: the panel takes steps, burst or times, not a CSV file']);
  const visitors = parsed.arrivals.kind === 'times' ? parsed.arrivals.seconds.length : countsPerSecond(parsed.arrivals).reduce((a, b) => a + b, 0);
  if (visitors > WHAT_IF_LIMITS.visitors) {
    throw new WhatIfLimitError([`arrivals: ${visitors} visitors, more than the ${WHAT_IF_LIMITS.visitors} a browser run takes; use npm run simulate`]);
  }
  const horizonSeconds = Math.min(parsed.horizonSeconds ?? WHAT_IF_LIMITS.horizonSeconds, WHAT_IF_LIMITS.horizonSeconds);
  const scenario: Scenario = { ...parsed, horizonSeconds };
  const result = await simulate(scenario);
  return { scenario, summary: summarize(result), series: whatIfSeries(result) };
}

/** Buckets of equal width (whole seconds) over the run, at most WHAT_IF_LIMITS.points of them. */
export function whatIfSeries(r: SimulationResult): WhatIfSeries {
  const endS = Math.max(1, Math.ceil(r.endMs / 1000));
  const width = Math.max(1, Math.ceil(endS / WHAT_IF_LIMITS.points));
  const buckets = Math.ceil(endS / width) + 1;
  const zeros = () => new Array<number>(buckets).fill(0);
  const s = { t: zeros().map((_, i) => i * width), arrived: zeros(), admitted: zeros(), waiting: zeros(), onSite: zeros(), occupancy: zeros() };
  const v = r.visitors;
  const at = (ms: number) => Math.min(buckets - 1, Math.ceil(ms / 1000 / width));
  for (let i = 0; i < v.arrivedMs.length; i++) {
    s.arrived[at(v.arrivedMs[i]!)]! += 1;
    // Admissions that reached a present visitor (a ticket whose visitor gave up admits nobody).
    if (!Number.isNaN(v.admittedMs[i]!) && Number.isNaN(v.gaveUpMs[i]!)) s.admitted[at(v.admittedMs[i]!)]! += 1;
  }
  for (let b = 1; b < buckets; b++) {
    s.arrived[b]! += s.arrived[b - 1]!;
    s.admitted[b]! += s.admitted[b - 1]!;
  }
  // The most in each bucket, from the per-second maxima (second k falls in bucket ceil(k / width)).
  const most = (xs: readonly number[], out: number[]) =>
    xs.forEach((x, k) => {
      const b = Math.min(buckets - 1, Math.ceil(k / width));
      if (x > out[b]!) out[b] = x;
    });
  most(r.perSecond.waitingMax, s.waiting);
  most(r.perSecond.onSiteMax, s.onSite);
  most(r.perSecond.occupancyMax, s.occupancy);
  return s;
}
