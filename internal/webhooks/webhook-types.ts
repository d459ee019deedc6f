import { z } from 'zod';
import { EVENT_TYPES } from '../event-stream/event-types';
import { QueueIdSchema } from '../queues/queue-settings';

/** Webhook endpoint ids: "wh_" and 24 hex characters (random). */
export const WebhookIdSchema = z.string().regex(/^wh_[0-9a-f]{24}$/, 'must be a webhook id (wh_ and 24 hex characters)');

const EventTypeSchema = z.enum(EVENT_TYPES as [string, ...string[]]);
const UrlSchema = z.string().min(1).max(2048);

export const CreateWebhookBodySchema = z
  .object({
    url: UrlSchema,
    events: z.array(EventTypeSchema).min(1).max(64),
    queue: QueueIdSchema.nullable().optional(),
    description: z.string().max(500).optional(),
  })
  .strict();

export const PatchWebhookBodySchema = z
  .object({
    url: UrlSchema.optional(),
    events: z.array(EventTypeSchema).min(1).max(64).optional(),
    description: z.string().max(500).optional(),
    enabled: z.boolean().optional(),
  })
  .strict();

/** An endpoint as stored (JSON in the endpoints hash). The secret is never shown after creation. */
export interface WebhookEndpoint {
  readonly id: string;
  readonly url: string;
  readonly events: readonly string[];
  /** null: every queue. */
  readonly queue: string | null;
  readonly description: string;
  /** Standard Webhooks secret, whsec_<base64>. */
  readonly secret: string;
  readonly enabled: boolean;
  /** Why it was disabled (null while enabled). */
  readonly disabledReason: string | null;
  readonly version: number;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

export type WebhookView = Omit<WebhookEndpoint, 'secret' | 'createdAtMs' | 'updatedAtMs'> & { readonly createdAt: string; readonly updatedAt: string };

export function viewOfWebhook(e: WebhookEndpoint): WebhookView {
  const { secret: _secret, createdAtMs, updatedAtMs, ...rest } = e;
  return { ...rest, createdAt: new Date(createdAtMs).toISOString(), updatedAt: new Date(updatedAtMs).toISOString() };
}

/** One event's delivery to one endpoint, as the admin API shows it. */
export interface DeliveryRecord {
  readonly eventId: string;
  readonly queue: string;
  readonly type: string;
  readonly state: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly lastAttemptAtMs: number;
  /** null once delivered or failed. */
  readonly nextAttemptAtMs: number | null;
}

/** True when `e` should receive event `type` of queue `queue` appended at `eventMs`. */
export function endpointMatches(e: WebhookEndpoint, queue: string, type: string, eventMs: number): boolean {
  // Events from before the endpoint existed are not sent: a new endpoint must not receive
  // the whole retained history (up to EVENT_STREAM_MAX_LENGTH entries) at once.
  return e.enabled && (e.queue === null || e.queue === queue) && e.events.includes(type) && eventMs >= e.createdAtMs;
}

/** An endpoint as the admin API answers it (WebhookView): the OpenAPI document's schema of it. */
export const WebhookViewSchema = z
  .object({
    id: WebhookIdSchema,
    url: z.string(),
    events: z.array(EventTypeSchema),
    queue: QueueIdSchema.nullable().openapi({ description: 'null: every queue' }),
    description: z.string(),
    enabled: z.boolean(),
    disabledReason: z.string().nullable().openapi({ description: 'Why it was disabled; null while enabled' }),
    version: z.number().int().openapi({ description: 'The version the ETag carries' }),
    createdAt: z.string().openapi({ format: 'date-time' }),
    updatedAt: z.string().openapi({ format: 'date-time' }),
  })
  .strict()
  .openapi('Webhook');

/** The answer to POST /webhooks: the only place the signing secret is shown. */
export const CreatedWebhookSchema = WebhookViewSchema.extend({
  secret: z.string().openapi({ description: 'Standard Webhooks signing secret (whsec_<base64>); shown only here' }),
})
  .strict()
  .openapi('CreatedWebhook');

export const WebhookListBodySchema = z.object({ webhooks: z.array(WebhookViewSchema) }).strict().openapi('WebhookList');

/** One delivery record as GET /webhooks/{id}/deliveries answers it (DeliveryRecord with ISO times). */
export const DeliveryViewSchema = z
  .object({
    eventId: z.string(),
    queue: z.string(),
    type: z.string(),
    state: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int().nonnegative(),
    lastStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    lastAttemptAt: z.string().openapi({ format: 'date-time' }),
    nextAttemptAt: z.string().nullable().openapi({ format: 'date-time', description: 'null once delivered or failed' }),
  })
  .strict()
  .openapi('WebhookDelivery');

export const DeliveryListBodySchema = z.object({ deliveries: z.array(DeliveryViewSchema) }).strict().openapi('WebhookDeliveries');
export type DeliveryListBody = z.infer<typeof DeliveryListBodySchema>;
