import type { IncomingMessage } from 'node:http';

/**
 * The client address used for per-client limits, computed as Express computes
 * req.ip with `trust proxy` set to a hop count: the socket's peer and then the
 * X-Forwarded-For entries from the right, skipping `trustedHops` trusted
 * proxies. Only entries appended by our own proxies are used, so a client that
 * sends its own X-Forwarded-For cannot choose its address.
 */
export function clientIp(req: IncomingMessage, trustedHops: number): string {
  const peer = req.socket.remoteAddress ?? 'unknown';
  if (trustedHops <= 0) return peer;
  const xff = req.headers['x-forwarded-for'];
  const raw = Array.isArray(xff) ? xff.join(',') : (xff ?? '');
  const chain = [peer, ...raw.split(',').map((a) => a.trim()).filter((a) => a !== '').reverse()];
  return chain[Math.min(trustedHops, chain.length - 1)]!;
}
