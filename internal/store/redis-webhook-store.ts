import { UnavailableError } from '../errors/errors';
import type { EndpointWriteResult, QueueDispatchStore, WebhookStore } from '../webhooks/webhook-store';
import type { DeliveryRecord, WebhookEndpoint } from '../webhooks/webhook-types';
import { WEBHOOK_CONSUMER_GROUP, queueKeys, webhookKeys } from './keys';
import { storeCall, type StoreCallContext } from './redis-call';
import type { RedisConnection } from './redis-connection';
import type { StoredStreamEntry } from './store';

type Raw = unknown;

/** [[id, [f, v, ...]], ...] (XRANGE, XREADGROUP, XAUTOCLAIM) as entries; nil entries (deleted) are skipped. */
function entries(raw: Raw): StoredStreamEntry[] {
  if (!Array.isArray(raw)) return [];
  const out: StoredStreamEntry[] = [];
  for (const e of raw) {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || !Array.isArray(e[1])) continue;
    const flat = e[1] as unknown[];
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
    out.push({ id: e[0], fields });
  }
  return out;
}

function parseEndpoint(id: string, json: string): WebhookEndpoint {
  try {
    return JSON.parse(json) as WebhookEndpoint;
  } catch (err) {
    throw new UnavailableError('state_corrupt', `webhook endpoint ${id} is not valid JSON`, 5, { cause: err });
  }
}

function writeResult(r: ReadonlyArray<string | number>): EndpointWriteResult {
  const code = Number(r[0]);
  if (code === 1) return { outcome: 'written' };
  if (code === 0) return { outcome: 'missing' };
  if (code === 3) return { outcome: 'exists' };
  return { outcome: 'conflict', version: Number(r[1]) };
}

