import type { IncomingHttpHeaders } from 'node:http';
import type { QueueRegistry } from '../queues/queue-registry';
import { bearerToken, type TicketTokens } from '../tokens/ticket-token';
import type { StatusResult } from '../service/queue-service';
import type { HttpResult } from './respond';

/**
 * The JSON API's hot endpoints as plain functions of the request headers.
 * internal/http/hot-path.ts serves them straight from node:http and
 * internal/http/app.ts mounts the same functions in Express, so the two paths
 * cannot drift apart. `queue` is the id of a /q/{id}/ route, undefined for the
 * default queue's unprefixed routes; /status takes the queue from the ticket.
 */
export interface ApiEndpoints {
  join(queue?: string): Promise<HttpResult>;
  status(headers: IncomingHttpHeaders): HttpResult;
  window(queue?: string): HttpResult;
}

/**
 * The GET /status JSON body. GET /events sends exactly this as the data of each
 * `status` event, so both are built here.
 */
export function statusBody(r: StatusResult) {
  return { ...ticketFields(r), pollAfterSeconds: r.pollAfterSeconds };
}

/** The fields /join and /status share, in one order. */
function ticketFields(r: Omit<StatusResult, 'pollAfterSeconds'>) {
  return {
    queue: r.queue,
    ticket: r.ticket,
    position: r.position,
    status: r.status,
    ahead: r.ahead,
    etaSeconds: r.etaSeconds,
    etaKind: r.etaKind,
    activeForSeconds: r.activeForSeconds,
    windowEnd: r.windowEnd,
    state: r.state,
    message: r.message,
    opensAt: r.opensAt,
    siteBusy: r.siteBusy,
  };
}

export interface ApiDeps {
  readonly registry: QueueRegistry;
  readonly tokens: TicketTokens;
  readonly defaultQueueId: string;
}

export function apiEndpoints(d: ApiDeps): ApiEndpoints {
  return {
    async join(queue) {
      const r = await d.registry.require(queue ?? d.defaultQueueId).service.join();
      return { status: 201, body: { token: r.token, ...ticketFields(r), expiresAt: r.expiresAt } };
    },
    status(headers) {
      const claims = d.tokens.verify(bearerToken(headers.authorization));
      const r = d.registry.forTicket(claims.queue).service.statusOf(claims);
      return {
        status: 200,
        // Retry-After on a 200 is a hint (RFC 9110 10.2.3 allows it on any response):
        // when the next poll could see a change.
        headers: { 'Retry-After': String(r.pollAfterSeconds) },
        body: statusBody(r),
      };
    },
    window(queue) {
      // Public and identical for every visitor, so a CDN may serve it for up to 1 s:
      // clients holding a ticket can work out their own status from it
      // (docs/benchmarks.md, "A cacheable public window endpoint").
      return { status: 200, headers: { 'Cache-Control': 'public, max-age=1' }, body: d.registry.require(queue ?? d.defaultQueueId).service.window() };
    },
  };
}
