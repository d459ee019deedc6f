import { z } from 'zod';

/**
 * A sale to simulate (docs/simulator.md, "Scenario format"). Times are seconds from the
 * start of the simulation (t = 0), so one file describes any date. Validated with zod,
 * the schema library the admin API validates with; unknown fields are refused so a typo
 * ("windowsize") is an error, never a silently ignored setting.
 */

/** Arrivals per second held from `fromSecond` until the next step (or the end). */
const StepSchema = z.strictObject({
  fromSecond: z.number().min(0),
  perSecond: z.number().min(0).max(1_000_000),
});

const ArrivalsSchema = z.discriminatedUnion('kind', [
  /** A piecewise-constant rate: `[{ fromSecond: 0, perSecond: 300 }, { fromSecond: 600, perSecond: 20 }]`. */
  z.strictObject({
    kind: z.literal('steps'),
    steps: z.array(StepSchema).min(1).max(100_000),
    untilSecond: z.number().positive(),
  }),
  /**
   * A crowd at the opening: `visitors` spread over `overSeconds` with a rate that falls
   * linearly to 0 (most arrive first), optionally on top of a steady `backgroundPerSecond`.
   */
  z.strictObject({
    kind: z.literal('burst'),
    atSecond: z.number().min(0).default(0),
    visitors: z.number().int().min(0).max(50_000_000),
    overSeconds: z.number().positive(),
    shape: z.enum(['falling', 'flat']).default('falling'),
    backgroundPerSecond: z.number().min(0).default(0),
    untilSecond: z.number().positive().optional(),
  }),
  /** Counts per second from a CSV file (one count per line, or "second,count" lines; a header is allowed). */
  z.strictObject({
    kind: z.literal('csv'),
    file: z.string().min(1),
  }),
  /** Exact arrival times (seconds), for hand-computable tests and for replaying a recorded run. */
  z.strictObject({
    kind: z.literal('times'),
    seconds: z.array(z.number().min(0)).max(10_000_000),
  }),
]);

const QueueSchema = z.strictObject({
  /** S: tickets admitted per advance (1 to 1e9, the bounds the scripts check). */
  windowSize: z.number().int().min(1).max(1_000_000_000),
  /** I in seconds (0.05 s to 7 days, the admin API's bounds). */
  intervalSeconds: z.number().min(0.05).max(604_800),
  /** K: windows a ticket stays active for. */
  activeWindowCount: z.number().int().min(1).max(1_000_000).default(1),
  /** Seconds from t = 0 at which the queue opens (a pre-queue before it); 0 = open from the start. */
  opensAtSecond: z.number().min(0).default(0),
  /**
   * The capacity cap of "Fill the site, never flood it": at most this many admitted visitors
   * at once (docs/system.md, "Occupancy"), enforced by the embedded store's own accounting.
   */
  maxActive: z.number().int().min(1).max(1_000_000_000).optional(),
  /** Skip visitors who left while waiting, so each advance admits S present ones (same condition). */
  compensateNoShows: z.boolean().default(false),
});

const BehaviourSchema = z.strictObject({
  /** Visitors who give up: `share` of everyone leaves if still waiting after `afterMinutes`. */
  giveUp: z
    .strictObject({
      share: z.number().min(0).max(1),
      afterMinutes: z.number().positive(),
    })
    .default({ share: 0, afterMinutes: 60 }),
  /** Share of admitted visitors who never come to the site (they closed the tab silently): they never claim. */
  noShowShare: z.number().min(0).max(1).default(0),
  /**
   * Seconds between an admission and the visitor's claim (POST /claim), drawn uniformly from
   * [0, claimWithinSeconds]: the page noticing the admission and the browser's round trip.
   * A claim after the ticket's claim window closed takes a new place, which a full site refuses.
   */
  claimWithinSeconds: z.number().min(0).max(86_400).default(0),
  /**
   * Share of departures the site reports (POST /passes/done, which frees the place at once);
   * the passes of the others run until they expire (site.passTtlMinutes).
   */
  reportedDoneShare: z.number().min(0).max(1).default(1),
  /** How long a visitor stays on the site once admitted. */
  timeOnSite: z
    .strictObject({
      distribution: z.enum(['fixed', 'exponential', 'uniform']).default('exponential'),
      /** The mean (fixed, exponential) or the lower end (uniform). */
      minutes: z.number().positive(),
      /** The upper end, for uniform only. */
      maxMinutes: z.number().positive().optional(),
    })
    .refine((t) => t.distribution !== 'uniform' || (t.maxMinutes !== undefined && t.maxMinutes >= t.minutes), {
      message: 'a uniform time on site needs maxMinutes >= minutes',
    }),
});

export const ScenarioSchema = z.strictObject({
  name: z.string().min(1).max(200).default('scenario'),
  /** Seed of the pseudo-random draws (arrival instants within a second, give-ups, no-shows, time on site). */
  seed: z.number().int().min(0).max(2 ** 32 - 1).default(1),
  arrivals: ArrivalsSchema,
  queue: QueueSchema,
  visitors: BehaviourSchema,
  site: z.strictObject({
    /** Visitors the protected site holds at once. */
    capacity: z.number().int().min(1),
    /** How long a pass is valid (the server's PASS_TTL, default 900 s): an unreported visitor's place frees then. */
    passTtlMinutes: z.number().positive().max(10_080).default(15),
  }),
  /** Where to stop; default: one hour after the last arrival, or when everybody has left. */
  horizonSeconds: z.number().positive().max(30 * 86_400).optional(),
  /** Width of the time buckets of the timelines and plots (default: chosen from the horizon). */
  sampleSeconds: z.number().positive().optional(),
});

export type Scenario = z.output<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;
export type Arrivals = Scenario['arrivals'];

/** A scenario that does not validate: every failing field with its path. */
export class ScenarioError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid scenario:\n  ${problems.join('\n  ')}`);
    this.name = 'ScenarioError';
  }
}

/** Parses and validates a scenario (already read from JSON). */
export function parseScenario(raw: unknown): Scenario {
  const r = ScenarioSchema.safeParse(raw);
  if (r.success) return r.data;
  throw new ScenarioError(r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
}
