import { createHash, timingSafeEqual } from 'node:crypto';
import { TokenError } from '../errors/errors';
import { bearerToken } from '../tokens/ticket-token';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * The admin API's bearer tokens (ADMIN_TOKENS name:token pairs, ADMIN_TOKEN as
 * "admin"). A presented token is compared with EVERY configured one over their
 * SHA-256 digests with timingSafeEqual, without stopping at a match, so neither
 * the token's length nor which entry matched shows in the timing.
 */
export class AdminAuth {
  private readonly entries: ReadonlyArray<{ readonly name: string; readonly digest: Buffer }>;

  constructor(tokens: ReadonlyArray<{ readonly name: string; readonly token: string }>) {
    this.entries = tokens.map((t) => ({ name: t.name, digest: digest(t.token) }));
  }

  get enabled(): boolean {
    return this.entries.length > 0;
  }

  /** The name of the token in `authorization`; throws 401 missing_token / invalid_token. */
  check(authorization: string | undefined): string {
    const given = digest(bearerToken(authorization));
    let name: string | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(given, e.digest) && name === undefined) name = e.name;
    }
    if (name === undefined) throw new TokenError('invalid_token', 'the admin token is not valid');
    return name;
  }
}
