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
 */
export function checkRequest(req: IncomingMessage): BadRequestError | undefined {
  const d = req.headersDistinct;
  for (const h of SINGLE_HEADERS) {
    if ((d[h]?.length ?? 0) > 1) return new BadRequestError(`the ${h} header was sent more than once`, 'duplicate_header');
  }
  return undefined;
}
