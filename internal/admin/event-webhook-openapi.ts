import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { registerEventWebhooks } from '../event-stream/event-openapi';
import { EVENT_TYPES, eventEnvelopeSchema } from '../event-stream/event-types';
import type { OpenApiContext } from '../http/openapi';
import { QueueIdSchema, z } from '../queues/queue-settings';
import {
  CreatedWebhookSchema,
  CreateWebhookBodySchema,
  DeliveryListBodySchema,
  PatchWebhookBodySchema,
  WebhookIdSchema,
  WebhookListBodySchema,
  WebhookViewSchema,
} from '../webhooks/webhook-types';

const str = { schema: { type: 'string' as const } };

/**
 * Events and webhooks in the one document: the `webhooks` section (every event
 * type as the POST a receiver gets), a queue's event stream, the webhook
 * endpoints (admin-api.ts, webhook-routes.ts) and the events-only document.
 */
export function registerEventsApi(registry: OpenAPIRegistry, c: OpenApiContext): void {
  registerEventWebhooks(registry);
  const base = c.adminBase;
  const common = {
    401: c.error('missing_token or invalid_token'),
    404: c.error('not_found: the admin API is disabled (no ADMIN_TOKENS); webhook_not_found'),
    429: { ...c.error('rate_limited: too many failed token attempts from this address'), headers: { 'Retry-After': str } },
  };
  const unavailable = { 501: c.error('webhooks_unavailable: the embedded store (no REDIS_URL) cannot deliver webhooks') };
  const etag = { ETag: { description: "The webhook's version, for If-Match", ...str } };
  const ifMatch = z.object({
    'if-match': z.string().optional().openapi({ description: 'The ETag read: a stale one is 412 and nothing is written' }),
  });
  const params = z.object({ id: WebhookIdSchema });
  const limit = z.object({ limit: z.coerce.number().int().min(1).max(1000).optional().openapi({ description: 'Default 100' }) });

  // An entry of the stream: one of the event envelopes (told apart by `type`) and its stream entry id.
  const envelopes = EVENT_TYPES.map((t) => eventEnvelopeSchema(t)) as unknown as [z.ZodTypeAny, z.ZodTypeAny, ...z.ZodTypeAny[]];
  const EventSchema = z.object({ streamId: z.string().openapi({ description: 'The stream entry id, for `after`' }) }).and(z.union(envelopes));
  registry.registerPath({
    method: 'get',
    path: `${base}/queues/{id}/events`,
    operationId: 'queueEvents',
    tags: ['events'],
    summary: "A queue's event stream, oldest first (kept after the queue is deleted)",
    security: c.security.admin,
    request: {
      params: z.object({ id: QueueIdSchema }),
      query: limit.extend({ after: z.string().optional().openapi({ description: 'A stream entry id ("<ms>-<seq>"); the events after it. Default: the start' }) }),
    },
    responses: {
      200: c.json(
        'The events and the id to pass as `after` next',
        z.object({ events: z.array(EventSchema), next: z.string() }).strict().openapi('QueueEvents'),
      ),
      400: c.error('invalid_request: not a queue id, a bad limit or after'),
      ...common,
    },
  });
  registry.registerPath({
    method: 'get',
    path: `${base}/events/openapi.json`,
    operationId: 'eventsOpenApi',
    tags: ['events'],
    summary: 'The events alone as an OpenAPI 3.1 document (its `webhooks` section is also in this document)',
    security: c.security.admin,
    responses: { 200: c.json('The document', z.object({ openapi: z.string(), webhooks: z.record(z.string(), z.unknown()) }).passthrough()), ...common },
  });

  const W = `${base}/webhooks`;
  registry.registerPath({
    method: 'post',
    path: W,
    operationId: 'createWebhook',
    tags: ['events'],
    summary: 'Add a webhook endpoint; the answer is the only place its signing secret is shown',
    security: c.security.admin,
    request: { body: { content: { 'application/json': { schema: CreateWebhookBodySchema } } } },
    responses: {
      201: c.json('Created', CreatedWebhookSchema, { ...etag, Location: str }),
      400: c.error('invalid_request (a URL the address policy refuses included) or invalid_json'),
      409: c.error('webhook_exists'),
      ...common,
      ...unavailable,
    },
  });
  registry.registerPath({
    method: 'get',
    path: W,
    operationId: 'listWebhooks',
    tags: ['events'],
    summary: 'Every webhook endpoint (secrets not shown)',
    security: c.security.admin,
    responses: { 200: c.json('The endpoints', WebhookListBodySchema), ...common, ...unavailable },
  });
  registry.registerPath({
    method: 'get',
    path: `${W}/{id}`,
    operationId: 'getWebhook',
    tags: ['events'],
    summary: 'A webhook endpoint',
    security: c.security.admin,
    request: { params },
    responses: { 200: c.json('The endpoint', WebhookViewSchema, etag), 400: c.error('invalid_request: not a webhook id'), ...common, ...unavailable },
  });
  registry.registerPath({
    method: 'patch',
    path: `${W}/{id}`,
    operationId: 'updateWebhook',
    tags: ['events'],
    summary: 'Change a webhook endpoint; enabling it again restarts its failure clock',
    security: c.security.admin,
    request: { params, headers: ifMatch, body: { content: { 'application/json': { schema: PatchWebhookBodySchema } } } },
    responses: {
      200: c.json('Changed', WebhookViewSchema, etag),
      400: c.error('invalid_request, invalid_if_match or invalid_json'),
      412: { ...c.error('precondition_failed: the endpoint changed since it was read; ETag has the current version'), headers: etag },
      ...common,
      ...unavailable,
    },
  });
  registry.registerPath({
    method: 'delete',
    path: `${W}/{id}`,
    operationId: 'deleteWebhook',
    tags: ['events'],
    summary: 'Delete a webhook endpoint',
    security: c.security.admin,
    request: { params, headers: ifMatch },
    responses: {
      204: { description: 'Deleted' },
      400: c.error('invalid_request or invalid_if_match'),
      412: { ...c.error('precondition_failed'), headers: etag },
      ...common,
      ...unavailable,
    },
  });
  registry.registerPath({
    method: 'get',
    path: `${W}/{id}/deliveries`,
    operationId: 'webhookDeliveries',
    tags: ['events'],
    summary: "An endpoint's delivery records, newest first",
    security: c.security.admin,
    request: { params, query: limit },
    responses: { 200: c.json('The deliveries', DeliveryListBodySchema), 400: c.error('invalid_request'), ...common, ...unavailable },
  });
}
