import { randomBytes } from 'node:crypto';
import type express from 'express';
import type { Request, Response } from 'express';
import { BadRequestError, ConflictError, InvalidRequestError, PreconditionFailedError, WebhookNotFoundError, WebhooksUnavailableError } from '../errors/errors';
import { expressRoute } from '../http/express-route';
import type { HttpResult } from '../http/respond';
import { parseOrThrow } from '../queues/queue-settings';
import { checkWebhookUrl, ForbiddenTargetError, type AddressPolicy } from '../webhooks/address-policy';
import type { EndpointWriteResult, WebhookStore } from '../webhooks/webhook-store';
import {
  CreateWebhookBodySchema,
  PatchWebhookBodySchema,
  WebhookIdSchema,
  viewOfWebhook,
  type DeliveryListBody,
  type WebhookEndpoint,
} from '../webhooks/webhook-types';

export interface WebhookRouteDeps {
  /** null: the embedded store; every webhook route answers 501. */
  readonly store: WebhookStore | null;
  readonly policy: AddressPolicy;
  /** Called after a write, so this replica's dispatchers use the change at once. */
  readonly changed?: () => Promise<void>;
  readonly audit: (req: Request, res: Response, action: string, target: string, changes: Record<string, { before: unknown; after: unknown }>) => Promise<void>;
}

const etag = (v: number) => `"${v}"`;

