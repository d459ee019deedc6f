import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { QueueIdSchema, z } from '../queues/queue-settings';
import { JoinBodySchema, LeaveBodySchema, LivezBodySchema, PresenceRequestSchema, PublicWindowSchema, ReadyzBodySchema, StatusBodySchema } from '../service/visitor-schemas';
import { OPENAPI_PATH, type OpenApiContext } from './openapi';
import { QUEUE_VISITOR_PATHS } from './queue-prefix';
import { ChallengeBodySchema } from '../abuse/abuse-schemas';
import { CHALLENGE_HEADER } from '../abuse/challenge';

/** The path parameter of the /q/{queue}/ forms (internal/http/queue-prefix.ts). */
const QueueParams = z.object({ queue: QueueIdSchema });

/** Registers `route` at its path and, for a visitor route (QUEUE_VISITOR_PATHS, queue-prefix.ts), at /q/{queue}{path} as well. */
export function registerWithQueueForm(registry: OpenAPIRegistry, route: RouteConfig): void {
  registry.registerPath(route);
  if (!QUEUE_VISITOR_PATHS.has(route.path)) return;
  const params = route.request?.params ? (route.request.params as z.ZodObject).extend(QueueParams.shape) : QueueParams;
  registry.registerPath({
    ...route,
    path: `/q/{queue}${route.path}`,
    operationId: route.operationId ? `${route.operationId}InQueue` : undefined,
    summary: `${route.summary ?? route.path} (queue {queue})`,
    request: { ...route.request, params },
    responses: { ...route.responses, 404: route.responses[404] ?? { description: 'queue_not_found: no queue {queue}' } },
  });
}

const retryAfter = { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'string' as const } } };
const text = (description: string, type: string) => ({ description, content: { [type]: { schema: z.string() } } });

