import type { IncomingMessage } from 'node:http';

/** Where buildHandler records the queue a /q/{id}/... request named. */
const QUEUE = Symbol('waitroom.queue');

type WithQueue = IncomingMessage & { [QUEUE]?: string };

const PREFIX = /^\/q\/([a-z0-9-]{1,64})(\/[^?]*)?(\?.*)?$/;

/**
 * The visitor routes a queue has under /q/{id}: the waiting page and its assets,
 * the JSON API a visitor uses, and the challenge. Every other path under /q/{id}/
 * is 404: /q/x/metrics must not reach /metrics, nor /q/x/admin/... the admin API
 * (the production Ingress routes the whole /q/ prefix to the visitor side).
 */
export const QUEUE_VISITOR_PATHS: ReadonlySet<string> = new Set([
  '/',
  '/join',
  '/window',
  '/status',
  '/leave',
  '/stay',
  '/events',
  '/claim',
  '/challenge',
  '/client.js',
  '/format.js',
  '/app.js',
  '/page.css',
  '/theme.css',
  '/altcha.js',
  '/altcha.css',
  '/altcha-pbkdf2-worker.js',
]);

/**
 * Per-queue routes are the unprefixed routes under /q/{id}: /q/{id}/join is
 * /join for queue {id}. This strips the prefix from req.url and records the
 * queue on the request, so every route (hot path, streams, Express) exists
 * once and asks queueOf(req) which queue it serves. Returns:
 *   'none'      not a /q/ URL (the default queue)
 *   'ok'        rewritten
 *   'redirect'  /q/{id} without the trailing slash (the page's relative URLs need it)
 *   'not_found' /q/{id}/<path> where <path> is not a visitor route (QUEUE_VISITOR_PATHS)
 */
export function stripQueuePrefix(req: IncomingMessage): 'none' | 'ok' | 'redirect' | 'not_found' {
  const url = req.url ?? '/';
  if (!url.startsWith('/q/')) return 'none';
  const m = PREFIX.exec(url);
  if (!m) return 'none';
  if (m[2] === undefined) return 'redirect';
  if (!QUEUE_VISITOR_PATHS.has(m[2])) return 'not_found';
  (req as WithQueue)[QUEUE] = m[1];
  req.url = m[2] + (m[3] ?? '');
  return 'ok';
}

/** The queue a request named with /q/{id}/, or undefined for the unprefixed (default-queue) routes. */
export function queueOf(req: IncomingMessage): string | undefined {
  return (req as WithQueue)[QUEUE];
}
