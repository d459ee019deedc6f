import { createHash, createHmac, createSecretKey, hash, type KeyObject } from 'node:crypto';

/** SHA-256's block size, in bytes (RFC 2104's B). */
const BLOCK = 64;
/** Longest input signed through the one-shot path; a ticket's signing input is ~200 bytes. */
const MAX_INPUT = 1024;
/** crypto.hash, one-shot, from Node.js 20.12 (undefined before). */
const ONE_SHOT = typeof hash === 'function';

/**
 * HMAC-SHA256 (RFC 2104) of ASCII text, as base64url: the signature of a ticket JWS.
 *
 * Two one-shot `crypto.hash` calls over the key's padded blocks and the text, in place
 * of `createHmac(...).update(...).digest(...)`, which makes a stream object, looks
 * the digest up by name and sets up an OpenSSL HMAC context on every call: 1.26-1.33 µs
 * against 1.59-1.82 µs per signature in a micro-benchmark of ticket-sized inputs
 * (docs/benchmarks.md, the fifth round). Both hash the same blocks (seven for a
 * ticket-sized input). The output is the same bytes; test/unit/hmac-sha256.test.ts
 * compares them over a table of keys and inputs. Where `crypto.hash` is missing
 * (Node.js before 20.12) or the text is longer than MAX_INPUT, it is createHmac.
 *
 * For signing only: text outside ASCII would be written truncated (latin1), so a
 * different text could get the same MAC. Signing the wrong bytes makes a token that
 * fails verification; verifying with it could accept a forgery. Tokens are verified
 * by jsonwebtoken.
 */
export class HmacSha256 {
  private readonly key: KeyObject;
  /** K ^ ipad, then room for the text (written in place: no buffer per call). */
  private readonly inner: Buffer;
  /** K ^ opad, then the inner digest. */
  private readonly outer: Buffer;

  constructor(secret: Buffer) {
    this.key = createSecretKey(secret);
    // A key longer than a block is replaced by its digest (RFC 2104, section 2).
    const k = secret.length > BLOCK ? createHash('sha256').update(secret).digest() : secret;
    this.inner = Buffer.alloc(BLOCK + MAX_INPUT, 0x36);
    this.outer = Buffer.alloc(BLOCK + 32, 0x5c);
    for (let i = 0; i < k.length; i++) {
      this.inner[i]! ^= k[i]!;
      this.outer[i]! ^= k[i]!;
    }
  }

  /** The MAC of `ascii` (characters below 128 only: a JWS signing input is base64url and a dot), base64url. */
  base64url(ascii: string): string {
    if (!ONE_SHOT || ascii.length > MAX_INPUT) {
      return createHmac('sha256', this.key).update(ascii).digest('base64url');
    }
    // Synchronous from the write to the last hash, so one buffer serves every call.
    const n = this.inner.write(ascii, BLOCK, 'latin1');
    hash('sha256', this.inner.subarray(0, BLOCK + n), 'buffer').copy(this.outer, BLOCK);
    return hash('sha256', this.outer, 'base64url');
  }
}
