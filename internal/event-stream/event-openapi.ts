import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { EVENT_DESCRIPTIONS, EVENT_TYPES, eventEnvelopeSchema } from './event-types';

/**
 * Registers every event type as an OpenAPI 3.1 webhook (`webhooks` section): the
 * request body a receiver gets, from the same zod schemas the stream reader checks
 * entries with. The Standard Webhooks headers are listed on each.
 */
export function registerEventWebhooks(registry: OpenAPIRegistry): void {
  for (const type of EVENT_TYPES) {
    registry.registerWebhook({
      method: 'post',
      path: type,
      summary: type,
      description: `${EVENT_DESCRIPTIONS[type]} Also an entry of the queue's event stream (docs/events.md).`,
      request: {
        headers: z.object({
          'webhook-id': z.string().openapi({ description: 'The event id; the same on every retry' }),
          'webhook-timestamp': z.string().openapi({ description: 'Unix seconds of this attempt' }),
          'webhook-signature': z.string().openapi({ description: 'Standard Webhooks signature: v1,<base64 HMAC-SHA256>' }),
        }),
        body: { content: { 'application/json': { schema: eventEnvelopeSchema(type) } } },
      },
      responses: { 200: { description: 'Any 2xx acknowledges the event; anything else (or no answer in time) is retried' } },
    });
  }
}

/** An OpenAPI 3.1 document of the events alone (the webhooks section plus its components). */
export function eventsOpenApiDocument(version: string) {
  const registry = new OpenAPIRegistry();
  registerEventWebhooks(registry);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'waitroom events', version, description: 'Events appended to each queue\'s Redis Stream (docs/events.md)' },
  });
}
