import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { PassError } from '../errors/errors';
import type { KeyRing } from './key-ring';
import { VerifiedTokens } from '../tokens/verified-tokens';
import { checkPassTimes, passSubject, PASS_TYP, verifyPassToken, type PassClaims, type PassCheckPolicy } from './pass-check';

// The claims and their checks live in pass-check.ts, shared with the edge gate (deploy/edge).
export { CLOCK_TOLERANCE_SECONDS, passSubject, type PassClaims } from './pass-check';

export interface PassPolicy extends PassCheckPolicy {
  readonly ttlSeconds: number;
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
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: PASS_TYP })
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

/**
 * Verifies passes against the ring with the shared check (pass-check.ts):
 * algorithm pinned to ES256/EdDSA, key by kid, then iss, aud, nbf and exp.
 * Verified passes are remembered (VerifiedTokens): a gate sees the same pass for
 * every request of a page (HTML, CSS, scripts, images) and a signature check
 * costs ~50-100 µs of CPU, so a repeat costs a Map lookup plus the time checks.
 * The memo is dropped whenever the key set changes, so a removed key stops
 * verifying at once.
 */
export class PassVerifier {
  private readonly cache: VerifiedTokens<PassClaims>;
  private readonly resolveKey = (kid: string, alg: string) => {
    const key = this.ring.get(kid);
    if (!key) throw new PassError('pass_unknown_key', 'the pass was signed by a key this waiting room does not publish');
    if (alg !== key.alg) throw new PassError('pass_invalid', 'the pass algorithm does not match its key');
    return key.publicKey;
  };

  constructor(
    private readonly ring: KeyRing,
    private readonly policy: PassCheckPolicy,
    cacheSize: number,
  ) {
    this.cache = new VerifiedTokens<PassClaims>(cacheSize);
    ring.onChange(() => this.cache.clear());
  }

  /** The claims of a valid pass; throws PassError. Synchronous when the token was verified before. */
  verify(token: string, nowMs: number = Date.now()): PassClaims | Promise<PassClaims> {
    const hit = this.cache.get(token);
    if (hit) {
      checkPassTimes(hit, nowMs);
      return hit;
    }
    return verifyPassToken(token, this.resolveKey, this.policy, nowMs).then((claims) => {
      this.cache.set(token, claims);
      return claims;
    });
  }
}
