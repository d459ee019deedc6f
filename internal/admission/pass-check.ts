/**
 * The pass check shared by the server's gate (`GET /verify`, Node.js) and the
 * edge gate (deploy/edge, a Cloudflare Worker in workerd): one module, imported
 * by both, so the two gates accept and refuse exactly the same passes.
 *
 * It is runtime-neutral on purpose: it imports only `jose` (whose package
 * exports resolve to its node:crypto build under Node and to its WebCrypto build
 * under workerd) and the dependency-free errors module, uses no Node API and no
 * Worker API, and is typechecked under both (tsconfig.json and
 * deploy/edge/tsconfig.json). Where the keys come from (a key directory on the
 * server, the JWKS at the edge) and how results are cached stay with each gate.
 */
import { errors as joseErrors, jwtVerify, type JWTHeaderParameters, type JWTPayload, type KeyLike } from 'jose';
import { PassError } from '../errors/errors';

/** What a pass proves, as the gate and the site see it. */
export interface PassClaims {
  readonly iss: string;
  readonly aud: string;
  /** "<queue>:<ticket>" (queue ids never contain a colon). */
  readonly sub: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly jti: string;
  readonly queue: string;
  readonly ticket: number;
  /** The key that signed it. */
  readonly kid: string;
  /** The address prefix the pass is bound to (PASS_BIND_PREFIX), e.g. "203.0.113.0/24". */
  readonly net?: string;
}

export interface PassCheckPolicy {
  readonly issuer: string;
  readonly audience: string;
}

/** Seconds of clock difference tolerated between replicas and sites for nbf/exp. */
export const CLOCK_TOLERANCE_SECONDS = 5;

/** Pass algorithms: a ticket (HS256) or an `alg: none` token is never a pass. */
export const PASS_ALGORITHMS: readonly string[] = ['ES256', 'EdDSA'];

/** The `typ` header of a pass. */
export const PASS_TYP = 'JWT';

/** The headers that tell the protected site who was admitted (the proxy or the edge forwards them). */
export const GATE_HEADERS = Object.freeze({
  queue: 'X-Waitroom-Queue',
  ticket: 'X-Waitroom-Ticket',
  passId: 'X-Waitroom-Pass-Id',
  passExpires: 'X-Waitroom-Pass-Expires',
  error: 'X-Waitroom-Error',
  redirect: 'X-Waitroom-Redirect',
});

/** A public key for a kid named in a token header; throws PassError('pass_unknown_key') when there is none. */
export type PassKeyResolver = (kid: string, alg: string) => KeyLike | Uint8Array | Promise<KeyLike | Uint8Array>;

export function passSubject(queue: string, ticket: number): string {
  return `${queue}:${ticket}`;
}

/**
 * The queue and ticket of a pass: `sub` is "<queue>:<ticket>". A `queue` claim,
 * if a pass carries one, must name the same queue (a pass is never read two ways).
 */
export function parseSubject(sub: unknown, queueClaim?: unknown): { queue: string; ticket: number } | undefined {
  if (typeof sub !== 'string') return undefined;
  const i = sub.lastIndexOf(':');
  const ticket = Number(sub.slice(i + 1));
  if (i < 1 || !Number.isSafeInteger(ticket) || ticket < 1) return undefined;
  const queue = sub.slice(0, i);
  if (queueClaim !== undefined && queueClaim !== queue) return undefined;
  return { queue, ticket };
}

/** exp and nbf against the clock, with CLOCK_TOLERANCE_SECONDS; for a pass whose signature was checked before. */
export function checkPassTimes(c: Pick<PassClaims, 'exp' | 'nbf'>, nowMs: number): void {
  const now = nowMs / 1000;
  if (now >= c.exp + CLOCK_TOLERANCE_SECONDS) throw new PassError('pass_expired', 'the pass has expired; join the queue again');
  if (now < c.nbf - CLOCK_TOLERANCE_SECONDS) throw new PassError('pass_invalid', 'the pass is not valid yet');
}

/** The location's queue: a valid pass of another queue admits nowhere else. */
export function checkPassQueue(c: Pick<PassClaims, 'queue'>, queue: string): void {
  if (c.queue !== queue) throw new PassError('pass_wrong_queue', 'the pass was issued by the queue of another part of the site');
}

/**
 * Checks a pass completely: algorithm pinned to ES256/EdDSA, typ, key by kid
 * (the resolver), signature, then iss, aud, nbf, exp and the subject. Returns
 * its claims; throws PassError with the code both gates answer with.
 */
