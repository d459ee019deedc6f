import { importJWK, type JWK, type KeyLike } from 'jose';
import { PassError } from '../../../internal/errors/errors';
import { PASS_ALGORITHMS } from '../../../internal/admission/pass-check';
import { fetchShared, RETRY_AFTER_FAILURE_MS, UpstreamUnavailableError } from './shared-fetch';

/**
 * Shortest gap between refetches forced by an unknown kid, per isolate: a rotation
 * is seen within this long even if the new key was not published ahead (the
 * runbook publishes it ahead), while forged kids cost the waiting room at most one
 * JWKS fetch per isolate per 5 s.
 */
export const UNKNOWN_KID_COOLDOWN_MS = 5_000;

interface EdgeKey {
  readonly alg: string;
  readonly key: KeyLike | Uint8Array;
}

function algOf(jwk: JWK): string | undefined {
  if (typeof jwk.alg === 'string') return jwk.alg;
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return undefined;
}

/**
 * The waiting room's public pass keys, from JWKS_URL, imported into WebCrypto.
 * Fresh for maxAgeSeconds (PASS_JWKS_MAX_AGE), refetched at once (then at most
 * every UNKNOWN_KID_COOLDOWN_MS) when a token names a kid it does not know: a
 * rotation is followed without a restart. When a refetch fails the keys held are
 * kept (keys change rarely); with none held, UpstreamUnavailableError.
 */
export class EdgeKeySet {
  private keys: Map<string, EdgeKey> | undefined;
  /** The JWKS document last applied (a few hundred bytes): a different one is a key change. */
  private fingerprint = '';
  private fetchedAtMs = -Infinity;
  private forcedAtMs = -Infinity;
  private failedAtMs = -Infinity;
  private inflight: Promise<void> | undefined;
  private readonly listeners: Array<() => void> = [];

  constructor(
    private readonly url: string,
    private readonly maxAgeSeconds: number,
  ) {}

  /** Called whenever the key set changes (the verified-pass cache is dropped then). */
  onChange(l: () => void): void {
    this.listeners.push(l);
  }

  /** A PassKeyResolver (pass-check.ts). */
  readonly resolve = async (kid: string, alg: string): Promise<KeyLike | Uint8Array> => {
    const now = Date.now();
    if (!this.keys || now - this.fetchedAtMs >= this.maxAgeSeconds * 1000) await this.refresh(false);
    let k = this.keys?.get(kid);
    if (!k && now - this.forcedAtMs >= UNKNOWN_KID_COOLDOWN_MS) {
      this.forcedAtMs = now;
      await this.refresh(true, true);
      k = this.keys?.get(kid);
    }
    if (!k) throw new PassError('pass_unknown_key', 'the pass was signed by a key this waiting room does not publish');
    if (k.alg !== alg) throw new PassError('pass_invalid', 'the pass algorithm does not match its key');
    return k.key;
  };

  /**
   * One fetch at a time per isolate. A failure is thrown only when no keys are
   * held, or when `mustSucceed` (an unknown kid cannot be judged on old keys).
   */
  private async refresh(bypassCache: boolean, mustSucceed = false): Promise<void> {
    try {
      if (Date.now() - this.failedAtMs < RETRY_AFTER_FAILURE_MS) throw new UpstreamUnavailableError(`${this.url}: failed less than ${RETRY_AFTER_FAILURE_MS} ms ago`);
      this.inflight ??= this.load(bypassCache).then(
        () => {
          this.inflight = undefined;
        },
        (err: unknown) => {
          this.inflight = undefined;
          this.failedAtMs = Date.now();
          console.warn(`waitroom edge: ${(err as Error).message}`);
          throw err;
        },
      );
      await this.inflight;
    } catch (err) {
      if (!this.keys || mustSucceed) throw err;
    }
  }

  private async load(bypassCache: boolean): Promise<void> {
    const doc = await fetchShared(this.url, this.maxAgeSeconds, { bypassCache, accept: 'application/jwk-set+json, application/json' });
    let jwks: { keys?: unknown };
    try {
      jwks = JSON.parse(doc.body) as { keys?: unknown };
    } catch {
      throw new UpstreamUnavailableError(`${this.url} is not JSON`);
    }
    if (!Array.isArray(jwks.keys)) throw new UpstreamUnavailableError(`${this.url} has no "keys" array`);
    const next = new Map<string, EdgeKey>();
    for (const jwk of jwks.keys as JWK[]) {
      const alg = algOf(jwk);
      // Keys for other purposes or algorithms may share the set; they never verify a pass.
      if (typeof jwk.kid !== 'string' || !alg || !PASS_ALGORITHMS.includes(alg) || (jwk.use && jwk.use !== 'sig')) continue;
      try {
        next.set(jwk.kid, { alg, key: await importJWK(jwk, alg) });
      } catch (err) {
        console.warn(`waitroom edge: skipping key ${jwk.kid}: ${(err as Error).message}`);
      }
    }
    if (next.size === 0) throw new UpstreamUnavailableError(`${this.url} has no usable ES256/EdDSA key`);
    this.keys = next;
    this.fetchedAtMs = doc.fetchedAtMs;
    if (doc.body !== this.fingerprint) {
      this.fingerprint = doc.body;
      for (const l of this.listeners) l();
    }
  }
}
