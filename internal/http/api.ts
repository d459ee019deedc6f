import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { ticketCookie, ticketFromCookie } from '../abuse/ticket-cookie';
import { BadRequestError, ForbiddenError, QueueResetError, TokenError } from '../errors/errors';
import type { QueueRegistry } from '../queues/queue-registry';
import { bearerToken, isCompactJws, type TicketTokens } from '../tokens/ticket-token';
import type { JoinResult, QueueService, StatusResult } from '../service/queue-service';
import type { JoinBody, LeaveBody, StatusBody, TicketFields } from '../service/visitor-schemas';
import { JsonText, type HttpResult } from './respond';
import type { DeferredTake } from '../abuse/join-limiter';
import { JoinLimitRefusal } from '../abuse/token-bucket';

/**
 * What runs before a new ticket is issued (the per-client join limit and the
 * challenge, internal/abuse/join-gate.ts). Throws a typed error to refuse the join.
 */
export interface JoinGate {
  /** The admission, or a promise of it when it needs a store call first (a challenge). */
  admit(req: IncomingMessage, queueId: string): JoinAdmission | Promise<JoinAdmission>;
}

/**
 * What the join still owes: the reply's headers (the RateLimit ones), or a limit token to take
 * in the ticket's own store call (join.lua), whose verdict `settle` turns into the headers or
 * into the 429.
 */
export type JoinAdmission = { readonly headers: Record<string, string> } | DeferredTake;

export interface ApiOptions {
  readonly gate?: JoinGate;
  /** Secure attribute of the ticket cookie (PASS_COOKIE_SECURE). */
  readonly cookieSecure?: boolean;
  readonly now?: () => number;
}

/**
 * The JSON API's hot endpoints as plain functions of the request headers.
 * internal/http/hot-path.ts serves them straight from node:http and
 * internal/http/app.ts mounts the same functions in Express, so the two paths
 * cannot drift apart. `queue` is the id of a /q/{id}/ route, undefined for the
 * default queue's unprefixed routes; /status takes the queue from the ticket.
 */
export interface ApiEndpoints {
  join(req: IncomingMessage, queue?: string): Promise<HttpResult>;
  status(headers: IncomingHttpHeaders): HttpResult;
  window(queue?: string): HttpResult;
  /** POST /leave and DELETE /status: the visitor leaves the line (docs/system.md, "No-shows"). */
  leave(req: IncomingMessage & { body?: unknown }): Promise<HttpResult>;
  /** POST /stay: a visitor who left is back; answers /status's body (status "skipped" if the turn passed). */
  stay(req: IncomingMessage & { body?: unknown }): Promise<HttpResult>;
}

/**
 * The ticket of a leave or stay: `Authorization: Bearer`, or `{"token": "..."}` in a JSON body,
 * because navigator.sendBeacon (the page's pagehide) cannot set a header.
 */
function presenceToken(req: IncomingMessage & { body?: unknown }): string {
  if (req.headers.authorization !== undefined) return bearerToken(req.headers.authorization);
  const body = req.body;
  if (body === undefined || body === null) return bearerToken(undefined);
  const token = typeof body === 'object' ? (body as { token?: unknown }).token : undefined;
  if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
    throw new BadRequestError('send the ticket as Authorization: Bearer <token> or as {"token": "<token>"}', 'invalid_request');
  }
  return token;
}

/**
 * The GET /status JSON body. GET /events sends exactly this as the data of each
 * `status` event, so both are built here. /join and /status share their ticket
 * fields in one order: queue, ticket, position, status, ahead, etaSeconds, etaKind,
 * activeForSeconds, windowEnd (then /status adds pollAfterSeconds, /join puts
 * token first and expiresAt last). Both bodies are written out field by field:
 * the spread copies they replaced showed as ~2% of /status's CPU in a profile.
 */
export function statusBody(r: StatusResult): StatusBody {
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
    pollAfterSeconds: r.pollAfterSeconds,
  };
}

/** JSON text of the strings a status body repeats (queue ids, states, the broadcast message), made once each. */
const jsonStrings = new Map<string, string>();

