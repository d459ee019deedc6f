import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { toWaitroomError } from '../errors/errors';
import { LogThrottle } from '../observability/log-throttle';
import { errorResult, sendResult } from '../http/respond';
import type { Metrics } from '../observability/metrics';
import type { EventHub } from './event-hub';

/**
 * GET /events served straight from node:http, in front of Express: a stream
 * lives for minutes, and the per-request Express and pino-http objects
 * (docs/visitor.md, section SSE) would stay alive with it. Errors before
 * the stream opens are the same JSON as /status. Returns false for any other
 * request.
 */
export function createEventsRoute(
  hubFor: (req: IncomingMessage) => EventHub,
  logger: Logger,
  metrics?: Metrics,
  onRefused?: (req: IncomingMessage, code: string) => void,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  // Refusals: one line per code per second, as on the hot path.
  const refusals = new LogThrottle();
  return (req, res) => {
    if (req.method !== 'GET') return false;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) !== '/events') return false;
    req.resume();
    try {
      hubFor(req).open(req, res);
      metrics?.httpRequests.inc({ route: '/events', method: 'GET', status: res.statusCode });
    } catch (err) {
      const e = toWaitroomError(err);
      sendResult(res, errorResult(e));
      metrics?.httpRequests.inc({ route: '/events', method: 'GET', status: e.status });
      // The URL is not logged: it may carry the ticket token.
      if (e.status >= 500 && e.code === 'internal') logger.error({ err, url: '/events' }, 'event stream failed to open');
      else {
        if (e.status < 500) onRefused?.(req, e.code);
        const suppressed = refusals.admit(e.code, Date.now());
        if (suppressed >= 0) logger.warn({ url: '/events', status: e.status, code: e.code, suppressed }, 'event stream refused');
      }
    }
    return true;
  };
}
