/**
 * Tokens that passed full verification, remembered by their exact text (bounded,
 * oldest evicted first), so that a repeat costs a Map lookup instead of a
 * signature check. Used for tickets (HS256, /status) and passes (ES256/EdDSA,
 * the gates); it uses no Node or Worker API, because the edge gate imports it too.
 *
 * The Map is keyed by the token's last KEY_LENGTH characters, the tail of its
 * signature, and each entry keeps the whole token, which a lookup compares. A
 * token arrives as a new string on every request, so V8 hashes it for the
 * lookup: keyed by the whole token (~250 characters for a ticket, ~400 for a
 * pass) the lookup cost ~460 ns against ~180 ns keyed by the tail (a micro-
 * benchmark of fresh header strings on the benchmark machine); /status costs
 * ~20-30 µs in all. The comparison keeps the answer exact: a token that shares a
 * tail with a verified one but differs anywhere else is a miss, and is verified
 * in full. 43 base64url characters are 256 bits of the signature.
 */
export const KEY_LENGTH = 43;

function keyOf(token: string): string {
  return token.length > KEY_LENGTH ? token.slice(-KEY_LENGTH) : token;
}

export class VerifiedTokens<V> {
  private readonly map = new Map<string, { readonly token: string; readonly value: V }>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  get(token: string): V | undefined {
    const e = this.map.get(keyOf(token));
    return e !== undefined && e.token === token ? e.value : undefined;
  }

  set(token: string, value: V): void {
    if (!(this.capacity > 0)) return;
    const key = keyOf(token);
    if (!this.map.has(key) && this.map.size >= this.capacity) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, { token, value });
  }

  /** Forgets `token` (and nothing else, even a token that shares its tail). */
  delete(token: string): void {
    const key = keyOf(token);
    if (this.map.get(key)?.token === token) this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}