function jsonString(s: string): string {
  let j = jsonStrings.get(s);
  if (j === undefined) {
    j = JSON.stringify(s);
    // A new broadcast message is a new entry; bounded so that a stream of them cannot grow it.
    if (jsonStrings.size >= 1024) jsonStrings.clear();
    jsonStrings.set(s, j);
  }
  return j;
}

const isInt = Number.isSafeInteger;

/**
 * The JSON of the fields /join and /status share (ticketFields), without braces, or
 * undefined when a field is outside its declared type (the caller then takes
 * JSON.stringify, whose rules for such values (NaN is null, undefined is left out)
 * this does not copy).
 */
function ticketFieldsJson(r: TicketFields): string | undefined {
  const { queue, message, opensAt, etaSeconds } = r;
  if (
    typeof queue !== 'string' ||
    !isInt(r.ticket) ||
    !isInt(r.position) ||
    typeof r.status !== 'string' ||
    !isInt(r.ahead) ||
    (etaSeconds !== null && !isInt(etaSeconds)) ||
    typeof r.etaKind !== 'string' ||
    !isInt(r.activeForSeconds) ||
    !isInt(r.windowEnd) ||
    typeof r.state !== 'string' ||
    (message !== null && typeof message !== 'string') ||
    (opensAt !== null && typeof opensAt !== 'string') ||
    typeof r.siteBusy !== 'boolean'
  ) {
    return undefined;
  }
  return (
    `"queue":${jsonString(queue)},"ticket":${r.ticket},"position":${r.position},"status":${jsonString(r.status)},` +
    `"ahead":${r.ahead},"etaSeconds":${etaSeconds === null ? 'null' : etaSeconds},"etaKind":${jsonString(r.etaKind)},` +
    `"activeForSeconds":${r.activeForSeconds},"windowEnd":${r.windowEnd},"state":${jsonString(r.state)},` +
    `"message":${message === null ? 'null' : jsonString(message)},"opensAt":${opensAt === null ? 'null' : jsonString(opensAt)},` +
    `"siteBusy":${r.siteBusy}`
  );
}

/**
 * JSON.stringify(statusBody(r)), byte for byte, assembled from its fields: the
 * generic serialiser walks a new 14-field object for every /status and every
 * `status` event, which measured ~890 ns against ~440 ns for this (a micro-
 * benchmark of both with the reply's byte count; /status costs ~20-30 µs in
 * all). Any field outside its declared type (StatusBodySchema) takes the generic
 * path, so the two cannot differ; test/unit/status-json.test.ts compares them.
 */
export function statusJson(r: StatusResult): string {
  const fields = isInt(r.pollAfterSeconds) ? ticketFieldsJson(r) : undefined;
  return fields === undefined ? JSON.stringify(statusBody(r)) : `{${fields},"pollAfterSeconds":${r.pollAfterSeconds}}`;
}

/**
 * JSON.stringify(b) of a /join body, byte for byte, assembled as statusJson is: the
 * generic serialiser checked each of the token's ~250 characters for escapes, ~1 µs
 * of a /join in a profile. A token that is not a compact JWS, or a field outside its
 * type, takes the generic path; test/unit/status-json.test.ts compares the two.
 * `signedHere`: the token is TicketTokens.sign's, a compact JWS by construction, so
 * the check (isCompactJws) is skipped.
 */
export function joinJson(b: JoinBody, signedHere = false): string {
  const token = b.token;
  const fields = typeof token === 'string' && isInt(b.expiresAt) && (signedHere || isCompactJws(token)) ? ticketFieldsJson(b) : undefined;
  return fields === undefined ? JSON.stringify(b) : `{"token":"${token}",${fields},"expiresAt":${b.expiresAt}}`;
}

