import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { NotFoundError, toWaitroomError, type WaitroomError } from '../errors/errors';
import { LogThrottle } from '../observability/log-throttle';
import type { Metrics } from '../observability/metrics';
import type { Readiness } from '../service/readiness';
import type { ReadyzBody } from '../service/visitor-schemas';
import type { EventHub } from '../events/event-hub';
import { createEventsRoute } from '../events/events-route';
import { queueOf, stripQueuePrefix } from './queue-prefix';
import { adminRouter, type AdminDeps } from '../web/admin-routes';
import { webRouter, type WebDeps } from '../web/web-routes';
import type { ApiEndpoints } from './api';
import { createHotPath, type HotRoute } from './hot-path';
import { errorResult, sendResult } from './respond';
import { expressRoute, otherMethods } from './express-route';
import { jsonBody } from './json-body';
import { closeAfterReply } from './linger';
import { checkRequest } from './request-checks';

/** What the abuse controls (internal/abuse) add to the HTTP layer; absent in unit setups. */
export interface AbuseHooks {
  /** An error for a client that must be refused before routing (a blocked forger), or undefined. */
  refuse(req: IncomingMessage): WaitroomError | undefined;
  /** Told of every 4xx answer with its error code. */
  noteRefused(req: IncomingMessage, code: string): void;
  /** Per-client limit on POST /claim (express-rate-limit), run before the route. */
  readonly claimLimiter?: RequestHandler;
  /** GET /challenge and the widget's files. */
  readonly router?: Router;
}

export interface AppDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly api: ApiEndpoints;
  readonly readiness: Readiness;
  /** Express's "trust proxy" setting: true behind a load balancer. */
  /** Proxies in front that append to X-Forwarded-For (TRUST_PROXY). */
  readonly trustProxy: number;
  /** Fraction of successful hot requests logged. */
  readonly logSampleRate: number;
  // visitor side (optional): GET /events, the waiting page and client, the operator view
  /** The event hub of the queue a /events request's ticket belongs to (throws a typed error otherwise). */
  readonly events?: (req: IncomingMessage) => EventHub;
  readonly web?: WebDeps;
  readonly admin?: AdminDeps;
  /** False when METRICS_PORT serves /metrics on its own listener (metricsApp); default true. */
  readonly metricsOnMainPort?: boolean;
  /** Feature routers (e.g. admission) mounted after the core routes, before the 404. */
  readonly extraRouters?: readonly Router[];
  readonly abuse?: AbuseHooks;
}

/**
 * Query parameters logged as they are; every other value is masked. Tokens come in
 * many names (?token=, ?code=, ?access_token=, ?session=, ...), so the rule is an
 * allow-list of the parameters this service itself defines and that carry nothing secret.
 */
export const LOGGED_QUERY_PARAMS: ReadonlySet<string> = new Set(['lang', 'mode']);

/** A URL with the value of every query parameter outside LOGGED_QUERY_PARAMS masked. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      if (eq < 0 || LOGGED_QUERY_PARAMS.has(name)) return pair;
      return `${name}=[redacted]`;
    })
    .join('&');
  return `${url.slice(0, q)}?${query}`;
}

/** Largest JSON body any route accepts; no route needs more than a few hundred bytes. */
export const BODY_LIMIT_BYTES = 4096;

/** Probes and scrapes are frequent and uninteresting; they are not logged. */
const QUIET_PATHS = new Set(['/livez', '/readyz', '/metrics']);


/**
 * The Express application with every route, including the hot ones, so it is
 * complete on its own. Never listens: supertest drives it directly, and
 * buildHandler() puts the node:http hot path in front of it for production.
 */
