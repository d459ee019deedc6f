import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { PayloadTooLargeError, toWaitroomError } from '../errors/errors';
import { LogThrottle } from '../observability/log-throttle';
import type { Metrics } from '../observability/metrics';
import { RequestTally, type RouteTally } from '../observability/request-tally';
import { closeAfterReply } from './linger';
import { errorResult, sendResult, type HttpResult } from './respond';

/** A hot route: answers from headers alone (the body, if any, is drained and ignored). */
export type HotRoute = (req: IncomingMessage) => HttpResult | Promise<HttpResult>;

export interface HotPathOptions {
  /** Keyed by "METHOD /path". */
  readonly routes: Readonly<Record<string, HotRoute>>;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Fraction of successful requests logged at info; errors are always logged. */
  readonly sampleRate: number;
  /** Largest body accepted on a hot route, in bytes. */
  readonly bodyLimit: number;
  /** True once shutdown began: replies then ask clients to close the connection. */
  readonly draining: () => boolean;
  /** Told of every 4xx answer with its error code (the forgery guard counts forged tokens). */
  readonly onRefused?: (req: IncomingMessage, code: string) => void;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Serves the few hottest routes (GET /status, POST /join and later GET /verify)
 * straight from node:http, in front of the Express app. Measured on this
 * design's target machine, Express 5 adds ~70-85 µs of CPU per request and
 * pino-http ~50 µs, while /status itself costs ~25 µs: this path keeps the same
 * domain service, error codes and JSON shapes, but not the framework cost
 * (docs/benchmarks.md has the figures). Returns false for any other request,
 * which then goes to Express.
 */
export function createHotPath(o: HotPathOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  // 4xx lines: one per route and error code per second, with a count of the rest.
  const refusals = new LogThrottle();
  const counts = o.metrics ? new RequestTally(o.metrics) : undefined;
  // Each route with its metric series, resolved once here rather than per request; by method,
  // then path, so that a request looks its route up without building a "METHOD /path" string.
  const table = new Map<string, Map<string, RouteEntry>>();
  for (const [key, route] of Object.entries(o.routes)) {
    const sp = key.indexOf(' ');
    const method = key.slice(0, sp);
    const path = key.slice(sp + 1);
    let paths = table.get(method);
    if (!paths) table.set(method, (paths = new Map()));
    paths.set(path, { route, tally: counts?.route(method, path) });
  }

  /**
   * Writes the reply, then counts and (if it is logged) logs the request. Plain
   * functions with the request's parts as arguments, not closures made per request:
   * four closures, their context and the header list measured ~0.5 KB of garbage
   * for every request (a sampling allocation profile of GET /status).
   */
  const finish = (req: IncomingMessage, res: ServerResponse, q: RequestParts, r: HttpResult, err?: unknown) => {
    // Decide before replying whether this request is logged: the reply then carries the id.
    let log: 'error' | 'warn' | 'info' | undefined;
    let code = '';
    let suppressed = 0;
    if (r.status >= 500) log = 'error';
    else if (r.status >= 400) {
      code = (r.body as { error?: { code?: string } } | undefined)?.error?.code ?? String(r.status);
      o.onRefused?.(req, code);
      suppressed = refusals.admit(`${q.path} ${code}`, Date.now());
      if (suppressed >= 0) log = 'warn';
    } else if (o.sampleRate > 0 && Math.random() < o.sampleRate) log = 'info';
    const reqId = q.given ?? (log === undefined ? undefined : randomUUID());
    let extra: string[] | undefined;
    if (reqId !== undefined) extra = ['X-Request-Id', reqId];
    if (q.close) (extra ??= []).push('Connection', 'close');
    sendResult(res, r, extra);
    const seconds = Number(process.hrtime.bigint() - q.started) / 1e9;
    q.tally?.record(r.status, seconds);
    if (log === 'error') {
      o.logger.error({ reqId, method: req.method, url: q.path, status: r.status, ms: seconds * 1000, err }, 'request failed');
    } else if (log === 'warn') {
      o.logger.warn({ reqId, method: req.method, url: q.path, status: r.status, code, suppressed }, 'request refused');
    } else if (log === 'info') {
      o.logger.info({ reqId, method: req.method, url: q.path, status: r.status, ms: seconds * 1000, sampled: o.sampleRate }, 'request completed');
    }
  };
  const fail = (req: IncomingMessage, res: ServerResponse, q: RequestParts, err: unknown) => {
    const e = toWaitroomError(err);
    finish(req, res, q, errorResult(e), e.status >= 500 ? err : undefined);
  };
  const run = (req: IncomingMessage, res: ServerResponse, q: RequestParts, route: HotRoute) => {
    try {
      const r = route(req);
      if (r instanceof Promise) {
        r.then(
          (v) => {
            if (!res.headersSent) finish(req, res, q, v);
          },
          (err: unknown) => {
            if (!res.headersSent) fail(req, res, q, err);
          },
        );
      } else {
        finish(req, res, q, r);
      }
    } catch (err) {
      fail(req, res, q, err);
    }
  };
  const tooLarge = (req: IncomingMessage, res: ServerResponse, q: RequestParts) => {
    // Answer and close: reading an oversized body only to discard it wastes the core.
    q.close = true;
    closeAfterReply(req, res);
    fail(req, res, q, new PayloadTooLargeError(o.bodyLimit));
  };

  return (req, res) => {
    const url = req.url ?? '/';
    const qm = url.indexOf('?');
    const path = qm < 0 ? url : url.slice(0, qm);
    const entry = table.get(req.method ?? '')?.get(path);
    if (!entry) return false;
    // A request id is echoed when the client (or a proxy) sent a sane one, and made
    // only for a request that is logged, so that its reply and its log line share it:
    // a UUID and one more header for every reply measured ~1.5 µs of a ~40 µs /status.
    const incoming = req.headers['x-request-id'];
    const q: RequestParts = {
      path,
      given: typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : undefined,
      started: process.hrtime.bigint(),
      tally: entry.tally,
      // Shutdown began before this request arrived: its reply asks the client to close.
      close: o.draining(),
    };

    const length = Number(req.headers['content-length'] ?? 0);
    if (length > o.bodyLimit) {
      tooLarge(req, res, q);
      return true;
    }
    if (length > 0 || req.headers['transfer-encoding']) {
      // The hot routes ignore bodies, but the limit holds for every framing: the route
      // runs once the body has ended, so a chunked body past the limit gets 413 and
      // never a ticket (a 1 MB chunked POST /join was answered 201 before).
      let seen = 0;
      let over = false;
      req.on('data', (c: Buffer) => {
        seen += c.length;
        if (seen > o.bodyLimit && !over) {
          over = true;
          tooLarge(req, res, q);
        }
      });
      req.on('end', () => {
        if (!over) run(req, res, q, entry.route);
      });
      req.on('error', () => undefined);
    } else {
      req.resume();
      run(req, res, q, entry.route);
    }
    return true;
  };
}

interface RouteEntry {
  readonly route: HotRoute;
  readonly tally: RouteTally | undefined;
}

/** What the reply and the log line of one hot request need, in one object (one shape). */
interface RequestParts {
  readonly path: string;
  /** The client's sane X-Request-Id, echoed. */
  readonly given: string | undefined;
  readonly started: bigint;
  readonly tally: RouteTally | undefined;
  /** Set when the reply must close the connection (draining when it arrived, or an oversized body). */
  close: boolean;
}