/** The fields /join and /status share, in one order. */
function ticketFields(r: Omit<StatusResult, 'pollAfterSeconds'>): TicketFields {
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

/** A new ticket's token is TicketTokens.sign's: a compact JWS (test/unit/ticket-token.test.ts). */
const SIGNED_HERE = true;

export interface ApiDeps extends ApiOptions {
  readonly registry: QueueRegistry;
  readonly tokens: TicketTokens;
  readonly defaultQueueId: string;
}

export function apiEndpoints(d: ApiDeps): ApiEndpoints {
  const now = d.now ?? Date.now;
  const secure = d.cookieSecure ?? true;
  /**
   * The ticket in the browser's cookie for this queue, if it is still a place in it:
   * it verifies, belongs to the current epoch and its turn has not passed. Anything
   * else (forged, another epoch, expired) is ignored and a new place is issued.
   */
  const held = (req: IncomingMessage, service: QueueService) => {
    const token = ticketFromCookie(req.headers, service.queueId);
    if (!token) return undefined;
    try {
      const claims = service.verifyTicket(token);
      const st = service.statusOf(claims);
      return st.status === 'expired' || st.status === 'skipped' ? undefined : { token, claims, st };
    } catch (err) {
      if (err instanceof TokenError || err instanceof ForbiddenError || err instanceof QueueResetError) return undefined;
      throw err;
    }
  };
  return {
    async join(req, queue) {
      const service = d.registry.require(queue ?? d.defaultQueueId).service;
      // One ticket per browser and queue: a join that already holds a live place gets it back (200).
      const h = held(req, service);
      if (h) {
        const { pollAfterSeconds: _p, ...fields } = h.st;
        const body: JoinBody = { token: h.token, ...ticketFields(fields), expiresAt: h.claims.exp };
        return { status: 200, body: new JsonText(joinJson(body)) };
      }
      const admitted = d.gate?.admit(req, service.queueId);
      // Any thenable is awaited (not only a native Promise): a gate's answer is never skipped.
      const admission = admitted !== undefined && 'then' in admitted ? await admitted : admitted;
      let r: JoinResult;
      // The reply's own headers object: Set-Cookie is added to it below.
      let headers: Record<string, string>;
      if (admission && 'take' in admission) {
        try {
          r = await service.join(admission.take);
        } catch (err) {
          if (err instanceof JoinLimitRefusal) admission.settle(err.verdict); // throws the 429
          throw err;
        }
        // A new object for every verdict (rateLimitHeaders).
        headers = admission.settle(r.limit!);
      } else {
        r = await service.join();
        // A copy: the gate's headers may be shared (a join without a limit gets one constant).
        headers = admission ? { ...admission.headers } : {};
      }
      const body: JoinBody = {
        token: r.token,
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
        expiresAt: r.expiresAt,
      };
      // Set on the reply's own headers object: a spread into a new literal with one more key
      // took V8's slow property path, ~0.4 µs of a /join in a profile.
      headers['Set-Cookie'] = ticketCookie(service.queueId, r.token, r.expiresAt, now(), secure, SIGNED_HERE);
      return { status: 201, headers, body: new JsonText(joinJson(body, SIGNED_HERE)) };
    },
    status(headers) {
      const claims = d.tokens.verifyBearer(headers.authorization);
      const r = d.registry.forTicket(claims.queue).service.statusOf(claims);
      return {
        status: 200,
        // Retry-After on a 200 is a hint (RFC 9110 10.2.3 allows it on any response):
        // when the next poll could see a change.
        headers: { 'Retry-After': String(r.pollAfterSeconds) },
        body: new JsonText(statusJson(r)),
      };
    },
    async leave(req) {
      const claims = d.tokens.verify(presenceToken(req));
      const r = await d.registry.forTicket(claims.queue).service.leave(claims);
      const body: LeaveBody = { queue: r.queue, ticket: r.ticket, left: r.left };
      return { status: 200, body };
    },
    async stay(req) {
      const claims = d.tokens.verify(presenceToken(req));
      const r = await d.registry.forTicket(claims.queue).service.stay(claims);
      return { status: 200, headers: { 'Retry-After': String(r.pollAfterSeconds) }, body: new JsonText(statusJson(r)) };
    },
    window(queue) {
      // Public and identical for every visitor, so a CDN may serve it for up to 1 s:
      // clients holding a ticket can work out their own status from it
      // (docs/benchmarks.md, "A cacheable public window endpoint").
      return { status: 200, headers: { 'Cache-Control': 'public, max-age=1' }, body: d.registry.require(queue ?? d.defaultQueueId).service.window() };
    },
  };
}
