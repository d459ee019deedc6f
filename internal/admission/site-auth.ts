import { createHash, timingSafeEqual } from 'node:crypto';
import { ForbiddenError, SiteAuthError } from '../errors/errors';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * The bearer keys the protected site authenticates with (SITE_API_KEYS).
 * Comparisons are over SHA-256 digests with timingSafeEqual, against every
 * configured key, so neither the key's length nor which key matched leaks
 * through timing. Several keys allow rotating the site's key without downtime.
 */
export class SiteKeys {
  private readonly digests: readonly Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  /** Throws unless the Authorization header carries one of the keys. */
  check(authorization: string | undefined): void {
    if (this.digests.length === 0) {
      throw new ForbiddenError('site_api_disabled', 'the site endpoints are disabled: the waiting room has no SITE_API_KEYS configured');
    }
    if (!authorization) throw new SiteAuthError('missing_site_key', 'send the site key as Authorization: Bearer <key>');
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (!m || !m[1]) throw new SiteAuthError('invalid_site_key', 'the Authorization header is not a Bearer key');
    const d = digest(m[1]);
    let ok = false;
    for (const k of this.digests) ok = timingSafeEqual(k, d) || ok;
    if (!ok) throw new SiteAuthError('invalid_site_key', 'the site key is not valid');
  }
}
