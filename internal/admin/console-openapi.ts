import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { PatchQueueBodySchema, QueueIdSchema, z, type z as Z } from '../queues/queue-settings';
import { QueueStatsSchema, RatePreviewSchema, StatsQuerySchema, SummarySchema, TicketLookupQuerySchema, TicketLookupSchema, TicketParamsSchema } from './console-schemas';

/**
 * Registers the console's routes in an OpenAPI registry, from the same zod
 * schemas the routes validate with. `errorSchema` is the document's error body
 * (the one JSON error shape), `security` its bearer scheme for the admin API.
 */
export function registerConsoleApi(registry: OpenAPIRegistry, base: string, errorSchema: Z.ZodType, security: Array<Record<string, string[]>>): void {
  const json = (schema: Z.ZodType) => ({ content: { 'application/json': { schema } } });
  const err = (description: string) => ({ description, ...json(errorSchema) });
  const common = {
    401: err('missing_token or invalid_token'),
    429: err('too many failed token attempts'),
  };
  const params = z.object({ id: QueueIdSchema });

  registry.registerPath({
    method: 'get',
    path: `${base}/summary`,
    summary: 'Totals across queues and one row per queue, those needing attention first',
    tags: ['admin'],
    security,
    responses: { 200: { description: 'The summary', ...json(SummarySchema) }, ...common },
  });
  registry.registerPath({
    method: 'get',
    path: `${base}/queues/{id}/stats`,
    summary: 'The cumulative flow of a queue and the figures computed from it over a range',
    tags: ['admin'],
    security,
    request: { params, query: StatsQuerySchema },
    responses: {
      200: { description: 'The series and figures', ...json(QueueStatsSchema) },
      400: err('invalid_request: a bad range, step or too many points'),
      404: err('queue_not_found'),
      ...common,
    },
  });
  registry.registerPath({
    method: 'get',
    path: `${base}/queues/{id}/tickets/{n}`,
    summary: 'Ticket lookup for support: status, place, ETA and the pass claimed with it',
    tags: ['admin'],
    security,
    request: { params: TicketParamsSchema, query: TicketLookupQuerySchema },
    responses: {
      200: { description: 'What is known of the ticket', ...json(TicketLookupSchema) },
      400: err('invalid_request: not a ticket number'),
      404: err('queue_not_found'),
      ...common,
    },
  });
  registry.registerPath({
    method: 'post',
    path: `${base}/queues/{id}/preview`,
    summary: 'What a settings change would do to the newest ticket\'s ETA, without changing anything',
    tags: ['admin'],
    security,
    request: { params, body: { content: { 'application/json': { schema: PatchQueueBodySchema } } } },
    responses: {
      200: { description: 'ETAs before and after', ...json(RatePreviewSchema) },
      400: err('invalid_request: the failing fields listed'),
      404: err('queue_not_found'),
      ...common,
    },
  });
}
