import type { IncomingMessage } from 'node:http';

/**
 * The client address used for per-client limits. With TRUST_PROXY it is the
 * leftmost X-Forwarded-For entry, as Express computes req.ip with
 * `trust proxy = true`; otherwise the socket's peer address.
 */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = req.headers['x-forwarded-for'];
    const first = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress ?? 'unknown';
}