export function buildApp(d: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.set('trust proxy', d.trustProxy);
  // 4xx lines: one per route, status and code per second, as on the hot path.
  const refusals = new LogThrottle();

  app.use(
    pinoHttp({
      logger: d.logger,
      genReqId: (req, res) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      autoLogging: { ignore: (req) => QUIET_PATHS.has((req.url ?? '').split('?')[0] ?? '') },
      // Compact lines: headers are left out entirely (they carry tokens and cookies).
      serializers: {
        req: (req: { id: unknown; method: string; url: string; remoteAddress?: string }) => ({
          id: req.id,
          method: req.method,
          url: redactUrl(req.url),
          remoteAddress: req.remoteAddress,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (req, res, err) => {
        if (err || res.statusCode >= 500) return 'error';
        if (res.statusCode < 400) return 'info';
        const code = (res as Response).locals?.errorCode ?? String(res.statusCode);
        const suppressed = refusals.admit(`${(req.url ?? '').split('?')[0]} ${res.statusCode} ${code}`, Date.now());
        if (suppressed < 0) return 'silent';
        (res as Response).locals.suppressed = suppressed;
        return 'warn';
      },
      customSuccessObject: (_req, res, val: Record<string, unknown>) => {
        const l = (res as Response).locals;
        return l?.suppressed === undefined ? val : { ...val, code: l.errorCode, suppressed: l.suppressed };
      },
    }),
  );
  app.use(
    helmet({
      // The API is called cross-origin by embedding sites; the waiting page sets its own CSP.
      crossOriginResourcePolicy: { policy: 'cross-origin' },
    }),
  );
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route?.path as string | undefined) ?? 'unmatched';
      d.metrics.httpRequests.inc({ route, method: req.method, status: res.statusCode });
      d.metrics.httpDuration.observe({ route }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    if (d.readiness.isDraining()) res.setHeader('Connection', 'close');
    next();
  });
  app.use(jsonBody(BODY_LIMIT_BYTES));
  if (d.abuse?.claimLimiter) app.post('/claim', d.abuse.claimLimiter);

  app.route('/join').post(expressRoute((req) => d.api.join(req, queueOf(req)))).all(otherMethods('POST'));
  app
    .route('/status')
    .get(expressRoute((req) => d.api.status(req.headers)))
    .delete(expressRoute((req) => d.api.leave(req)))
    .all(otherMethods('GET', 'DELETE'));
  app.route('/leave').post(expressRoute((req) => d.api.leave(req))).all(otherMethods('POST'));
  app.route('/stay').post(expressRoute((req) => d.api.stay(req))).all(otherMethods('POST'));
  app.route('/window').get(expressRoute((req) => d.api.window(queueOf(req)))).all(otherMethods('GET'));

  if (d.events) {
    const hubFor = d.events;
    app
      .route('/events')
      .get((req, res, next) => {
        try {
          hubFor(req).open(req, res);
        } catch (err) {
          next(err);
        }
      })
      .all(otherMethods('GET'));
  }
  if (d.web) app.use(webRouter(d.web));
  if (d.admin) app.use(adminRouter(d.admin));

  app.route('/livez').get((_req, res) => sendResult(res, { status: 200, body: { status: 'ok' } })).all(otherMethods('GET'));
  app
    .route('/readyz')
    .get((_req, res) => {
      const reason = d.readiness.reason();
      const body: ReadyzBody = reason === null ? { status: 'ready' } : { status: 'not_ready', reason };
      sendResult(res, reason === null ? { status: 200, body } : { status: 503, headers: { 'Retry-After': '1' }, body });
    })
    .all(otherMethods('GET'));
  // With METRICS_PORT set, /metrics is served only there (metricsApp), not on the public port.
  if (d.metricsOnMainPort !== false) app.route('/metrics').get(metricsHandler(d.metrics)).all(otherMethods('GET'));

  for (const r of d.extraRouters ?? []) app.use(r);
  if (d.abuse?.router) app.use(d.abuse.router);

  app.use((_req, _res, next) => next(new NotFoundError()));
  // The one error middleware: every error becomes the same JSON shape.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = toWaitroomError(err);
    if (e.status >= 500) (req.log ?? d.logger).error({ err }, 'request failed');
    else {
      res.locals.errorCode = e.code;
      d.abuse?.noteRefused(req, e.code);
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    sendResult(res, errorResult(e));
  });
  return app;
}