/** WebhookStore on the replica's Redis connection (see webhook-store.ts for the slots). */
export class RedisWebhookStore implements WebhookStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly ctx: StoreCallContext,
  ) {}

  private get redis() {
    return this.connection.commands;
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return storeCall(this.ctx, `webhooks ${what}`, fn);
  }

  private write(id: string, expected: string, json: string) {
    const k = webhookKeys;
    return this.call('writeEndpoint', () => this.redis.webhookEndpointWrite(k.endpoints, k.failingSince, k.deliveries(id), k.deliveryIndex(id), id, expected, json)).then(writeResult);
  }

  createEndpoint(e: WebhookEndpoint): Promise<EndpointWriteResult> {
    return this.write(e.id, 'new', JSON.stringify(e));
  }

  replaceEndpoint(e: WebhookEndpoint, expectedVersion?: number): Promise<EndpointWriteResult> {
    return this.write(e.id, expectedVersion === undefined ? 'any' : String(expectedVersion), JSON.stringify(e));
  }

  deleteEndpoint(id: string, expectedVersion?: number): Promise<EndpointWriteResult> {
    return this.write(id, expectedVersion === undefined ? 'any' : String(expectedVersion), '');
  }

  async getEndpoint(id: string): Promise<WebhookEndpoint | null> {
    const json = await this.call('getEndpoint', () => this.redis.hGet(webhookKeys.endpoints, id));
    return json ? parseEndpoint(id, json) : null;
  }

  async listEndpoints(): Promise<WebhookEndpoint[]> {
    const all = await this.call('listEndpoints', () => this.redis.hGetAll(webhookKeys.endpoints));
    return Object.entries(all)
      .map(([id, json]) => parseEndpoint(id, json))
      .sort((a, b) => a.createdAtMs - b.createdAtMs || a.id.localeCompare(b.id));
  }

  async recordDelivery(endpointId: string, d: DeliveryRecord, keep: number): Promise<boolean> {
    const k = webhookKeys;
    const r = await this.call('recordDelivery', () =>
      this.redis.webhookDeliveryRecord(k.deliveries(endpointId), k.deliveryIndex(endpointId), k.endpoints, endpointId, d.eventId, JSON.stringify(d), d.lastAttemptAtMs, keep),
    );
    return r === 1;
  }

  async listDeliveries(endpointId: string, limit: number): Promise<DeliveryRecord[]> {
    const k = webhookKeys;
    const ids = await this.call('listDeliveries', () => this.redis.zRange(k.deliveryIndex(endpointId), 0, limit - 1, { REV: true }));
    if (ids.length === 0) return [];
    const docs = await this.call('listDeliveries', () => this.redis.hmGet(k.deliveries(endpointId), ids));
    return docs.filter((d): d is string => typeof d === 'string').map((d) => JSON.parse(d) as DeliveryRecord);
  }

  async getDelivery(endpointId: string, eventId: string): Promise<DeliveryRecord | null> {
    const d = await this.call('getDelivery', () => this.redis.hGet(webhookKeys.deliveries(endpointId), eventId));
    return d ? (JSON.parse(d) as DeliveryRecord) : null;
  }

  async noteHealth(endpointId: string, ok: boolean, nowMs: number, disableAfterMs: number): Promise<{ due: boolean; sinceMs: number }> {
    const r = await this.call('noteHealth', () => this.redis.webhookHealth(webhookKeys.failingSince, endpointId, ok ? '1' : '0', nowMs, disableAfterMs));
    return { due: Number(r[0]) === 1, sinceMs: Number(r[1]) };
  }

  queue(queueId: string): QueueDispatchStore {
    const k = queueKeys(queueId);
    const redis = () => this.redis;
    const call = <T>(what: string, fn: () => Promise<T>) => this.call(`${what} ${queueId}`, fn);
    // Stream commands outside the fixed command list, routed by the stream's key (its queue's slot).
    const send = (what: string, args: string[]) => call(what, () => this.connection.sendCommand(k.eventStream, args));
    const member = (endpointId: string, entryId: string) => `${endpointId} ${entryId}`;
    return {
      queueId,
      acquireLease: async (owner, ttlMs) => (await call('dispatcher acquireLease', () => redis().set(k.webhookDispatcher, owner, { condition: 'NX', expiration: { type: 'PX', value: ttlMs } }))) === 'OK',
      renewLease: async (owner, ttlMs) => (await call('dispatcher renewLease', () => redis().leaseRenew(k.webhookDispatcher, owner, ttlMs))) === 1,
      releaseLease: async (owner) => (await call('dispatcher releaseLease', () => redis().leaseRelease(k.webhookDispatcher, owner))) === 1,
      ensureGroup: async () => {
        const args = ['XGROUP', 'CREATE', k.eventStream, WEBHOOK_CONSUMER_GROUP, '0', 'MKSTREAM'];
        // BUSYGROUP: the group exists, the usual case after the first start; any other error is thrown.
        await call('XGROUP CREATE', () => this.connection.sendCommand(k.eventStream, args).catch((err: unknown) => {
          if (/BUSYGROUP/.test((err as Error)?.message ?? '')) return 'exists';
          throw err;
        }));
      },
      readNew: async (consumer, count) => {
        const r = await send('XREADGROUP', ['XREADGROUP', 'GROUP', WEBHOOK_CONSUMER_GROUP, consumer, 'COUNT', String(count), 'STREAMS', k.eventStream, '>']);
        if (!Array.isArray(r) || r.length === 0) return [];
        const first = r[0] as unknown[];
        return entries(first[1]);
      },
      claimStale: async (consumer, minIdleMs, count) => {
        const r = await send('XAUTOCLAIM', ['XAUTOCLAIM', k.eventStream, WEBHOOK_CONSUMER_GROUP, consumer, String(minIdleMs), '0-0', 'COUNT', String(count)]);
        return Array.isArray(r) ? entries(r[1]) : [];
      },
      ack: async (ids) => {
        if (ids.length) await send('XACK', ['XACK', k.eventStream, WEBHOOK_CONSUMER_GROUP, ...ids]);
      },
      readEntry: async (entryId) => entries(await send('XRANGE', ['XRANGE', k.eventStream, entryId, entryId]))[0] ?? null,
      schedule: async (endpointId, entryId, dueMs) => {
        await call('schedule retry', () => redis().zAdd(k.webhookRetries, { score: dueMs, value: member(endpointId, entryId) }));
      },
      unschedule: async (endpointId, entryId) => {
        await call('unschedule retry', () => redis().zRem(k.webhookRetries, member(endpointId, entryId)));
      },
      due: async (nowMs, count) => {
        const r = await call('due retries', () => redis().zRangeByScore(k.webhookRetries, '-inf', nowMs, { LIMIT: { offset: 0, count } }));
        return r.map((m) => {
          const [endpointId = '', entryId = ''] = m.split(' ');
          return { endpointId, entryId };
        });
      },
      pendingRetries: () => call('pending retries', () => redis().zCard(k.webhookRetries)),
      appendEvent: (type, body, keep) => call('appendEvent', () => redis().appendEvent(k.eventStream, type, JSON.stringify(body), keep)),
    };
  }
}
