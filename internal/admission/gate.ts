import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { parse as parseCookies } from 'cookie';
import { PassError, toWaitroomError } from '../errors/errors';
import { errorResult, type HttpResult } from '../http/respond';
import { admissionHeaders, GATE_HEADERS, isPageNavigation, waitingRoomLocation } from './pass-check';
import type { PassClaims, PassVerifier } from './pass-tokens';
import type { RevocationList } from './revocation-list';
import { stripTokens } from './url-safety';

// The header names and the refusal rules are shared with the edge gate (deploy/edge).
export { GATE_HEADERS } from './pass-check';

export interface GateOptions {
  readonly verifier: PassVerifier;
  /** The revocations of a pass's queue; undefined when the queue is no longer served (the pass is refused). */
  readonly revocations: (queueId: string) => RevocationList | undefined;
  readonly cookieName: string;
  /** Lower-case header name. */
  readonly headerName: string;
  /** Where refused page requests are sent; '' to answer them with JSON too. */
  readonly waitingPageUrl: string;
  readonly onDecision?: (result: string) => void;
  /**
   * Checks the pass against the client presenting it (PASS_BIND_PREFIX) and notes the
   * pair for sharing detection; throws a PassError to refuse. Synchronous: no I/O.
   */
  readonly checkClient?: (claims: PassClaims, req: IncomingMessage) => void;
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * A navigation that a browser will render (pass-check.ts's isPageNavigation),
 * judged on the visitor's own method: the proxy's copy of it wins over the gate
 * request's own (nginx subrequests are always GET).
 */
export function isPageRequest(h: IncomingHttpHeaders, method: string | undefined): boolean {
  const m = header(h, 'x-original-method') ?? header(h, 'x-forwarded-method') ?? method ?? 'GET';
  return isPageNavigation(m, (name) => header(h, name));
}

/**
 * The URL the visitor asked the protected site for, as the proxy reports it:
 * X-Original-URL (the nginx config in deploy/nginx), X-Forwarded-Proto/Host/Uri
 * (Traefik ForwardAuth), or the path after /verify with the Host header (Envoy
 * ext_authz appends the original path to its path_prefix).
 */
export function originalUrl(req: Pick<IncomingMessage, 'headers' | 'url'>): string {
  const h = req.headers;
  const direct = header(h, 'x-original-url');
  if (direct) return direct;
  const host = header(h, 'x-forwarded-host') ?? header(h, 'host');
  const proto = header(h, 'x-forwarded-proto') ?? 'https';
  const uri = header(h, 'x-forwarded-uri');
  if (host && uri) return `${proto}://${host}${uri}`;
  const path = req.url ?? '';
  if (host && path.startsWith('/verify/')) return `${proto}://${host}${path.slice('/verify'.length)}`;
  return '';
}

/**
 * The queue that protects the location being checked: `?queue=<id>` on the gate URL
 * (nginx: `auth_request /verify-shop;` with `proxy_pass .../verify?queue=shop`), or the
 * X-Waitroom-Required-Queue header a proxy sets. Undefined: any queue's pass is accepted
 * (one queue per deployment, as before queues were data).
 */
export function requiredQueue(req: Pick<IncomingMessage, 'headers' | 'url'>): string | undefined {
  const h = header(req.headers, 'x-waitroom-required-queue');
  if (h) return h;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get('queue') ?? undefined;
}

/**
 * The waiting page of the queue protecting a location: `<WAITING_PAGE_URL>q/<id>/`
 * (the page of queue <id>, beside the default one), or WAITING_PAGE_URL itself when
 * no queue is named (or the name is not a queue id).
 */
export function waitingPageFor(waitingPageUrl: string, queue: string | undefined): URL {
  const base = new URL(waitingPageUrl);
  if (queue === undefined || !/^[a-z0-9-]{1,64}$/.test(queue)) return base;
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return new URL(`q/${queue}/`, base);
}

/**
 * GET /verify, the forward-auth gate: 204 with the admission headers for a valid,
 * unrevoked pass in the cookie or header; otherwise 401 (403 for a pass marked
 * done) with the JSON error, or a 302 to the waiting page for a page request.
 * Signature and time checks are local (and cached per token); revocation is a
 * lookup in the replica's in-memory set: no Redis call on any path.
 *
 * `?mode=auth_request` is for nginx, whose auth_request only understands
 * 2xx/401/403: the gate then never answers 302 but puts the redirect target in
 * X-Waitroom-Redirect for nginx's error_page to use.
 */
export function createGate(o: GateOptions): (req: IncomingMessage) => HttpResult | Promise<HttpResult> {
  const allow = (c: PassClaims, req: IncomingMessage, required: string | undefined): HttpResult => {
    // A location protected by one queue refuses a pass another queue issued (docs/admission.md).
    if (required !== undefined && c.queue !== required) throw new PassError('pass_wrong_queue', `this pass admits to queue "${c.queue}", not "${required}"`);
    const revocations = o.revocations(c.queue);
    if (!revocations) throw new PassError('pass_invalid', `the queue "${c.queue}" that issued this pass no longer exists`);
    if (revocations.isRevoked(c.jti)) throw new PassError('pass_revoked', 'this pass was used up, or shared beyond its holder: it admits no one now');
    o.checkClient?.(c, req);
    o.onDecision?.('allowed');
    return { status: 204, headers: admissionHeaders(c) };
  };

  const deny = (req: IncomingMessage, err: unknown): HttpResult => {
    const e = toWaitroomError(err);
    if (!(e instanceof PassError)) throw err;
    o.onDecision?.(e.code);
    const base = errorResult(e);
    const headers: Record<string, string> = { ...base.headers, [GATE_HEADERS.error]: e.code };
    if (!o.waitingPageUrl || !isPageRequest(req.headers, req.method)) return { ...base, headers };
    const target = waitingPageFor(o.waitingPageUrl, requiredQueue(req));
    const location = waitingRoomLocation(target.toString(), originalUrl(req), (u) => stripTokens(u, [o.cookieName]));
    if ((req.url ?? '').includes('mode=auth_request')) return { ...base, headers: { ...headers, [GATE_HEADERS.redirect]: location } };
    return { ...base, status: 302, headers: { ...headers, Location: location } };
  };

  return (req) => {
    const required = requiredQueue(req);
    let token = header(req.headers, o.headerName);
    if (!token) {
      const cookies = header(req.headers, 'cookie');
      if (cookies) token = parseCookies(cookies)[o.cookieName];
    }
    try {
      if (!token) throw new PassError('pass_missing', 'no pass: wait in the queue to be admitted');
      const claims = o.verifier.verify(token.trim());
      if (claims instanceof Promise) {
        return claims.then((c) => allow(c, req, required)).catch((err: unknown) => deny(req, err));
      }
      return allow(claims, req, required);
    } catch (err) {
      return deny(req, err);
    }
  };
}
