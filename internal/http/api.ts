import type { IncomingHttpHeaders } from 'node:http';
import { bearerToken } from '../tokens/ticket-token';
import type { QueueService, StatusResult } from '../service/queue-service';
import type { HttpResult } from './respond';

/**
 * The JSON API's hot endpoints as plain functions of the request headers.
 * internal/http/hot-path.ts serves them straight from node:http and
 * internal/http/app.ts mounts the same functions in Express, so the two paths
 * cannot drift apart.
 */
export interface ApiEndpoints {
  join(): Promise<HttpResult>;
  status(headers: IncomingHttpHeaders): HttpResult;
  window(): HttpResult;
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
    activeForSeconds: r.activeForSeconds,
    windowEnd: r.windowEnd,
  };
}

export function apiEndpoints(service: QueueService): ApiEndpoints {
  return {
    async join() {
      const r = await service.join();
      return { status: 201, body: { token: r.token, ...ticketFields(r), expiresAt: r.expiresAt } };
    },
    status(headers) {
      const r = service.status(bearerToken(headers.authorization));
      return {
        status: 200,
        // Retry-After on a 200 is a hint (RFC 9110 10.2.3 allows it on any response):
        // when the next poll could see a change.
        headers: { 'Retry-After': String(r.pollAfterSeconds) },
        body: statusBody(r),
      };
    },
    window() {
      // Public and identical for every visitor, so a CDN may serve it for up to 1 s:
      // clients holding a ticket can work out their own status from it
      // (docs/benchmarks.md, "A cacheable public window endpoint").
      return { status: 200, headers: { 'Cache-Control': 'public, max-age=1' }, body: service.window() };
    },
  };
}
