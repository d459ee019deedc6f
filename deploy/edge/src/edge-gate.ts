import { parse as parseCookies } from 'cookie';
import {
  admissionHeaders,
  checkPassQueue,
  checkPassTimes,
  GATE_HEADERS,
  isPageNavigation,
  verifyPassToken,
  waitingRoomLocation,
  type PassClaims,
} from '../../../internal/admission/pass-check';
import { stripTokens } from '../../../internal/admission/url-safety';
import { PassError, toErrorBody, WaitroomError } from '../../../internal/errors/errors';
import { VerifiedTokens } from '../../../internal/tokens/verified-tokens';
import type { EdgeConfig } from './config';
import { EdgeKeySet } from './key-set';
import { EdgeRevocations } from './revocations';
import { PUBLIC, queueFor } from './route-queues';
import { UpstreamUnavailableError } from './shared-fetch';

/** Set on requests let through unchecked by FAIL_OPEN, with the reason, so the origin can tell. */
export const UNVERIFIED_HEADER = 'X-Waitroom-Unverified';

/** The admission headers a visitor might send themselves: always removed before the origin sees the request. */
const FORWARDED_GATE_HEADERS = [GATE_HEADERS.queue, GATE_HEADERS.ticket, GATE_HEADERS.passId, GATE_HEADERS.passExpires, GATE_HEADERS.error, GATE_HEADERS.redirect, UNVERIFIED_HEADER];

/** Seconds a visitor is told to wait when the gate fails closed. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

function json(status: number, err: WaitroomError, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(toErrorBody(err)), {
    status,
    headers: {
      'Content-Type': 'application/json; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
      ...err.headers(),
      ...extra,
    },
  });
}

/** 503 when the gate cannot judge a pass (no keys or revocation list to be had) and FAIL_OPEN is false. */
export class GateUnavailableError extends WaitroomError {
  readonly code = 'gate_unavailable';
  readonly status = 503;
  constructor() {
    super('the waiting room cannot be reached to check passes; try again in a few seconds');
  }
  override headers(): Record<string, string> {
    return { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS) };
  }
}

/**
 * The edge gate of one isolate: the pass check of `GET /verify`
 * (internal/admission/pass-check.ts, the same module) in front of ORIGIN_URL.
 * Admitted requests go to the origin unchanged apart from the X-Waitroom-*
 * headers; refused ones get exactly what /verify answers (a 302 to the waiting
 * room for a page, JSON 401/403 otherwise).
 */
export class EdgeGate {
  private readonly keys: EdgeKeySet;
  private readonly verified: VerifiedTokens<PassClaims>;
  private readonly revocations = new Map<string, EdgeRevocations>();

  constructor(private readonly c: EdgeConfig) {
    this.keys = new EdgeKeySet(c.jwksUrl, c.jwksMaxAgeSeconds);
    this.verified = new VerifiedTokens<PassClaims>(c.verifyCacheSize);
    this.keys.onChange(() => this.verified.clear());
  }

  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const queue = queueFor(this.c.routes, url);
    if (queue === PUBLIC) return this.forward(request, {});
    const token = this.token(request);
    try {
      if (!token) throw new PassError('pass_missing', 'no pass: wait in the queue to be admitted');
      const claims = await this.verify(token);
      checkPassQueue(claims, queue);
      if (await this.revocationsOf(queue).isRevoked(claims.jti)) {
        throw new PassError('pass_revoked', 'this pass was used up: the visit it admitted has ended');
      }
      return await this.forward(request, admissionHeaders(claims));
    } catch (err) {
      if (err instanceof UpstreamUnavailableError) return this.unavailable(request, err);
      if (err instanceof PassError) return this.refuse(request, queue, err);
      throw err;
    }
  }

  private token(request: Request): string | undefined {
    const h = request.headers.get(this.c.headerName);
    if (h) return h.trim();
    const cookies = request.headers.get('cookie');
    return cookies ? parseCookies(cookies)[this.c.cookieName]?.trim() : undefined;
  }

  private async verify(token: string): Promise<PassClaims> {
    const now = Date.now();
    const hit = this.verified.get(token);
    if (hit) {
      checkPassTimes(hit, now);
      return hit;
    }
    const claims = await verifyPassToken(token, this.keys.resolve, this.c, now);
    this.verified.set(token, claims);
    return claims;
  }

  private revocationsOf(queue: string): EdgeRevocations {
    const url = this.c.revocationsUrl.replaceAll('{queue}', encodeURIComponent(queue));
    let r = this.revocations.get(url);
    if (!r) {
      r = new EdgeRevocations(url, this.c.revocationsMaxAgeSeconds, this.keys, this.c.issuer);
      this.revocations.set(url, r);
    }
    return r;
  }

  private refuse(request: Request, queue: string, e: PassError): Response {
    const extra: Record<string, string> = { [GATE_HEADERS.error]: e.code };
    if (!this.c.waitingRoomUrl || !isPageNavigation(request.method, (n) => request.headers.get(n))) return json(e.status, e, extra);
    const waitingRoom = this.c.waitingRoomUrl.replaceAll('{queue}', encodeURIComponent(queue));
    const location = waitingRoomLocation(waitingRoom, request.url, (u) => stripTokens(u, [this.c.cookieName]));
    return json(302, e, { ...extra, Location: location });
  }

  private unavailable(request: Request, err: UpstreamUnavailableError): Promise<Response> | Response {
    console.error(`waitroom edge: cannot check passes (${this.c.failOpen ? 'failing open' : 'failing closed'}): ${err.message}`);
    if (this.c.failOpen) return this.forward(request, { [UNVERIFIED_HEADER]: 'waitroom_unreachable' });
    const e = new GateUnavailableError();
    return json(e.status, e, { [GATE_HEADERS.error]: e.code });
  }

  /** The visitor's request to ORIGIN_URL (same method, path, query, headers and body) with the gate's headers. */
  private forward(request: Request, gateHeaders: Record<string, string>): Promise<Response> {
    const asked = new URL(request.url);
    const origin = new URL(this.c.originUrl);
    const target = new URL(origin.pathname.replace(/\/$/, '') + asked.pathname + asked.search, origin);
    const headers = new Headers(request.headers);
    for (const name of FORWARDED_GATE_HEADERS) headers.delete(name);
    for (const [name, value] of Object.entries(gateHeaders)) headers.set(name, value);
    headers.set('X-Forwarded-Host', asked.host);
    headers.set('X-Forwarded-Proto', asked.protocol.slice(0, -1));
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
    // manual: the origin's own redirects go back to the visitor as they are.
    return fetch(target.toString(), { method: request.method, headers, body: hasBody ? request.body : null, redirect: 'manual' });
  }
}
