import { QUEUE_MODES } from '../queue/queue-state';
import { QueueIdSchema, QueueViewSchema, z } from '../queues/queue-settings';

/*
 * The admin API's answers that are not a queue (those are QueueViewSchema in
 * internal/queues/queue-settings.ts), declared once for the code's types
 * (z.infer) and the OpenAPI document.
 */

export const QueueListBodySchema = z.object({ queues: z.array(QueueViewSchema) }).strict().openapi('QueueList');
export type QueueListBody = z.infer<typeof QueueListBodySchema>;

/** GET /admin/api/v1/audit's query; unknown parameters are ignored. */
export const AuditQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ description: 'Entries to return, newest first' }),
  before: z
    .string()
    .regex(/^\d{1,20}-\d{1,20}$/, 'an audit entry id')
    .optional()
    .openapi({ description: 'Return entries older than this entry id (paging)' }),
});

export const AuditEntrySchema = z
  .object({
    id: z.string().openapi({ description: 'Stream entry id; pass it as ?before= to page back' }),
    at: z.iso.datetime().nullable(),
    actor: z.string().nullable().openapi({ description: 'The name of the admin token (ADMIN_TOKENS name:token)' }),
    action: z.string().nullable().openapi({ example: 'queue.update' }),
    queue: z.string().nullable(),
    ip: z.string().nullable(),
    changes: z.record(z.string(), z.unknown()).openapi({ description: 'Per field: { before, after }' }),
  })
  .strict()
  .openapi('AuditEntry');

export const AuditBodySchema = z.object({ entries: z.array(AuditEntrySchema) }).strict().openapi('AuditLog');
export type AuditBody = z.infer<typeof AuditBodySchema>;

const nullableInt = z.number().int().nullable();

/** GET /admin/state: the operator view of the default queue. */
export const OverviewBodySchema = z
  .object({
    queue: QueueIdSchema,
    epoch: z.string().nullable(),
    counter: nullableInt,
    windowEnd: nullableInt,
    waiting: nullableInt,
    nextTickInMs: nullableInt,
    nextDueMs: z.number().nullable(),
    version: nullableInt,
    settings: z
      .object({
        windowSize: z.number().int(),
        intervalMs: z.number().int(),
        activeWindowCount: z.number().int(),
        mode: z.enum(QUEUE_MODES),
        opensAtMs: z.number().openapi({ description: 'Store-clock epoch ms a pre-queue opens at; 0 for none' }),
        maxActive: z.number().int().min(0).optional().openapi({ description: 'Capacity cap: at most this many admitted visitors on the site at once; 0 for none' }),
        lengthAlertThreshold: z.number().int().min(0).optional().openapi({ description: 'Queue length alert: queue.length_exceeded at this many waiting; 0 for none' }),
        lengthAlertClearBelow: z.number().int().min(0).optional().openapi({ description: 'Queue length alert: re-armed below this many waiting; 0 for none' }),
      })
      .strict(),
    leader: z.string().nullable().openapi({ description: 'Lease holder read from the store now; null if nobody leads' }),
    replica: z
      .object({ owner: z.string(), leader: z.boolean(), stateAgeMs: nullableInt, eventStreams: z.number().int().min(0) })
      .strict(),
  })
  .strict()
  .openapi('Overview');
export type OverviewBody = z.infer<typeof OverviewBodySchema>;
