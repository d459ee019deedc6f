import type { IncomingMessage } from 'node:http';
import { BadRequestError } from '../errors/errors';

/**
 * Headers that must appear at most once: two credentials make "which one counts"
 * ambiguous. (Cookie is left alone: node:http joins repeated Cookie headers, which
 * HTTP/2-to-1 proxies may legitimately send.)
 */
const SINGLE_HEADERS = ['authorization', 'proxy-authorization'] as const;

/**
 * Refuses requests whose credentials are ambiguous. node:http keeps only the
 * first of two Authorization headers (it discards duplicates of that header),
 * so a proxy that checks the second and a replica that reads the first would
 * disagree about who is asking: 400 duplicate_header instead. Returns the
 * error, or undefined for a well-formed request.
 *
 * The verdict is req.headersDistinct's, but that object is built only when a
 * scan of req.rawHeaders finds one of these names twice: node builds it lazily,
 * and building it on every request, beside req.headers (which node itself
 * builds), cost GET /status 30.7 -> 29.8 µs of CPU per request (two builds side
 * by side on one busy core, 5 rounds, medians; every round in favour).
 * headersDistinct holds a prefix of rawHeaders (node stops at maxHeadersCount),
 * so "at most once in rawHeaders" implies "at most once in headersDistinct".
 */
export function checkRequest(req: IncomingMessage): BadRequestError | undefined {
  if (!mayRepeat(req.rawHeaders)) return undefined;
  const d = req.headersDistinct;
  for (const h of SINGLE_HEADERS) {
    if ((d[h]?.length ?? 0) > 1) return new BadRequestError(`the ${h} header was sent more than once`, 'duplicate_header');
  }
  return undefined;
}

/** True when Authorization or Proxy-Authorization (any case) occurs more than once in [name, value, ...]. */
export function mayRepeat(raw: readonly string[]): boolean {
  let auth = 0;
  let proxy = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Lengths first: most names are ruled out without a lower-case copy.
    if (name.length === 13) {
      if (name.toLowerCase() === 'authorization' && ++auth > 1) return true;
    } else if (name.length === 19) {
      if (name.toLowerCase() === 'proxy-authorization' && ++proxy > 1) return true;
    }
  }
  return false;
}
