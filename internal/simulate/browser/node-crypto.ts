/**
 * `node:crypto` for the browser bundle: the embedded store's epoch ids. `crypto.randomUUID`
 * exists only in secure contexts (https, localhost); a console served over plain http
 * elsewhere gets a version 4 UUID from `crypto.getRandomValues`, which every context has.
 */
interface WebCrypto {
  randomUUID?: () => string;
  getRandomValues(a: Uint8Array): Uint8Array;
}

export function randomUUID(): string {
  const c = (globalThis as unknown as { crypto: WebCrypto }).crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
