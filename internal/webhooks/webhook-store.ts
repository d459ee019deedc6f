import type { StoredStreamEntry } from '../store/store';
import type { DeliveryRecord, WebhookEndpoint } from './webhook-types';

export type EndpointWriteResult = { readonly outcome: 'written' } | { readonly outcome: 'missing' } | { readonly outcome: 'exists' } | { readonly outcome: 'conflict'; readonly version: number };

/**
 * Webhook endpoints and delivery records (the `{webhooks}` slot), and per queue the
 * dispatcher's view of the queue's event stream (consumer group, retry schedule, lease) in
 * the queue's own slot. No call touches both slots. Implemented for Redis only: the
 * embedded store has no consumer groups, so it runs without webhooks (docs/events.md).
 */
export interface WebhookStore {
  createEndpoint(e: WebhookEndpoint): Promise<EndpointWriteResult>;
  /** expectedVersion undefined: whatever version it is. */
  replaceEndpoint(e: WebhookEndpoint, expectedVersion?: number): Promise<EndpointWriteResult>;
  deleteEndpoint(id: string, expectedVersion?: number): Promise<EndpointWriteResult>;
  getEndpoint(id: string): Promise<WebhookEndpoint | null>;
  listEndpoints(): Promise<WebhookEndpoint[]>;
  /** False (nothing written) when the endpoint was deleted meanwhile. */
  recordDelivery(endpointId: string, d: DeliveryRecord, keep: number): Promise<boolean>;
  /** Newest first. */
  listDeliveries(endpointId: string, limit: number): Promise<DeliveryRecord[]>;
  getDelivery(endpointId: string, eventId: string): Promise<DeliveryRecord | null>;
  /** Tracks continuous failure; true when it has lasted disableAfterMs (the caller disables the endpoint). */
  noteHealth(endpointId: string, ok: boolean, nowMs: number, disableAfterMs: number): Promise<{ due: boolean; sinceMs: number }>;
  queue(queueId: string): QueueDispatchStore;
}

/** One queue's dispatcher state: all keys in the queue's slot. */
export interface QueueDispatchStore {
  readonly queueId: string;
  acquireLease(owner: string, ttlMs: number): Promise<boolean>;
  renewLease(owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(owner: string): Promise<boolean>;
  /** XGROUP CREATE ... 0 MKSTREAM unless it exists. */
  ensureGroup(): Promise<void>;
  /** XREADGROUP ... '>': entries never delivered to the group. */
  readNew(consumer: string, count: number): Promise<StoredStreamEntry[]>;
  /** XAUTOCLAIM: entries another consumer read and did not acknowledge for minIdleMs. */
  claimStale(consumer: string, minIdleMs: number, count: number): Promise<StoredStreamEntry[]>;
  ack(entryIds: readonly string[]): Promise<void>;
  /** One stream entry, or null when it was trimmed away. */
  readEntry(entryId: string): Promise<StoredStreamEntry | null>;
  schedule(endpointId: string, entryId: string, dueMs: number): Promise<void>;
  unschedule(endpointId: string, entryId: string): Promise<void>;
  /** Retries due at nowMs, earliest first. */
  due(nowMs: number, count: number): Promise<Array<{ endpointId: string; entryId: string }>>;
  pendingRetries(): Promise<number>;
  /** Appends an event to the queue's stream (append-event.lua); returns its entry id. */
  appendEvent(type: string, body: unknown, keep: number): Promise<string>;
}
