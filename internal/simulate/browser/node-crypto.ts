/** `node:crypto` for the browser bundle: the embedded store's epoch ids come from the Web Crypto API. */
export function randomUUID(): string {
  return (globalThis as unknown as { crypto: { randomUUID(): string } }).crypto.randomUUID();
}