function metricsHandler(metrics: Metrics) {
  return async (_req: Request, res: Response, next: NextFunction) => {
    try {
      const body = await metrics.registry.metrics();
      res.setHeader('Content-Type', metrics.registry.contentType);
      res.setHeader('Cache-Control', 'no-store');
      res.end(body);
    } catch (err) {
      next(err);
    }
  };
}

/**
 * The handler of the METRICS_PORT listener: GET /metrics and nothing else, so
 * the public port (and whatever routes it to the internet) never exposes
 * queue sizes, the leader or process internals.
 */
export function metricsApp(metrics: Metrics): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.route('/metrics').get(metricsHandler(metrics)).all(otherMethods('GET'));
  app.use((_req, _res, next) => next(new NotFoundError()));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => sendResult(res, errorResult(toWaitroomError(err))));
  return app;
}

/**
 * The request handler the server listens with: the node:http hot path for the
 * hottest routes, Express for everything else. Also a valid supertest target.
 */
export function buildHandler(d: AppDeps, extraHotRoutes: Readonly<Record<string, HotRoute>> = {}) {
  const app = buildApp(d);
  const hotRoutes: Readonly<Record<string, HotRoute>> = {
    'POST /join': (req) => d.api.join(req, queueOf(req)),
    'GET /status': (req) => d.api.status(req.headers),
    'GET /window': (req) => d.api.window(queueOf(req)),
    ...extraHotRoutes,
  };
  const hot = createHotPath({
    routes: hotRoutes,
    logger: d.logger,
    metrics: d.metrics,
    sampleRate: d.logSampleRate,
    bodyLimit: BODY_LIMIT_BYTES,
    draining: () => d.readiness.isDraining(),
    ...(d.abuse ? { onRefused: (req: IncomingMessage, code: string) => d.abuse!.noteRefused(req, code) } : {}),
  });
  // Streams bypass Express too: a stream's per-request objects would live as long as it does.
  const events = d.events ? createEventsRoute(d.events, d.logger, d.metrics, d.abuse ? (req, code) => d.abuse!.noteRefused(req, code) : undefined) : undefined;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    // Checked before any route (the event stream and the hot path included).
    const refused = checkRequest(req) ?? d.abuse?.refuse(req);
    if (refused) {
      // The body, if any, is not read: close the connection after the answer.
      closeAfterReply(req, res);
      sendResult(res, errorResult(refused), ['Connection', 'close']);
      d.metrics.httpRequests.inc({ route: 'refused', method: req.method ?? '', status: refused.status });
      return;
    }
    // /q/{id}/... is the same route for queue {id}: strip the prefix once, here.
    const prefix = stripQueuePrefix(req);
    if (prefix === 'redirect') {
      const path = (req.url ?? '').split('?')[0] ?? '';
      res.writeHead(301, { Location: `${path}/`, 'Content-Length': '0' });
      res.end();
      return;
    }
    if (prefix === 'not_found') {
      // Only visitor routes exist under /q/{id}/ (queue-prefix.ts): never /metrics or the admin API.
      closeAfterReply(req, res);
      sendResult(res, errorResult(new NotFoundError()), ['Connection', 'close']);
      d.metrics.httpRequests.inc({ route: 'not_found', method: req.method ?? '', status: 404 });
      return;
    }
    if (events?.(req, res)) return;
    if (!hot(req, res)) app(req, res);
  };
  // What it serves, for the OpenAPI test: the Express app's routes, the hot path's, the stream's.
  return Object.assign(handler, { app, hotRoutes: Object.keys(hotRoutes), streamRoutes: events ? ['GET /events'] : [] });
}
