import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from '../queues/queue-settings';
import type { OpenApiContext } from '../http/openapi';
import { registerWithQueueForm } from '../http/visitor-openapi';
import { ClaimBodySchema, ClaimRequestSchema, DoneBodySchema, DoneRequestSchema, JwksSchema, PassStatsBodySchema } from './admission-schemas';
import { GATE_HEADERS } from './gate';

const str = { schema: { type: 'string' as const } };

/** POST /claim, the JWKS, the gate (/verify) and the site's /passes/done and /passes/stats. */
export function registerAdmissionApi(registry: OpenAPIRegistry, c: OpenApiContext): void {
  registerWithQueueForm(registry, {
    method: 'post',
    path: '/claim',
    operationId: 'claim',
    tags: ['admission'],
    summary: 'Turn an active ticket into a pass (once per ticket)',
    security: c.security.ticket,
    request: {
      query: z.object({ return_to: z.string().optional().openapi({ description: 'As returnTo in the body' }) }),
      body: { required: false, content: { 'application/json': { schema: ClaimRequestSchema } } },
    },
    responses: {
      200: c.json('The pass; also set as the pass cookie', ClaimBodySchema, { 'Set-Cookie': { description: 'The pass cookie (HttpOnly, SameSite=Lax)', ...str } }),
      400: c.error('invalid_body, invalid_json or duplicate_header'),
      401: c.error('missing_token, invalid_token or token_expired'),
      429: { ...c.error('too_many_requests: the per-client claim limit'), headers: { 'Retry-After': str } },
      403: c.error('ticket_waiting (with etaSeconds) or ticket_expired'),
      409: c.error('already_claimed, capacity_full, ticket_skipped (the ticket had left the line when its turn came) or queue_reset'),
      410: c.error('queue_closed'),
      503: c.error('store_unavailable or not_ready'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/.well-known/jwks.json',
    operationId: 'jwks',
    tags: ['admission'],
    summary: 'The public keys passes are signed with; origins verify passes with them',
    responses: {
      200: { description: 'The key set (Cache-Control: public, PASS_JWKS_MAX_AGE)', headers: { ETag: str }, content: { 'application/jwk-set+json': { schema: JwksSchema } } },
      304: { description: 'Not modified (If-None-Match matched the ETag)' },
    },
  });
  const allowed = {
    description: 'The pass admits: the proxy lets the request through and forwards these headers',
    headers: {
      [GATE_HEADERS.queue]: str,
      [GATE_HEADERS.ticket]: str,
      [GATE_HEADERS.passId]: { description: 'The pass id: POST /passes/done takes it', ...str },
      [GATE_HEADERS.passExpires]: { description: "The pass's exp, Unix seconds", ...str },
    },
  };
  const refused = {
    401: { ...c.error('pass_missing, pass_invalid, pass_expired, pass_unknown_key or pass_wrong_audience'), headers: { [GATE_HEADERS.error]: str } },
    403: { ...c.error('pass_revoked or pass_wrong_queue'), headers: { [GATE_HEADERS.error]: str } },
    302: {
      ...c.error('A refused browser navigation (WAITING_PAGE_URL set): sent to the waiting page with return_to'),
      headers: { Location: str, [GATE_HEADERS.error]: str },
    },
  };
  const gateQuery = z.object({
    queue: z.string().optional().openapi({ description: "Only this queue's passes admit (also the X-Waitroom-Required-Queue header)" }),
    mode: z.literal('auth_request').optional().openapi({ description: "nginx auth_request: answer 401 with X-Waitroom-Redirect instead of 302" }),
  });
  const gate = (method: RouteConfig['method'], path: string, summary: string, params?: z.ZodObject): RouteConfig => ({
    method,
    path,
    tags: ['admission'],
    summary,
    security: c.security.pass,
    request: { query: gateQuery, ...(params ? { params } : {}) },
    responses: { 204: allowed, ...refused },
  });
  const gateSummary = 'The forward-auth gate: does the pass admit? Answered from memory (no store call)';
  registry.registerPath(gate('get', '/verify', gateSummary));
  registry.registerPath(gate('head', '/verify', gateSummary));
  // Envoy ext_authz appends the original path to its path_prefix; every method is accepted there.
  const pathParams = z.object({ path: z.string().openapi({ description: 'The original request path (may contain /)' }) });
  registry.registerPath(gate('get', '/verify/{path}', `${gateSummary} (Envoy: the original path appended)`, pathParams));
  registry.registerPath(gate('head', '/verify/{path}', `${gateSummary} (Envoy: the original path appended)`, pathParams));

  const siteErrors = {
    401: c.error('missing_site_key or invalid_site_key'),
    403: c.error('site_api_disabled: no SITE_API_KEYS configured'),
  };
  registry.registerPath({
    method: 'get',
    path: '/passes/revoked',
    operationId: 'revokedPasses',
    tags: ['admission'],
    summary: "A queue's revoked, unexpired pass ids as a JWT signed with the pass key (edge gates poll it; public, cacheable 1 s)",
    request: { query: z.object({ queue: z.string().optional().openapi({ description: 'Default: the default queue (QUEUE_ID)' }) }) },
    responses: {
      200: {
        description: 'A JWS (typ waitroom-revocations) whose payload holds queue, revoked (pass ids) and issuedAtMs; verify it with the JWKS',
        content: { 'application/jwt': { schema: z.string() } },
      },
      404: c.error('not_found: a queue this replica does not serve'),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/passes/done',
    operationId: 'passDone',
    tags: ['admission'],
    summary: 'The site ends a visit: the pass is revoked everywhere and counted once',
    security: c.security.site,
    request: { body: { content: { 'application/json': { schema: DoneRequestSchema } } } },
    responses: {
      200: c.json('Done, or already done', DoneBodySchema),
      400: c.error('invalid_outcome, invalid_queue, invalid_pass, invalid_pass_id, invalid_body or invalid_json'),
      404: c.error('not_found: no such live pass; queue_not_found'),
      ...siteErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/passes/stats',
    operationId: 'passStats',
    tags: ['admission'],
    summary: "A queue's pass counters",
    security: c.security.site,
    request: { query: z.object({ queue: z.string().optional().openapi({ description: 'Default: the default queue (QUEUE_ID)' }) }) },
    responses: { 200: c.json('The counters', PassStatsBodySchema), 404: c.error('queue_not_found'), ...siteErrors },
  });
}