export async function verifyPassToken(token: string, resolveKey: PassKeyResolver, policy: PassCheckPolicy, nowMs: number): Promise<PassClaims> {
  let payload: JWTPayload;
  let kid = '';
  let keyStoreError: unknown;
  try {
    const r = await jwtVerify(
      token,
      async (header: JWTHeaderParameters) => {
        kid = typeof header.kid === 'string' ? header.kid : '';
        try {
          return await resolveKey(kid, header.alg);
        } catch (err) {
          keyStoreError = err;
          throw err;
        }
      },
      {
        algorithms: [...PASS_ALGORITHMS],
        typ: PASS_TYP,
        issuer: policy.issuer,
        audience: policy.audience,
        requiredClaims: ['iat', 'nbf', 'exp', 'jti', 'sub'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(nowMs),
      },
    );
    payload = r.payload;
  } catch (err) {
    if (err instanceof PassError) throw err;
    // The key store's own failure (keys that could not be fetched) is no verdict on the pass: the caller decides.
    if (keyStoreError !== undefined && err === keyStoreError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new PassError('pass_expired', 'the pass has expired; join the queue again');
    if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'aud') {
      throw new PassError('pass_wrong_audience', 'the pass is for another site');
    }
    throw new PassError('pass_invalid', 'the pass is malformed, tampered with or not a waitroom pass');
  }
  const subject = parseSubject(payload.sub, payload.queue);
  if (!subject || typeof payload.jti !== 'string' || payload.jti === '') {
    throw new PassError('pass_invalid', 'the pass has no valid subject or id');
  }
  return {
    iss: payload.iss as string,
    aud: policy.audience,
    sub: payload.sub as string,
    iat: payload.iat as number,
    nbf: payload.nbf as number,
    exp: payload.exp as number,
    jti: payload.jti,
    queue: subject.queue,
    ticket: subject.ticket,
    kid,
    ...(typeof payload.net === 'string' ? { net: payload.net } : {}),
  };
}

/** The X-Waitroom-* headers for an admitted request. */
export function admissionHeaders(c: PassClaims): Record<string, string> {
  return {
    [GATE_HEADERS.queue]: c.queue,
    [GATE_HEADERS.ticket]: String(c.ticket),
    [GATE_HEADERS.passId]: c.jti,
    [GATE_HEADERS.passExpires]: String(c.exp),
  };
}

/**
 * A navigation that a browser will render, as opposed to a fetch/XHR or an API
 * client: only those are worth a redirect to the waiting page. A POST is never
 * redirected, which would lose its body. `method` is the visitor's own method
 * (a forward-auth gate takes it from its proxy's headers).
 */
export function isPageNavigation(method: string, header: (lowerCaseName: string) => string | null | undefined): boolean {
  const m = method.toUpperCase();
  if (m !== 'GET' && m !== 'HEAD') return false;
  if (/xmlhttprequest/i.test(header('x-requested-with') ?? '')) return false;
  const mode = header('sec-fetch-mode');
  if (mode && mode !== 'navigate') return false;
  return /text\/html/i.test(header('accept') ?? '');
}

/**
 * Where a refused page request goes: the waiting page with `return_to` the page
 * asked for, stripped of credentials by `strip` (url-safety.ts's stripTokens).
 */
export function waitingRoomLocation(waitingPageUrl: string, asked: string, strip: (url: string) => string): string {
  const target = new URL(waitingPageUrl);
  const back = strip(asked);
  if (back) target.searchParams.set('return_to', back);
  return target.toString();
}

// --- the signed revocation list (GET /passes/revoked) ---

/**
 * The `typ` of the revocation list: a JWT signed with the pass key, so an edge
 * can check it against the JWKS it already has. The distinct typ (and its lack
 * of `sub`, `aud` and `jti`) keeps a list from ever passing as a pass, and a pass
 * from passing as a list.
 */
export const REVOCATIONS_TYP = 'waitroom-revocations+jwt';

/** Seconds a signed list is accepted after its iat; a replayed older list is refused after that. */
export const REVOCATIONS_TTL_SECONDS = 60;

export interface RevocationListClaims {
  readonly iss: string;
  /** When the waiting room signed the list, ms since the Unix epoch (iat is in whole seconds). */
  readonly issuedAtMs: number;
  readonly exp: number;
  /** The queue whose revocations these are. */
  readonly queue: string;
  /** Pass ids (jti) marked done and not yet expired. */
  readonly revoked: readonly string[];
}

/** Checks a revocation list: pass algorithms, REVOCATIONS_TYP, key by kid, iss and exp. Throws jose or PassError errors. */
export async function verifyRevocationList(jws: string, resolveKey: PassKeyResolver, issuer: string, nowMs: number): Promise<RevocationListClaims> {
  const { payload } = await jwtVerify(jws, (h: JWTHeaderParameters) => resolveKey(typeof h.kid === 'string' ? h.kid : '', h.alg), {
    algorithms: [...PASS_ALGORITHMS],
    typ: REVOCATIONS_TYP,
    issuer,
    requiredClaims: ['iat', 'exp'],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    currentDate: new Date(nowMs),
  });
  const revoked = payload.revoked;
  const at = payload.issuedAtMs;
  if (!Array.isArray(revoked) || !revoked.every((j): j is string => typeof j === 'string') || typeof at !== 'number' || typeof payload.queue !== 'string') {
    throw new joseErrors.JWTInvalid('the revocation list has no valid "revoked", "issuedAtMs" or "queue"');
  }
  return { iss: issuer, issuedAtMs: at, exp: payload.exp as number, queue: payload.queue, revoked };
}
