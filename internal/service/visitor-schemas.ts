import { QUEUE_MODES } from '../queue/queue-state';
import { QueueIdSchema, z } from '../queues/queue-settings';

/*
 * The JSON bodies the visitor routes answer with, declared once: the
 * TypeScript types the code builds them with are z.infer of these, and the
 * OpenAPI document (internal/http/openapi.ts) is generated from the same
 * declarations, so the document cannot describe a field the code no longer
 * sends. The server does not parse its own answers with them
 * (StatusBodySchema.parse costs ~1.5 µs, ~6% of a ~25 µs /status); the OpenAPI
 * test validates real answers against the generated document instead.
 */

const QueueStateField = z.enum(QUEUE_MODES).openapi({ description: 'open, paused, passthrough or closed' });

/** The fields POST /join and GET /status share, in one order. */
export const TicketFieldsSchema = z.object({
  queue: QueueIdSchema,
  ticket: z.number().int().min(1).openapi({ description: 'The ticket number, from 1 per queue epoch' }),
  position: z.number().int().min(0).openapi({ description: 'Place in line counted from 1 while waiting; 0 once admitted or expired' }),
  status: z.enum(['waiting', 'active', 'expired', 'skipped']).openapi({
    description: 'skipped: the visitor had left the line (POST /leave) when their turn came, so it went to the next visitor (a queue with compensateNoShows); join again',
  }),
  ahead: z.number().int().min(0).openapi({ description: 'Waiting tickets before this one' }),
  etaSeconds: z
    .number()
    .int()
    .min(0)
    .nullable()
    .openapi({ description: 'Seconds until the ticket becomes active; 0 unless waiting; null while the queue is paused or closed, or its site is unhealthy' }),
  etaKind: z
    .enum(['exact', 'estimate', 'upperBound', 'unknown'])
    .openapi({
      description:
        'How etaSeconds was computed: exact (fixed window schedule), estimate (a capped queue: the measured admission rate), upperBound (a queue that skips visitors who left: admitted no later than this, sooner if people ahead leave), unknown (nothing scheduled; etaSeconds is null)',
    }),
  activeForSeconds: z.number().int().min(0).openapi({ description: 'Seconds the ticket stays active at least; 0 unless active' }),
  windowEnd: z.number().int().min(0).openapi({ description: 'W: the highest admitted ticket' }),
  state: QueueStateField,
  message: z.string().nullable().openapi({ description: "The operator's broadcast message, or null" }),
  opensAt: z.iso.datetime({ offset: true }).nullable().openapi({ description: 'When a pre-queue opens, or null' }),
  siteBusy: z.boolean().openapi({ description: "True while admissions are held because the site's origin is unhealthy" }),
});
export type TicketFields = z.infer<typeof TicketFieldsSchema>;

export const JoinBodySchema = z
  .object({
    token: z.string().openapi({ description: 'The ticket token (HS256 JWT): send it as `Authorization: Bearer` to /status and /claim' }),
    ...TicketFieldsSchema.shape,
    expiresAt: z.number().int().openapi({ description: "The token's exp, seconds since the Unix epoch" }),
  })
  .strict()
  .openapi('Join');
export type JoinBody = z.infer<typeof JoinBodySchema>;

export const StatusBodySchema = z
  .object({
    ...TicketFieldsSchema.shape,
    pollAfterSeconds: z.number().int().min(1).openapi({ description: 'Suggested delay before the next poll (also sent as Retry-After)' }),
  })
  .strict()
  .openapi('Status', { description: 'Also the data of every `status` event of GET /events.' });
export type StatusBody = z.infer<typeof StatusBodySchema>;

export const LeaveBodySchema = z
  .object({
    queue: QueueIdSchema,
    ticket: z.number().int().min(1),
    left: z.boolean().openapi({
      description:
        'true: the ticket is marked gone (now or by an earlier leave); a queue with compensateNoShows skips it when its turn comes unless it comes back first (POST /stay). false: its turn had already come, there was no line to leave',
    }),
  })
  .strict()
  .openapi('Leave');
export type LeaveBody = z.infer<typeof LeaveBodySchema>;

/** POST /leave, POST /stay: the ticket in a JSON body (navigator.sendBeacon cannot send a header). */
export const PresenceRequestSchema = z
  .object({ token: z.string().max(4096).openapi({ description: 'The ticket token, when it is not sent as Authorization: Bearer' }) })
  .strict()
  .openapi('PresenceRequest');

export const PublicWindowSchema = z
  .object({
    queue: QueueIdSchema,
    epoch: z.string().openapi({ description: "The queue's epoch: a ticket of another epoch is void (409 queue_reset)" }),
    windowEnd: z.number().int().min(0),
    windowSize: z.number().int().min(1),
    activeWindowCount: z.number().int().min(1),
    intervalSeconds: z.number().positive(),
    nextTickInMs: z.number().int().min(0).openapi({ description: "Relative, not a timestamp: clients' clocks need not agree with the store's" }),
    state: QueueStateField,
    opensAt: z.iso.datetime({ offset: true }).nullable(),
  })
  .strict()
  .openapi('Window', { description: 'Everything a client needs to compute its own status from its ticket; public and cacheable for 1 s.' });
export type PublicWindow = z.infer<typeof PublicWindowSchema>;

export const LivezBodySchema = z.object({ status: z.literal('ok') }).strict().openapi('Livez');

export const ReadyzBodySchema = z
  .union([
    z.object({ status: z.literal('ready') }).strict(),
    z
      .object({
        status: z.literal('not_ready'),
        reason: z.enum(['shutting_down', 'store_unreachable', 'state_not_loaded', 'state_stale', 'state_corrupt']),
      })
      .strict(),
  ])
  .openapi('Readyz');
export type ReadyzBody = z.infer<typeof ReadyzBodySchema>;
