import { verifyRevocationList } from '../../../internal/admission/pass-check';
import { PassError } from '../../../internal/errors/errors';
import type { EdgeKeySet } from './key-set';
import { fetchShared, RETRY_AFTER_FAILURE_MS, UpstreamUnavailableError } from './shared-fetch';

/**
 * The revoked pass ids of one queue, from the waiting room's signed list
 * (GET /passes/revoked, checked against the same JWKS as the passes). A copy is
 * used for maxAgeSeconds (REVOCATIONS_MAX_AGE) after its network fetch, then
 * the next request waits for a new one, so a revocation is enforced here at
 * most maxAgeSeconds after the waiting room's replicas know it (plus 1 s of
 * HTTP caching the waiting room allows in front of it). When a refetch fails
 * the copy held stays in use, and the failure is logged; with no copy held,
 * UpstreamUnavailableError (FAIL_OPEN decides).
 */
export class EdgeRevocations {
  private revoked: ReadonlySet<string> | undefined;
  private fetchedAtMs = -Infinity;
  private failedAtMs = -Infinity;
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly url: string,
    private readonly maxAgeSeconds: number,
    private readonly keys: EdgeKeySet,
    private readonly issuer: string,
  ) {}

  async isRevoked(jti: string): Promise<boolean> {
    if (!this.revoked || Date.now() - this.fetchedAtMs >= this.maxAgeSeconds * 1000) {
      try {
        if (Date.now() - this.failedAtMs < RETRY_AFTER_FAILURE_MS) throw new UpstreamUnavailableError(`${this.url}: failed less than ${RETRY_AFTER_FAILURE_MS} ms ago`);
        this.inflight ??= this.load().then(
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
        if (!this.revoked) throw err;
      }
    }
    return (this.revoked as ReadonlySet<string>).has(jti);
  }

  private async load(): Promise<void> {
    const doc = await fetchShared(this.url, this.maxAgeSeconds, { bypassCache: false, accept: 'application/jwt' });
    let revoked: readonly string[];
    try {
      revoked = (await verifyRevocationList(doc.body.trim(), this.keys.resolve, this.issuer, Date.now())).revoked;
    } catch (err) {
      if (err instanceof UpstreamUnavailableError) throw err;
      // A list that does not verify (wrong key, expired replay, not a list) is no list.
      const why = err instanceof PassError ? err.code : (err as Error).message;
      throw new UpstreamUnavailableError(`${this.url}: the revocation list does not verify (${why})`);
    }
    this.revoked = new Set(revoked);
    this.fetchedAtMs = doc.fetchedAtMs;
  }
}
