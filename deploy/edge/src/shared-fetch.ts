/**
 * A document of the waiting room (the JWKS, the revocation list) fetched
 * through the data centre's Cache API, so the isolates of one data centre share
 * one fetch per max-age instead of one each. The time of the network fetch
 * travels with the cached copy, so an isolate that takes it from the cache
 * still knows its real age: memory plus cache never add up to more than maxAge.
 */

/** The edge's own header on cached copies: when the network fetch happened, ms since the epoch. */
const FETCHED_AT = 'x-waitroom-edge-fetched-at';

/** A waiting room slower than this counts as unreachable (the visitor is waiting on it). */
export const FETCH_TIMEOUT_MS = 3_000;

/**
 * After a failed fetch, the next attempt waits this long: requests meanwhile use
 * the copy held (or fail at once without one) instead of each waiting on an
 * unreachable waiting room for up to FETCH_TIMEOUT_MS.
 */
export const RETRY_AFTER_FAILURE_MS = 2_000;

/** The waiting room could not give a usable document: FAIL_OPEN decides what the visitor gets. */
export class UpstreamUnavailableError extends Error {
  override readonly name = 'UpstreamUnavailableError';
}

export interface Fetched {
  readonly body: string;
  readonly fetchedAtMs: number;
}

export async function fetchShared(url: string, maxAgeSeconds: number, opts: { bypassCache: boolean; accept: string }): Promise<Fetched> {
  const cache = caches.default;
  const key = new Request(url, { method: 'GET' });
  if (!opts.bypassCache && maxAgeSeconds > 0) {
    const hit = await cache.match(key);
    const at = Number(hit?.headers.get(FETCHED_AT));
    if (hit && Number.isFinite(at) && Date.now() - at < maxAgeSeconds * 1000) return { body: await hit.text(), fetchedAtMs: at };
  }
  let res: Response;
  try {
    res = await fetch(url, { headers: { Accept: opts.accept }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (err) {
    throw new UpstreamUnavailableError(`${url}: ${(err as Error).message}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new UpstreamUnavailableError(`${url} answered ${res.status}`);
  }
  const body = await res.text();
  const fetchedAtMs = Date.now();
  if (maxAgeSeconds > 0) {
    await cache.put(key, new Response(body, { headers: { 'Cache-Control': `max-age=${maxAgeSeconds}`, [FETCHED_AT]: String(fetchedAtMs) } }));
  }
  return { body, fetchedAtMs };
}