/** `"123"` -> 123; '*' and absent -> undefined; anything else 400. */
function ifMatchOf(h: string | undefined): number | undefined {
  if (h === undefined || h.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"(\d{1,20})"\s*$/.exec(h);
  if (!m) throw new BadRequestError('If-Match must be the ETag of the webhook, e.g. "1732441234567"', 'invalid_if_match');
  return Number(m[1]);
}

/** The URL rule as a 400 listing the field, like every other body check. */
function checkUrl(url: string, policy: AddressPolicy): void {
  try {
    checkWebhookUrl(url, policy);
  } catch (err) {
    if (!(err instanceof ForbiddenTargetError)) throw err;
    throw new InvalidRequestError(`invalid request body: url: ${err.message}`, [{ path: 'url', message: err.message }]);
  }
}

/** Standard Webhooks secret: whsec_ and the base64 of 32 random bytes (the spec asks 24 to 64). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

function written(r: EndpointWriteResult, id: string): void {
  if (r.outcome === 'missing') throw new WebhookNotFoundError(id);
  if (r.outcome === 'conflict') throw new PreconditionFailedError(r.version);
  if (r.outcome === 'exists') throw new ConflictError('webhook_exists', `webhook "${id}" exists`);
}

/**
 * Webhook endpoints in the admin API (docs/events.md#webhooks): create (the answer is the
 * only place the signing secret is shown), list, read, PATCH with If-Match, DELETE, and the
 * delivery records. Mounted behind the admin token and the failed-attempt limiter.
 */
export function mountWebhookRoutes(r: express.Router, base: string, d: WebhookRouteDeps): void {
  const store = (): WebhookStore => {
    if (!d.store) throw new WebhooksUnavailableError();
    return d.store;
  };
  const idParam = (req: Request) => parseOrThrow(WebhookIdSchema, req.params.id, 'webhook id');
  const readOrThrow = async (id: string): Promise<WebhookEndpoint> => {
    const e = await store().getEndpoint(id);
    if (!e) throw new WebhookNotFoundError(id);
    return e;
  };

  r.post(
    `${base}/webhooks`,
    expressRoute(async (req, res): Promise<HttpResult> => {
      const s = store();
      const b = parseOrThrow(CreateWebhookBodySchema, req.body);
      checkUrl(b.url, d.policy);
      const now = Date.now();
      const e: WebhookEndpoint = {
        id: `wh_${randomBytes(12).toString('hex')}`,
        url: b.url,
        events: [...new Set(b.events)],
        queue: b.queue ?? null,
        description: b.description ?? '',
        secret: newWebhookSecret(),
        enabled: true,
        disabledReason: null,
        version: now,
        createdAtMs: now,
        updatedAtMs: now,
      };
      written(await s.createEndpoint(e), e.id);
      await d.changed?.();
      const view = viewOfWebhook(e);
      await d.audit(req, res, 'webhook.create', e.id, { webhook: { before: null, after: view } });
      return { status: 201, headers: { ETag: etag(e.version), Location: `${base}/webhooks/${e.id}` }, body: { ...view, secret: e.secret } };
    }),
  );

  r.get(
    `${base}/webhooks`,
    expressRoute(async (): Promise<HttpResult> => ({ status: 200, body: { webhooks: (await store().listEndpoints()).map(viewOfWebhook) } })),
  );

  r.get(
    `${base}/webhooks/:id`,
    expressRoute(async (req): Promise<HttpResult> => {
      const e = await readOrThrow(idParam(req));
      return { status: 200, headers: { ETag: etag(e.version) }, body: viewOfWebhook(e) };
    }),
  );

  r.patch(
    `${base}/webhooks/:id`,
    expressRoute(async (req, res): Promise<HttpResult> => {
      const s = store();
      const id = idParam(req);
      const ifMatch = ifMatchOf(req.headers['if-match']);
      const patch = parseOrThrow(PatchWebhookBodySchema, req.body ?? {});
      if (patch.url !== undefined) checkUrl(patch.url, d.policy);
      const cur = await readOrThrow(id);
      if (ifMatch !== undefined && ifMatch !== cur.version) throw new PreconditionFailedError(cur.version);
      const now = Date.now();
      const enabled = patch.enabled ?? cur.enabled;
      const next: WebhookEndpoint = {
        ...cur,
        url: patch.url ?? cur.url,
        events: patch.events ? [...new Set(patch.events)] : cur.events,
        description: patch.description ?? cur.description,
        enabled,
        disabledReason: enabled ? null : (cur.disabledReason ?? 'disabled by an operator'),
        version: Math.max(cur.version + 1, now),
        updatedAtMs: now,
      };
      // Written only over the version read: a dispatcher disabling it meanwhile is a 412, not lost.
      written(await s.replaceEndpoint(next, cur.version), id);
      // Re-enabled: its failure clock starts again.
      if (enabled && !cur.enabled) await s.noteHealth(id, true, now, 1);
      await d.changed?.();
      const before = viewOfWebhook(cur);
      const after = viewOfWebhook(next);
      const changes: Record<string, { before: unknown; after: unknown }> = {};
      for (const k of Object.keys(after) as Array<keyof typeof after>) {
        if (k !== 'updatedAt' && k !== 'version' && JSON.stringify(before[k]) !== JSON.stringify(after[k])) changes[k] = { before: before[k], after: after[k] };
      }
      await d.audit(req, res, 'webhook.update', id, changes);
      return { status: 200, headers: { ETag: etag(next.version) }, body: after };
    }),
  );

  r.delete(
    `${base}/webhooks/:id`,
    expressRoute(async (req, res): Promise<HttpResult> => {
      const s = store();
      const id = idParam(req);
      const ifMatch = ifMatchOf(req.headers['if-match']);
      const before = await readOrThrow(id);
      written(await s.deleteEndpoint(id, ifMatch), id);
      await d.changed?.();
      await d.audit(req, res, 'webhook.delete', id, { webhook: { before: viewOfWebhook(before), after: null } });
      return { status: 204 };
    }),
  );

  r.get(
    `${base}/webhooks/:id/deliveries`,
    expressRoute(async (req): Promise<HttpResult> => {
      const id = idParam(req);
      const limitRaw = req.query.limit;
      const limit = limitRaw === undefined ? 100 : Number(limitRaw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new BadRequestError('limit must be an integer from 1 to 1000', 'invalid_request');
      await readOrThrow(id);
      const records = await store().listDeliveries(id, limit);
      // Typed by the schema the OpenAPI document gives for this answer.
      const body: DeliveryListBody = {
        deliveries: records.map((x) => ({
            eventId: x.eventId,
            queue: x.queue,
            type: x.type,
            state: x.state,
            attempts: x.attempts,
            lastStatus: x.lastStatus,
            lastError: x.lastError,
            lastAttemptAt: new Date(x.lastAttemptAtMs).toISOString(),
            nextAttemptAt: x.nextAttemptAtMs === null ? null : new Date(x.nextAttemptAtMs).toISOString(),
          })),
      };
      return { status: 200, body };
    }),
  );
}
