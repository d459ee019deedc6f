import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { PassError } from '../errors/errors';
import type { KeyRing } from './key-ring';

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

export interface PassPolicy {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
}

/** Seconds of clock difference tolerated between replicas and sites for nbf/exp. */
export const CLOCK_TOLERANCE_SECONDS = 5;

export function passSubject(queue: string, ticket: number): string {
  return `${queue}:${ticket}`;
}

function parseSubject(sub: unknown): { queue: string; ticket: number } | undefined {
  if (typeof sub !== 'string') return undefined;
  const i = sub.lastIndexOf(':');
  const ticket = Number(sub.slice(i + 1));
  if (i < 1 || !Number.isSafeInteger(ticket) || ticket < 1) return undefined;
  return { queue: sub.slice(0, i), ticket };
}

/** Signs passes with the ring's newest private key (jose: ES256 or EdDSA by key type). */
export class PassSigner {
  constructor(
    private readonly ring: KeyRing,
    private readonly policy: PassPolicy,
  ) {}

  async sign(queue: string, ticket: number, nowMs: number = Date.now(), net?: string): Promise<{ token: string; claims: PassClaims }> {
    const key = this.ring.signing();
    const iat = Math.floor(nowMs / 1000);
    const claims: PassClaims = {
      iss: this.policy.issuer,
      aud: this.policy.audience,
      sub: passSubject(queue, ticket),
      iat,
      nbf: iat,
      exp: iat + this.policy.ttlSeconds,
      jti: randomUUID(),
      queue,
      ticket,
      kid: key.kid,
      ...(net ? { net } : {}),
    };
    const token = await new SignJWT(net ? { net } : {})
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(claims.iss)
      .setAudience(claims.aud)
      .setSubject(claims.sub)
      .setIssuedAt(claims.iat)
      .setNotBefore(claims.nbf)
      .setExpirationTime(claims.exp)
      .setJti(claims.jti)
      .sign(key.privateKey as NonNullable<typeof key.privateKey>);
    return { token, claims };
  }
}

interface Cached {
  readonly claims: PassClaims;
}

/**
 * Verifies passes against the ring: algorithm pinned to ES256/EdDSA, key by
 * kid, then iss, aud, nbf and exp. Signature checks cost ~50-100 µs of CPU
 * while a gate sees the same pass for every request of a page (HTML, CSS,
 * scripts, images), so verified tokens are remembered (bounded, oldest evicted
 * first) and a repeat costs a Map lookup plus the time checks. The cache is
 * dropped whenever the key set changes, so a removed key stops verifying at once.
 */
export class PassVerifier {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly ring: KeyRing,
    private readonly policy: Pick<PassPolicy, 'issuer' | 'audience'>,
    private readonly cacheSize: number,
  ) {
    ring.onChange(() => this.cache.clear());
  }

  /** The claims of a valid pass; throws PassError. Synchronous when the token was verified before. */
  verify(token: string, nowMs: number = Date.now()): PassClaims | Promise<PassClaims> {
    const hit = this.cache.get(token);
    if (hit) {
      this.checkTimes(hit.claims, nowMs);
      return hit.claims;
    }
    return this.verifySignature(token, nowMs);
  }

  private checkTimes(c: PassClaims, nowMs: number): void {
    const now = nowMs / 1000;
    if (now >= c.exp + CLOCK_TOLERANCE_SECONDS) throw new PassError('pass_expired', 'the pass has expired; join the queue again');
    if (now < c.nbf - CLOCK_TOLERANCE_SECONDS) throw new PassError('pass_invalid', 'the pass is not valid yet');
  }

  private async verifySignature(token: string, nowMs: number): Promise<PassClaims> {
    let payload: JWTPayload;
    let kid = '';
    try {
      const r = await jwtVerify(
        token,
        (header) => {
          kid = typeof header.kid === 'string' ? header.kid : '';
          const key = this.ring.get(kid);
          if (!key) throw new PassError('pass_unknown_key', 'the pass was signed by a key this waiting room does not publish');
          if (header.alg !== key.alg) throw new PassError('pass_invalid', 'the pass algorithm does not match its key');
          return key.publicKey;
        },
        {
          algorithms: ['ES256', 'EdDSA'],
          issuer: this.policy.issuer,
          audience: this.policy.audience,
          requiredClaims: ['iat', 'nbf', 'exp', 'jti', 'sub'],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(nowMs),
        },
      );
      payload = r.payload;
    } catch (err) {
      if (err instanceof PassError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new PassError('pass_expired', 'the pass has expired; join the queue again');
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'aud') {
        throw new PassError('pass_wrong_audience', 'the pass is for another site');
      }
      throw new PassError('pass_invalid', 'the pass is malformed, tampered with or not a waitroom pass');
    }
    const subject = parseSubject(payload.sub);
    if (!subject || typeof payload.jti !== 'string' || payload.jti === '') {
      throw new PassError('pass_invalid', 'the pass has no valid subject or id');
    }
    const claims: PassClaims = {
      iss: payload.iss as string,
      aud: this.policy.audience,
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
    if (this.cacheSize > 0) {
      if (this.cache.size >= this.cacheSize) {
        const oldest = this.cache.keys().next();
        if (!oldest.done) this.cache.delete(oldest.value);
      }
      this.cache.set(token, { claims });
    }
    return claims;
  }
}
