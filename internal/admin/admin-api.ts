import type { SiteKeys } from '../admission/site-auth';
import express, { type NextFunction, type Request, type Response } from 'express';
import { ConflictError, NotFoundError, PreconditionFailedError, QueueNotFoundError, BadRequestError } from '../errors/errors';
import { clientIp } from '../http/client-ip';
import { expressRoute } from '../http/express-route';
import type { HttpResult } from '../http/respond';
import { viewTicket, waitingCount, msUntilNextTick } from '../queue/arithmetic';
import type { QueueRegistry } from '../queues/queue-registry';
import { DEFAULT_NO_SHOW_GRACE_SECONDS, viewOf } from '../queues/queue-runtime';
import {
  CreateQueueBodySchema,
  PatchQueueBodySchema,
  QueueDocSchema,
  QueueIdSchema,
  parseOrThrow,
  rateSettings,
  QueueHealthBodySchema,
  type QueueDefaults,
  type QueueDoc,
  type QueueSettingsView,
  type QueueView,
} from '../queues/queue-settings';
import type { QueueCatalog, StoredQueue } from '../store/store';
import type { AdminAuth } from './admin-auth';
import { eventsOpenApiDocument } from '../event-stream/event-openapi';
import { parseEventEntry } from '../event-stream/event-types';
import { mountWebhookRoutes, type WebhookRouteDeps } from './webhook-routes';
import { FailedAttempts } from './failed-attempts';
import { AuditQuerySchema, type AuditBody, type QueueListBody } from './admin-schemas';
import { mountConsoleApi } from './console-api';

export interface AdminApiDeps {
  /** The site's keys (SITE_API_KEYS): the site reports its health with one. */
  readonly siteKeys: SiteKeys;
  readonly auth: AdminAuth;
  readonly catalog: QueueCatalog;
  readonly registry: QueueRegistry;
  readonly defaults: QueueDefaults;
  readonly defaultQueueId: string;
  readonly trustProxy: number;
  readonly replicaOwner: string;
  /** Audit entries kept (XADD MAXLEN ~). */
  readonly auditMaxEntries?: number;
  /** Webhook endpoints (store null on the embedded store: the routes answer 501). */
  readonly webhooks?: Omit<WebhookRouteDeps, 'audit'>;
}

export const ADMIN_API_BASE = '/admin/api/v1';

/** Failed admin token attempts allowed per client address per window, against guessing (as /admin). */
const FAILED_ATTEMPTS = 20;
const FAILED_WINDOW_MS = 15 * 60_000;