/** POST /join, GET /status, GET /window, GET /events, the waiting page and its files. */
export function registerVisitorApi(registry: OpenAPIRegistry, c: OpenApiContext): void {
  const unavailable = c.error('store_unavailable, state_stale, state_corrupt, not_ready or shutting_down; Retry-After says when to retry');
  registerWithQueueForm(registry, {
    method: 'post',
    path: '/join',
    operationId: 'join',
    tags: ['visitor'],
    summary: 'Join the queue: take a ticket',
    description:
      "No body. The ticket token in the answer is the visitor's place; keep it (it is also set as the queue's ticket cookie). " +
      'When the queue asks for a proof of work, send the solved GET /challenge as the X-Waitroom-Challenge header.',
    request: { headers: z.object({ [CHALLENGE_HEADER]: z.string().optional().openapi({ description: 'The solved challenge (base64 JSON), when one is required' }) }) },
    responses: {
      200: c.json("This browser's ticket cookie already holds a live place in this queue: that place, not a new one", JoinBodySchema),
      201: c.json('The ticket, its token and where it stands', JoinBodySchema, { 'Set-Cookie': { description: "The queue's ticket cookie", schema: { type: 'string' } } }),
      403: c.error('challenge_required, challenge_invalid or challenge_replayed (with challengeUrl): solve GET /challenge and join again'),
      404: c.error('queue_not_found'),
      429: { ...c.error('too_many_requests: the per-client join limit (RateLimit headers say when); forgery_blocked'), headers: retryAfter },
      410: c.error('queue_closed: the queue takes no new visitors'),
      413: c.error('payload_too_large'),
      503: { ...unavailable, headers: retryAfter },
    },
  });
  registerWithQueueForm(registry, {
    method: 'get',
    path: '/status',
    operationId: 'status',
    tags: ['visitor'],
    summary: "The ticket's status, by arithmetic over this replica's copy of the window (no store call)",
    security: c.security.ticket,
    responses: {
      200: c.json('Where the ticket stands', StatusBodySchema, {
        'Retry-After': { description: 'When the next poll could see a change, in seconds', schema: { type: 'string' } },
      }),
      400: c.error('duplicate_header: Authorization sent more than once'),
      401: c.error('missing_token, invalid_token or token_expired'),
      409: c.error('queue_reset: the queue was reset since the ticket was issued; join again'),
      410: c.error('queue_closed: the ticket\'s queue no longer exists'),
      503: { ...unavailable, headers: retryAfter },
    },
  });
  // Leaving and coming back (docs/system.md, "No-shows"): the ticket as a Bearer token, or in the
  // body for navigator.sendBeacon, which cannot send a header.
  const presenceBody = { required: false, content: { 'application/json': { schema: PresenceRequestSchema } } };
  const leave = (method: 'post' | 'delete', path: string, operationId: string): RouteConfig => ({
    method,
    path,
    operationId,
    tags: ['visitor'],
    summary: 'Leave the line: the ticket is marked gone (idempotent)',
    description:
      'A queue with compensateNoShows skips a ticket marked gone when its turn comes, so the next visitor goes in instead. ' +
      'Coming back before the turn (POST /stay) keeps the place. A ticket whose turn has come is not marked (left: false).' +
      (method === 'post' ? ' The ticket may come in the body instead of the header (navigator.sendBeacon).' : ''),
    security: method === 'post' ? [...c.security.ticket, {}] : c.security.ticket,
    request: method === 'post' ? { body: presenceBody } : undefined,
    responses: {
      200: c.json('Whether the ticket is now marked gone', LeaveBodySchema),
      400: c.error('invalid_request: the body has no usable token; invalid_json; duplicate_header'),
      401: c.error('missing_token, invalid_token or token_expired'),
      409: c.error('queue_reset: the queue was reset since the ticket was issued'),
      410: c.error("queue_closed: the ticket's queue no longer exists"),
      413: c.error('payload_too_large'),
      503: { ...unavailable, headers: retryAfter },
    },
  });
  registerWithQueueForm(registry, leave('post', '/leave', 'leave'));
  registerWithQueueForm(registry, leave('delete', '/status', 'leaveByStatus'));
  registerWithQueueForm(registry, {
    method: 'post',
    path: '/stay',
    operationId: 'stay',
    tags: ['visitor'],
    summary: "I'm back: a ticket that left keeps its place unless its turn was skipped",
    description:
      'For a visitor who left (POST /leave, the page closed or reloaded) and is back. Before the turn the mark is cleared and the place kept; ' +
      'after a compensating advance passed the ticket, the answer has status "skipped" (join again). Answers as GET /status does.',
    security: [...c.security.ticket, {}],
    request: { body: presenceBody },
    responses: {
      200: c.json('Where the ticket stands (status skipped if its turn passed while it was gone)', StatusBodySchema, {
        'Retry-After': { description: 'When the next poll could see a change, in seconds', schema: { type: 'string' } },
      }),
      400: c.error('invalid_request: the body has no usable token; invalid_json; duplicate_header'),
      401: c.error('missing_token, invalid_token or token_expired'),
      409: c.error('queue_reset'),
      410: c.error('queue_closed'),
      413: c.error('payload_too_large'),
      503: { ...unavailable, headers: retryAfter },
    },
  });
  registerWithQueueForm(registry, {
    method: 'get',
    path: '/window',
    operationId: 'window',
    tags: ['visitor'],
    summary: 'The public window: clients holding a ticket can compute their own status from it',
    responses: {
      200: c.json('The window (Cache-Control: public, max-age=1)', PublicWindowSchema),
      404: c.error('queue_not_found'),
      503: { ...unavailable, headers: retryAfter },
    },
  });
  registerWithQueueForm(registry, {
    method: 'get',
    path: '/events',
    operationId: 'events',
    tags: ['visitor'],
    summary: "The ticket's status as a Server-Sent Events stream",
    description:
      'The ticket comes as `Authorization: Bearer`, the `token` query parameter or the `waitroom_ticket` cookie (EventSource cannot set headers). ' +
      'Events: `status` (data: the Status schema, as GET /status answers), `problem` (data: the Error schema; the stream then ends) and `end` (data `{}`: the stream is over, do not reconnect).',
    security: [...c.security.ticket, {}],
    request: { query: z.object({ token: z.string().optional().openapi({ description: 'The ticket token, for EventSource' }) }) },
    responses: {
      200: text('The event stream', 'text/event-stream'),
      204: { description: 'Last-Event-ID names the final state the client already has: EventSource stops reconnecting' },
      400: c.error('duplicate_header: Authorization sent more than once'),
      401: c.error('missing_token, invalid_token or token_expired'),
      409: c.error('queue_reset'),
      410: c.error('queue_closed'),
      429: { ...c.error('rate_limited: too many streams for this client or replica; poll /status instead'), headers: retryAfter },
      503: { ...unavailable, headers: retryAfter },
    },
  });
  registerWithQueueForm(registry, {
    method: 'get',
    path: '/',
    operationId: 'waitingPage',
    tags: ['visitor'],
    summary: "The waiting page, in the visitor's language",
    request: { query: z.object({ lang: z.string().optional().openapi({ description: 'A language the page is translated to; default: Accept-Language' }) }) },
    responses: { 200: text('The page', 'text/html'), 404: c.error('queue_not_found') },
  });
  registerWithQueueForm(registry, {
    method: 'get',
    path: '/challenge',
    operationId: 'challenge',
    tags: ['visitor'],
    summary: 'A proof-of-work challenge (ALTCHA) for POST /join, when the queue asks for one',
    responses: { 200: c.json('A new challenge', ChallengeBodySchema), 404: c.error('queue_not_found') },
  });
  const files: Array<[string, string, string]> = [
    ['/altcha.js', 'The ALTCHA widget', 'text/javascript'],
    ['/altcha.css', "The ALTCHA widget's styles", 'text/css'],
    ['/altcha-pbkdf2-worker.js', "The ALTCHA widget's worker", 'text/javascript'],
    ['/client.js', 'The embeddable client', 'text/javascript'],
    ['/format.js', "The page's Intl formatting", 'text/javascript'],
    ['/app.js', "The page's script", 'text/javascript'],
    ['/page.css', "The page's styles", 'text/css'],
    ['/theme.css', "The queue's colours", 'text/css'],
  ];
  for (const [path, summary, type] of files) {
    registerWithQueueForm(registry, {
      method: 'get',
      path,
      tags: ['visitor'],
      summary,
      responses: {
        200: text(summary, type),
        304: { description: 'Not modified (If-None-Match matched the ETag)' },
        ...(path === '/theme.css' ? { 404: c.error('queue_not_found') } : {}),
      },
    });
  }
  registry.registerPath({
    method: 'get',
    path: '/q/{queue}',
    tags: ['visitor'],
    summary: "Redirects to /q/{queue}/ (the page's relative URLs need the slash)",
    request: { params: QueueParams },
    responses: { 301: { description: 'To /q/{queue}/', headers: { Location: { schema: { type: 'string' } } } } },
  });
}

/** /livez, /readyz, /metrics and this document. */
export function registerOperationsApi(registry: OpenAPIRegistry, c: OpenApiContext): void {
  registry.registerPath({
    method: 'get',
    path: '/livez',
    tags: ['operations'],
    summary: 'Liveness: the process answers',
    responses: { 200: c.json('Alive', LivezBodySchema) },
  });
  registry.registerPath({
    method: 'get',
    path: '/readyz',
    tags: ['operations'],
    summary: 'Readiness: the store is reachable and the default queue\'s state is loaded and fresh',
    responses: {
      200: c.json('Ready', ReadyzBodySchema),
      503: { ...c.json('Not ready, with the reason', ReadyzBodySchema), headers: retryAfter },
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    tags: ['operations'],
    summary: 'Prometheus metrics (only on METRICS_PORT when that is set)',
    responses: { 200: text('The Prometheus text format', 'text/plain') },
  });
  registry.registerPath({
    method: 'get',
    path: OPENAPI_PATH,
    tags: ['operations'],
    summary: 'This document (OpenAPI 3.1); public',
    responses: { 200: { description: 'The document', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } },
  });
}
