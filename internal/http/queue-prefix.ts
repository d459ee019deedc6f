import type { IncomingMessage } from 'node:http';

/** Where buildHandler records the queue a /q/{id}/... request named. */
const QUEUE = Symbol('waitroom.queue');

type WithQueue = IncomingMessage & { [QUEUE]?: string };

const PREFIX = /^\/q\/([a-z0-9-]{1,64})(\/[^?]*)?(\?.*)?$/;

/**
 * Per-queue routes are the unprefixed routes under /q/{id}: /q/{id}/join is
 * /join for queue {id}. This strips the prefix from req.url and records the
 * queue on the request, so every route (hot path, streams, Express) exists
 * once and asks queueOf(req) which queue it serves. Returns:
 *   'none'      not a /q/ URL (the default queue)
 *   'ok'        rewritten
 *   'redirect'  /q/{id} without the trailing slash (the page's relative URLs need it)
 */
export function stripQueuePrefix(req: IncomingMessage): 'none' | 'ok' | 'redirect' {
  const url = req.url ?? '/';
  if (!url.startsWith('/q/')) return 'none';
  const m = PREFIX.exec(url);
  if (!m) return 'none';
  if (m[2] === undefined) return 'redirect';
  (req as WithQueue)[QUEUE] = m[1];
  req.url = m[2] + (m[3] ?? '');
  return 'ok';
}

/** The queue a request named with /q/{id}/, or undefined for the unprefixed (default-queue) routes. */
export function queueOf(req: IncomingMessage): string | undefined {
  return (req as WithQueue)[QUEUE];
}