/** `"123"` (or W/"123") -> 123; '*' and absent -> undefined. A malformed header is a 400. */
export function parseIfMatch(h: string | undefined): number | undefined {
  if (h === undefined || h.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"(\d{1,20})"\s*$/.exec(h);
  if (!m) throw new BadRequestError('If-Match must be the ETag of the queue, e.g. "1732441234567"', 'invalid_if_match');
  return Number(m[1]);
}

const etag = (v: number) => `"${v}"`;

type Locals = { adminName: string };

/**
 * The admin API: queues as data (CRUD with ETag/If-Match), the audit log, and
 * the OpenAPI document. Every body is validated by the one zod schema
 * (internal/queues/queue-settings.ts). A write is one script on the queue's
 * keys, then the registry entry (another slot), then the audit entry; the
 * replica that took the request applies the change to itself at once, the
 * others on the registry announcement (or their next full re-read).
 */
export function adminApiRouter(d: AdminApiDeps): express.Router {
  const r = express.Router();
  const maxEntries = d.auditMaxEntries ?? 10_000;
  const failures = new FailedAttempts(FAILED_ATTEMPTS, FAILED_WINDOW_MS, (req) => clientIp(req, d.trustProxy));
  // Only a refused token is a failed attempt: an operator's bad body (400), a stale ETag
  // (412) or an unknown queue (404) must not lock them out in the middle of a sale.
  const authenticate = (req: Request, res: Response, next: NextFunction) => {
    if (!d.auth.enabled) return next(new NotFoundError('the admin API is disabled; set ADMIN_TOKENS or ADMIN_TOKEN'));
    try {
      (res.locals as Locals).adminName = d.auth.check(req.headers.authorization);
    } catch (err) {
      return failures.refused(req, res, next, err);
    }
    next();
  };
  const limiter = failures.guard;
  const base = ADMIN_API_BASE;
  // The site reports its own health with its site key (SITE_API_KEYS), not an admin token:
  // registered before the admin authentication of /queues so that it answers first.
  r.post(
    `${base}/queues/:id/health`,
    expressRoute(async (req): Promise<HttpResult> => {
      d.siteKeys.check(req.headers.authorization);
      const id = idParam(req);
      const b = parseOrThrow(QueueHealthBodySchema, req.body ?? {});
      const q = d.registry.get(id);
      if (!q) throw new QueueNotFoundError(id);
      const changed = await q.setOriginHold(!b.healthy, 'site', b.reason ?? 'reported by the site');
      return { status: 200, body: { queue: id, healthy: b.healthy, changed } };
    }),
  );
  r.use(`${base}/queues`, limiter, authenticate);
  r.use(`${base}/audit`, limiter, authenticate);
  r.use(`${base}/events`, limiter, authenticate);
  r.use(`${base}/webhooks`, limiter, authenticate);
  r.use(`${base}/summary`, limiter, authenticate);

  const audit = async (req: Request, res: Response, action: string, target: string, changes: Record<string, { before: unknown; after: unknown }>) => {
    await d.catalog.appendAudit(
      {
        at: new Date().toISOString(),
        actor: (res.locals as Locals).adminName,
        action,
        // Queue actions name the queue; webhook actions name the endpoint (wh_...).
        queue: target,
        changes: JSON.stringify(changes),
        ip: clientIp(req, d.trustProxy),
      },
      maxEntries,
    );
  };

  const live = (id: string): QueueView['live'] => {
    const rt = d.registry.get(id);
    const s = rt?.cache.peek();
    if (!rt || !s) return null;
    const now = rt.cache.storeNow();
    const age = rt.cache.ageMs();
    const eta = viewTicket(s.counter + 1, s, now).etaSeconds;
    return {
      epoch: s.epoch,
      counter: s.counter,
      windowEnd: s.windowEnd,
      waiting: waitingCount(s.counter, s.windowEnd),
      nextTickInMs: s.mode === 'open' ? Math.round(msUntilNextTick(s.nextDueMs, now)) : null,
      admittedLastMinute: rt.admittedLastMinute(),
      lastTicketEtaSeconds: eta,
      leader: rt.lease.isLeader() ? d.replicaOwner : null,
      stateAgeMs: Number.isFinite(age) ? Math.round(age) : null,
    };
  };

  const settingsOf = (st: StoredQueue): QueueSettingsView => viewOf(st.id, st.version, QueueDocSchema.parse(JSON.parse(st.doc)), st.snapshot);

  const readOrThrow = async (id: string): Promise<StoredQueue> => {
    const st = await d.catalog.readQueue(id);
    if (!st) throw new QueueNotFoundError(id);
    return st;
  };

  const idParam = (req: Request) => parseOrThrow(QueueIdSchema, req.params.id, 'queue id');

  r.get(
    `${base}/queues`,
    expressRoute(async () => {
      const listed = await d.catalog.listQueues();
      const queues: QueueView[] = [];
      for (const id of [...listed.keys()].sort()) {
        const rt = d.registry.get(id);
        // Served here: the runtime's view costs no store call; otherwise read it.
        const view = rt && rt.version === listed.get(id) ? rt.view() : await d.catalog.readQueue(id).then((st) => (st ? settingsOf(st) : undefined));
        if (view) queues.push({ ...view, live: live(id) });
      }
      const body: QueueListBody = { queues };
      return { status: 200, body };
    }),
  );

  r.get(
    `${base}/queues/:id`,
    expressRoute(async (req): Promise<HttpResult> => {
      const st = await readOrThrow(idParam(req));
      return { status: 200, headers: { ETag: etag(st.version) }, body: { ...settingsOf(st), live: live(st.id) } };
    }),
  );

  r.post(
    `${base}/queues`,
    expressRoute(async (req, res): Promise<HttpResult> => {
      const b = parseOrThrow(CreateQueueBodySchema, req.body);
      const now = new Date().toISOString();
      const doc: QueueDoc = {
        name: b.name ?? b.id,
        message: b.message ?? null,
        targetUrl: b.targetUrl ?? d.defaults.targetUrl,
        branding: { ...d.defaults.branding, ...b.branding },
        originHealth: b.originHealth ?? null,
        lengthAlert: b.lengthAlert ?? null,
        compensateNoShows: b.compensateNoShows ?? false,
        noShowGraceSeconds: b.noShowGraceSeconds === undefined ? DEFAULT_NO_SHOW_GRACE_SECONDS : b.noShowGraceSeconds,
        createdAt: now,
        updatedAt: now,
      };
      const settings = rateSettings({
        windowSize: b.windowSize ?? d.defaults.windowSize,
        intervalSeconds: b.intervalSeconds ?? d.defaults.intervalMs / 1000,
        activeWindowCount: b.activeWindowCount ?? d.defaults.activeWindowCount,
        state: b.state ?? 'open',
        opensAt: b.opensAt ?? null,
        maxActive: b.maxActive ?? null,
        lengthAlert: b.lengthAlert ?? null,
      });
      const result = await d.catalog.createQueue(b.id, JSON.stringify(doc), settings);
      if (result.outcome === 'exists') {
        // A create that stopped before its registry entry left the queue unlisted: list it now.
        await d.catalog.registerQueue(b.id, result.version);
        throw new ConflictError('queue_exists', `queue "${b.id}" exists; PATCH it to change its settings`);
      }
      await d.catalog.registerQueue(b.id, result.stored.version);
      d.registry.upsert(result.stored);
      const view = settingsOf(result.stored);
      await audit(req, res, 'queue.create', b.id, { queue: { before: null, after: view } });
      return { status: 201, headers: { ETag: etag(view.version), Location: `${base}/queues/${b.id}` }, body: { ...view, live: live(b.id) } };
    }),
  );

  r.patch(
    `${base}/queues/:id`,
    expressRoute(async (req, res): Promise<HttpResult> => {
      const id = idParam(req);
      const ifMatch = parseIfMatch(req.headers['if-match']);
      const patch = parseOrThrow(PatchQueueBodySchema, req.body ?? {});
      // Without If-Match the change is merged onto the latest version (retried once if another
      // change lands in between); with it, a stale version is 412 and nothing is written.
      for (let attempt = 0; ; attempt++) {
        const current = await readOrThrow(id);
        if (ifMatch !== undefined && ifMatch !== current.version) throw new PreconditionFailedError(current.version);
        const before = settingsOf(current);
        const after: QueueSettingsView = {
          ...before,
          ...patch,
          branding: { ...before.branding, ...patch.branding },
          updatedAt: new Date().toISOString(),
        };
        const doc: QueueDoc = {
          name: after.name,
          message: after.message,
          targetUrl: after.targetUrl,
          branding: after.branding,
          originHealth: after.originHealth,
          lengthAlert: after.lengthAlert,
          compensateNoShows: after.compensateNoShows,
          noShowGraceSeconds: after.noShowGraceSeconds,
          createdAt: after.createdAt,
          updatedAt: after.updatedAt,
        };
        // The change as planned against the version read: the script refuses any other version,
        // so this is exactly what the update changes (the body of its queue.updated event).
        const planned: Record<string, { before: unknown; after: unknown }> = {};
        for (const k of Object.keys(patch) as Array<keyof QueueSettingsView>) {
          if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) planned[k] = { before: before[k], after: after[k] };
        }
        const u = await d.catalog.updateQueue(id, current.version, JSON.stringify(doc), rateSettings(after), planned);
        if (u.outcome === 'missing') throw new QueueNotFoundError(id);
        if (u.outcome === 'conflict') {
          if (ifMatch !== undefined || attempt >= 2) throw new PreconditionFailedError(u.version);
          continue;
        }
        await d.catalog.registerQueue(id, u.stored.version);
        d.registry.upsert(u.stored);
        const view = settingsOf(u.stored);
        const changes: Record<string, { before: unknown; after: unknown }> = {};
        for (const k of Object.keys(patch) as Array<keyof QueueSettingsView>) {
          if (JSON.stringify(before[k]) !== JSON.stringify(view[k])) changes[k] = { before: before[k], after: view[k] };
        }
        await audit(req, res, 'queue.update', id, changes);
        return { status: 200, headers: { ETag: etag(view.version) }, body: { ...view, live: live(id) } };
      }
    }),
  );

  r.delete(
    `${base}/queues/:id`,
    expressRoute(async (req, res): Promise<HttpResult> => {
      const id = idParam(req);
      if (id === d.defaultQueueId) throw new ConflictError('default_queue', `queue "${id}" is this deployment's default queue (QUEUE_ID) and cannot be deleted; close it instead`);
      const ifMatch = parseIfMatch(req.headers['if-match']);
      const before = await readOrThrow(id);
      const result = await d.catalog.deleteQueue(id, ifMatch);
      if (result.outcome === 'missing') throw new QueueNotFoundError(id);
      if (result.outcome === 'conflict') throw new PreconditionFailedError(result.version);
      await d.catalog.unregisterQueue(id);
      await d.registry.drop(id);
      await audit(req, res, 'queue.delete', id, { queue: { before: settingsOf(before), after: null } });
      return { status: 204 };
    }),
  );

  // A queue's event stream, oldest first from `after` (a stream entry id; default the start).
  // Read even after the queue is deleted: the stream is kept and ends with queue.deleted.
  r.get(
    `${base}/queues/:id/events`,
    expressRoute(async (req): Promise<HttpResult> => {
      const id = idParam(req);
      const limitRaw = req.query.limit;
      const limit = limitRaw === undefined ? 100 : Number(limitRaw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new BadRequestError('limit must be an integer from 1 to 1000', 'invalid_request');
      const after = typeof req.query.after === 'string' ? req.query.after : '0';
      if (after !== '0' && !/^\d{1,20}-\d{1,20}$/.test(after)) throw new BadRequestError('after must be an event stream entry id ("<ms>-<seq>")', 'invalid_request');
      const entries = await d.catalog.readEvents(id, after, limit);
      const events = entries.map((e) => ({ streamId: e.id, ...parseEventEntry(id, e) }));
      return { status: 200, body: { events, next: entries.length ? entries[entries.length - 1]!.id : after } };
    }),
  );

  if (d.webhooks) mountWebhookRoutes(r, base, { ...d.webhooks, audit });

  r.get(
    `${base}/events/openapi.json`,
    expressRoute(async (): Promise<HttpResult> => ({ status: 200, body: eventsOpenApiDocument('1') })),
  );

  r.get(
    `${base}/audit`,
    expressRoute(async (req): Promise<HttpResult> => {
      const { limit, before } = parseOrThrow(AuditQuerySchema, req.query, 'query');
      const entries = await d.catalog.readAudit(limit, before);
      const body: AuditBody = {
        entries: entries.map((e) => ({
          id: e.id,
          at: e.fields.at ?? null,
          actor: e.fields.actor ?? null,
          action: e.fields.action ?? null,
          queue: e.fields.queue ?? null,
          ip: e.fields.ip ?? null,
          changes: e.fields.changes ? (JSON.parse(e.fields.changes) as Record<string, unknown>) : {},
        })),
      };
      return { status: 200, body };
    }),
  );
  // The operator console's routes (stats, ticket lookup, summary, rate preview), behind the same token check.
  mountConsoleApi(r, base, { registry: d.registry });
  return r;
}
