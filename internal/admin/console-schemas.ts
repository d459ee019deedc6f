import { QueueIdSchema, QueueStateSchema, z } from '../queues/queue-settings';

/*
 * The schemas of the console's API routes (stats, ticket lookup, summary,
 * rate preview): the routes validate with them and the OpenAPI document is
 * generated from them (registerConsoleApi in console-openapi.ts).
 */

const Ms = z.number().int().openapi({ description: 'ms since the Unix epoch, in the store\'s clock' });
const Count = z.number().int().min(0);
const Seconds = z.number().nullable().openapi({ description: 'seconds; null when there is nothing to measure' });

export const StatsQuerySchema = z
  .object({
    from: z.coerce.number().int().min(0).optional().openapi({ description: 'Start, ms since the Unix epoch; default 15 minutes before `to`' }),
    to: z.coerce.number().int().min(0).optional().openapi({ description: 'End, ms since the Unix epoch; default now' }),
    step: z.coerce
      .number()
      .int()
      .min(1000)
      .max(86_400_000)
      .optional()
      .openapi({ description: 'Spacing of the series, ms (at least 1000); default the range over 300 points, rounded to a whole second or minute' }),
  })
  .strict();
export type StatsQuery = z.infer<typeof StatsQuerySchema>;

export const PassFiguresSchema = z
  .object({
    claimed: Count.openapi({ description: 'Passes issued (one per claimed ticket)' }),
    completed: Count.openapi({ description: 'Passes the site reported done as completed' }),
    abandoned: Count.openapi({ description: 'Passes reported abandoned, plus those that expired unreported' }),
    timedOut: Count.openapi({ description: 'The part of abandoned that expired unreported' }),
    active: Count.openapi({ description: 'Passes issued, unexpired and not done: visitors presumably on the site' }),
  })
  .strict()
  .openapi('PassFigures');

export const QueueStatsSchema = z
  .object({
    queue: QueueIdSchema,
    from: Ms,
    to: Ms,
    step: z.number().int().openapi({ description: 'Spacing of `series`, ms' }),
    resolution: z.enum(['second', 'minute']).openapi({ description: 'Which samples the figures come from: by the second (last hour) or by the minute (7 days)' }),
    series: z
      .object({
        t: z.array(Ms),
        issued: z.array(z.number().int().nullable()).openapi({ description: 'Tickets issued by t (the counter); null before the first sample' }),
        admitted: z.array(z.number().int().nullable()).openapi({ description: 'Tickets admitted by t (W, at most the counter)' }),
      })
      .strict()
      .openapi({ description: 'The cumulative flow, column arrays on a regular grid, each value the last sample at or before t' }),
    timeInQueue: z
      .object({
        visitors: Count.openapi({ description: 'Visitors admitted in the range with a known join time' }),
        withoutJoinTime: Count.openapi({ description: 'Visitors admitted in the range who joined before the oldest sample' }),
        p50: Seconds,
        p90: Seconds,
        p99: Seconds,
        max: Seconds,
      })
      .strict()
      .openapi({ description: 'Time in queue of the visitors admitted in the range: the horizontal gap between the curves (nearest-rank percentiles)' }),
    queueLength: z
      .object({ current: Count, max: Count })
      .strict()
      .openapi({ description: 'Visitors waiting (issued − admitted): at the end of the range and the most in the range' }),
    perMinute: z
      .object({ t: z.array(Ms), joins: z.array(z.number().int().nullable()), admissions: z.array(z.number().int().nullable()) })
      .strict()
      .openapi({ description: 'Joins and admissions in each whole minute of the range' }),
    passes: PassFiguresSchema,
  })
  .strict()
  .openapi('QueueStats');
export type QueueStats = z.infer<typeof QueueStatsSchema>;

export const TicketParamsSchema = z.object({
  id: QueueIdSchema,
  n: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).openapi({ description: 'Ticket number', example: 42 }),
});

export const TicketLookupQuerySchema = z
  .object({ epoch: z.string().min(1).max(64).optional().openapi({ description: 'The ticket\'s epoch; default the queue\'s current one' }) })
  .strict();

export const TicketLookupSchema = z
  .object({
    queue: QueueIdSchema,
    ticket: z.number().int(),
    epoch: z.string(),
    currentEpoch: z.boolean().openapi({ description: 'false: the ticket is from an earlier epoch and cannot be honoured (409 queue_reset for the visitor)' }),
    status: z.enum(['waiting', 'active', 'expired', 'skipped', 'not_issued']),
    position: Count,
    ahead: Count,
    etaSeconds: z.number().int().nullable(),
    activeForSeconds: Count,
    pass: z
      .object({
        claimed: z.boolean().openapi({ description: 'A claim is on record (kept for the ticket\'s lifetime only)' }),
        state: z.enum(['none', 'active', 'done', 'expired']).openapi({
          description: 'active: valid and not done; done: the site reported it completed or abandoned, so the gate refuses it (revoked); expired: past its exp',
        }),
        jti: z.string().nullable(),
        expiresAt: z.iso.datetime().nullable(),
      })
      .strict(),
  })
  .strict()
  .openapi('TicketLookup');
export type TicketLookup = z.infer<typeof TicketLookupSchema>;

const EtaPair = z
  .object({ newestTicket: Seconds, joiningNow: Seconds })
  .strict()
  .openapi({ description: 'ETA, seconds, of the newest ticket and of a visitor joining now; null while the queue holds' });

export const RatePreviewSchema = z
  .object({
    queue: QueueIdSchema,
    newestTicket: z.number().int(),
    waiting: Count,
    before: EtaPair,
    after: EtaPair,
  })
  .strict()
  .openapi('RatePreview');
export type RatePreview = z.infer<typeof RatePreviewSchema>;

export const DisplayStateSchema = z
  .enum(['open', 'paused', 'passthrough', 'closed', 'scheduled'])
  .openapi('DisplayState', { description: 'The state, or scheduled while opensAt is in the future' });

export const SummaryRowSchema = z
  .object({
    id: QueueIdSchema,
    name: z.string(),
    state: QueueStateSchema,
    displayState: DisplayStateSchema,
    opensAt: z.string().nullable(),
    message: z.string().nullable(),
    counter: Count,
    windowEnd: Count,
    waiting: Count,
    admittedLastMinute: Count,
    activePasses: Count.nullable().openapi({ description: 'From the replica\'s last pass sweep (after a change the change log lists, at most every PASS_REVOCATION_REFRESH_MS; at least every STATE_RESYNC_MS)' }),
    lastTicketEtaSeconds: z.number().int().nullable(),
    windowSize: z.number().int(),
    intervalSeconds: z.number(),
    activeWindowCount: z.number().int(),
    attention: z.array(z.enum(['state_unavailable', 'paused_with_visitors', 'long_wait'])),
  })
  .strict()
  .openapi('SummaryRow');

export const SummarySchema = z
  .object({
    totals: z
      .object({
        queues: Count,
        byState: z.object({ open: Count, paused: Count, passthrough: Count, closed: Count, scheduled: Count }).strict(),
        waiting: Count,
        issued: Count,
        admittedLastMinute: Count,
        activePasses: Count,
        needAttention: Count,
      })
      .strict(),
    queues: z.array(SummaryRowSchema).openapi({ description: 'Every queue, those needing attention first, then the longest lines' }),
  })
  .strict()
  .openapi('Summary');
export type Summary = z.infer<typeof SummarySchema>;
