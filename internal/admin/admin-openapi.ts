import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { CreateQueueBodySchema, PatchQueueBodySchema, QueueHealthBodySchema, QueueIdSchema, QueueViewSchema, z } from '../queues/queue-settings';
import type { OpenApiContext } from '../http/openapi';
import { AuditBodySchema, AuditQuerySchema, OverviewBodySchema, QueueListBodySchema } from './admin-schemas';

const str = { schema: { type: 'string' as const } };

/** The admin API (queues CRUD with ETag/If-Match, the audit log) and the operator view. */
export function registerAdminApi(registry: OpenAPIRegistry, c: OpenApiContext): void {
  const base = c.adminBase;
  const params = z.object({ id: QueueIdSchema });
  const etag = { ETag: { description: "The queue's version, for If-Match", ...str } };
  const ifMatch = z.object({
    'if-match': z.string().optional().openapi({ description: 'The ETag read: a stale one is 412 and nothing is written; absent merges onto the latest version' }),
  });
  const common = {
    401: c.error('missing_token or invalid_token'),
    404: c.error('not_found: the admin API is disabled (no ADMIN_TOKENS); queue_not_found'),
    429: { ...c.error('rate_limited: too many failed token attempts from this address'), headers: { 'Retry-After': str } },
  };
  registry.registerPath({
    method: 'get',
    path: `${base}/queues`,
    operationId: 'listQueues',
    tags: ['admin'],
    summary: 'Every queue with its settings and live figures',
    security: c.security.admin,
    responses: { 200: c.json('The queues, by id', QueueListBodySchema), ...common },
  });
  registry.registerPath({
    method: 'post',
    path: `${base}/queues`,
    operationId: 'createQueue',
    tags: ['admin'],
    summary: 'Create a queue',
    security: c.security.admin,
    request: { body: { content: { 'application/json': { schema: CreateQueueBodySchema } } } },
    responses: {
      201: c.json('Created', QueueViewSchema, { ...etag, Location: str }),
      400: c.error('invalid_request (every failing field listed) or invalid_json'),
      409: c.error('queue_exists'),
      ...common,
    },
  });
  registry.registerPath({
    method: 'get',
    path: `${base}/queues/{id}`,
    operationId: 'getQueue',
    tags: ['admin'],
    summary: 'A queue',
    security: c.security.admin,
    request: { params },
    responses: { 200: c.json('The queue', QueueViewSchema, etag), 400: c.error('invalid_request: not a queue id'), ...common },
  });
  registry.registerPath({
    method: 'patch',
    path: `${base}/queues/{id}`,
    operationId: 'updateQueue',
    tags: ['admin'],
    summary: "Change a queue's settings; every replica applies them within a second",
    security: c.security.admin,
    request: { params, headers: ifMatch, body: { content: { 'application/json': { schema: PatchQueueBodySchema } } } },
    responses: {
      200: c.json('Changed', QueueViewSchema, etag),
      400: c.error('invalid_request, invalid_if_match or invalid_json'),
      412: { ...c.error('precondition_failed: the queue changed since it was read; ETag has the current version'), headers: etag },
      ...common,
    },
  });
  registry.registerPath({
    method: 'delete',
    path: `${base}/queues/{id}`,
    operationId: 'deleteQueue',
    tags: ['admin'],
    summary: 'Delete a queue: its tickets and passes stop working (410 queue_closed)',
    security: c.security.admin,
    request: { params, headers: ifMatch },
    responses: {
      204: { description: 'Deleted' },
      400: c.error('invalid_request or invalid_if_match'),
      409: c.error("default_queue: the deployment's default queue (QUEUE_ID) cannot be deleted"),
      412: { ...c.error('precondition_failed'), headers: etag },
      ...common,
    },
  });
  registry.registerPath({
    method: 'post',
    path: `${base}/queues/{id}/health`,
    operationId: 'reportQueueHealth',
    tags: ['admin'],
    summary: "The site reports its own health: false holds the queue's admissions (visitors keep their places), true resumes them",
    security: c.security.site,
    request: { params, body: { content: { 'application/json': { schema: QueueHealthBodySchema } } } },
    responses: {
      200: c.json(
        'Recorded',
        z
          .object({
            queue: QueueIdSchema,
            healthy: z.boolean(),
            changed: z.boolean().openapi({ description: 'false when the queue already was so (nothing written)' }),
          })
          .strict()
          .openapi('QueueHealthResult'),
      ),
      400: c.error('invalid_request (every failing field listed) or invalid_json'),
      401: c.error('missing_site_key or invalid_site_key'),
      403: c.error('site_api_disabled: no SITE_API_KEYS configured'),
      404: c.error('queue_not_found'),
      503: c.error('store_unavailable'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: `${base}/audit`,
    operationId: 'audit',
    tags: ['admin'],
    summary: 'The audit log: who changed what, newest first',
    security: c.security.admin,
    request: { query: AuditQuerySchema },
    responses: { 200: c.json('The entries', AuditBodySchema), 400: c.error('invalid_request'), ...common },
  });

  registry.registerPath({
    method: 'get',
    path: '/admin',
    tags: ['admin'],
    summary: 'The operator view (a page that asks for ADMIN_TOKEN)',
    responses: { 200: { description: 'The page', content: { 'text/html': { schema: z.string() } } }, 404: c.error('not_found: no ADMIN_TOKEN') },
  });
  // The console's script and style sheet, and uPlot's (served from this server, no CDN).
  for (const [path, type, what] of [
    ['/admin/console.js', 'text/javascript', "The operator console's script"],
    ['/admin/console.css', 'text/css', "The operator console's style sheet"],
    ['/admin/uplot.js', 'text/javascript', 'uPlot, the chart library of the console'],
    ['/admin/uplot.css', 'text/css', "uPlot's style sheet"],
    ['/admin/what-if.js', 'text/javascript', 'The "what if" panel\'s Web Worker: the simulator (docs/simulator.md), bundled by npm run build'],
  ] as const) {
    registry.registerPath({
      method: 'get',
      path,
      tags: ['admin'],
      summary: what,
      responses: { 200: { description: 'The file', content: { [type]: { schema: z.string() } } }, 404: c.error('not_found: no ADMIN_TOKEN') },
    });
  }
  registry.registerPath({
    method: 'get',
    path: '/admin/state',
    tags: ['admin'],
    summary: "The default queue's state as the operator view shows it",
    security: c.security.admin,
    responses: {
      200: c.json('The state', OverviewBodySchema),
      401: c.error('missing_token or invalid_token'),
      404: c.error('not_found: no ADMIN_TOKEN'),
      429: c.error('rate_limited'),
      503: c.error('store_unavailable'),
    },
  });
}
