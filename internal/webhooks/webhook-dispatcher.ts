import type { Logger } from 'pino';
import { LeaderLease } from '../leader/lease';
import { parseEventEntry, type WaitroomEvent } from '../event-stream/event-types';
import type { StoredStreamEntry } from '../store/store';
import type { EndpointCache } from './endpoint-cache';
import { nextAttemptAt, type BackoffSettings } from './retry-backoff';
import type { WebhookMetrics } from './webhook-metrics';
import type { WebhookSender } from './webhook-sender';
import type { QueueDispatchStore, WebhookStore } from './webhook-store';
import { endpointMatches, type DeliveryRecord, type WebhookEndpoint } from './webhook-types';

export interface DispatcherSettings {
  readonly pollMs: number;
  readonly leaseTtlMs: number;
  readonly leaseRenewMs: number;
  readonly backoff: BackoffSettings;
  readonly disableAfterMs: number;
  /** Entries kept in a queue's event stream (for the webhook.disabled event). */
  readonly eventStreamMaxLength: number;
  /** Delivery records kept per endpoint for the admin API. */
  readonly recordsKept: number;
}

export interface DispatcherOptions {
  readonly queueId: string;
  readonly store: QueueDispatchStore;
  readonly webhooks: WebhookStore;
  readonly endpoints: EndpointCache;
  readonly sender: WebhookSender;
  /** This replica's id: lease owner and consumer name in the group. */
  readonly owner: string;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  readonly settings: DispatcherSettings;
  readonly now?: () => number;
  readonly random?: () => number;
  /**
   * Whether this replica should hold the queue's dispatcher lease (the queue's lease placement,
   * internal/queues/lease-placement.ts). Default: always. Whatever it says, no replica holds
   * the lease of a queue no endpoint can receive events of (see `wanted`).
   */
  readonly eligible?: () => boolean;
}

/** Entries read from the stream per step, and retries taken per step. */
const BATCH = 50;
/** Allowance for the difference between Redis's clock (entry times) and this replica's. */
const CLOCK_MARGIN_MS = 1000;
/** Retries sent at once (different endpoints or events; each bounded by WEBHOOK_TIMEOUT_MS). */
const RETRY_CONCURRENCY = 10;

/**
 * Delivers one queue's events to its webhook endpoints. One replica at a time runs it,
 * under a lease of its own (`waitroom:{q}:webhook-dispatcher`, LeaderLease like the
 * ticker's): the lease holder reads the queue's event stream in the consumer group
 * `waitroom-webhooks`, sends each entry to every matching endpoint, schedules failed
 * sends in the queue's retry sorted set, and only then XACKs the entry. So an entry is
 * acknowledged once each of its deliveries is either done or durably scheduled; a
 * replica killed in between leaves the entry pending in the group, and the next lease
 * holder takes it over with XAUTOCLAIM (idle 0: only the lease holder reads) and sends it
 * again: at least once, with the same webhook-id.
 */
export class WebhookDispatcher {
  readonly lease: LeaderLease;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** No poll is scheduled: no endpoint takes this queue's events (wanted()) until wake(). */
  private sleeping = false;
  private closed = false;
  /** Set on every lease acquisition: the first step takes over entries left pending. */
  private takeOver = true;
  private groupReady = false;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: Logger;

  constructor(private readonly o: DispatcherOptions) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.log = o.logger;
    this.lease = new LeaderLease({
      store: o.store,
      owner: o.owner,
      ttlMs: o.settings.leaseTtlMs,
      renewMs: o.settings.leaseRenewMs,
      logger: o.logger,
      role: 'webhook dispatcher',
      eligible: () => this.wanted() && (o.eligible?.() ?? true),
      // Only an endpoint change can make an unwanted dispatcher wanted, and it calls wake().
      sleepWhile: () => !this.wanted(),
    });
    this.lease.on('acquired', () => {
      this.takeOver = true;
      this.kick();
    });
    this.lease.on('lost', () => o.metrics.pending.set({ queue: o.queueId }, 0));
  }

  /**
   * True while some endpoint (enabled or not: a disabled one may still have retries to drop)
   * takes this queue's events. Without one nothing is delivered, so nothing is leased or read:
   * with 1,000 queues and no endpoints that saves 1,000 lease renewals and 6,000 stream and
   * retry reads a second. The stream keeps its entries meanwhile; an endpoint created later
   * gets only events from after its creation (endpointMatches), so the backlog is read and
   * acknowledged without a send when dispatching starts. Neither the lease nor the poll runs
   * a timer meanwhile (1,000 queues without endpoints made 2,600 empty checks a second when
   * they did): the endpoint cache wakes every dispatcher when the endpoints change.
   */
  wanted(): boolean {
    return this.o.endpoints.ready && this.o.endpoints.endpoints.some((e) => e.queue === null || e.queue === this.o.queueId);
  }

  start(): void {
    if (this.closed) return;
    this.o.metrics.track(this.o.queueId);
    this.lease.start();
    this.schedule(this.o.settings.pollMs);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), ms);
  }

  /** The endpoints changed: a sleeping dispatcher (and its lease) looks again at once. */
  wake(): void {
    if (this.closed) return;
    this.lease.wake();
    if (this.sleeping) {
      this.sleeping = false;
      this.kick();
    }
  }

  private kick(): void {
    if (this.closed || this.running) return;
    this.running = this.step()
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'webhook dispatch step failed; retrying'))
      .finally(() => {
        this.running = undefined;
        if (this.wanted()) this.schedule(this.o.settings.pollMs);
        else this.sleeping = true;
      });
  }

  /** One pass: take over, read new entries, send due retries. Only while holding the lease. */
  private async step(): Promise<void> {
    if (!this.lease.isLeader() || !this.o.endpoints.ready) return;
    const s = this.o.store;
    if (!this.groupReady) {
      await s.ensureGroup();
      this.groupReady = true;
    }
    if (this.takeOver) {
      // Entries a previous holder read and never acknowledged (it died mid-delivery).
      for (;;) {
        const stale = await s.claimStale(this.o.owner, 0, BATCH);
        await this.freshEndpoints(stale);
        for (const e of stale) await this.handleEntry(e);
        if (stale.length < BATCH || !this.lease.isLeader()) break;
      }
      this.takeOver = false;
    }
    for (let i = 0; i < 20 && this.lease.isLeader() && !this.closed; i++) {
      const fresh = await s.readNew(this.o.owner, BATCH);
      await this.freshEndpoints(fresh);
      for (const e of fresh) {
        if (!this.lease.isLeader() || this.closed) return;
        await this.handleEntry(e);
      }
      if (fresh.length < BATCH) break;
    }
    if (!this.lease.isLeader() || this.closed) return;
    const due = await s.due(this.now(), BATCH);
    for (let i = 0; i < due.length; i += RETRY_CONCURRENCY) {
      await Promise.all(due.slice(i, i + RETRY_CONCURRENCY).map((d) => this.retry(d.endpointId, d.entryId)));
    }
    this.o.metrics.pending.set({ queue: this.o.queueId }, await s.pendingRetries());
  }

  /**
   * Makes sure the endpoint copy was read after the newest of `batch` was appended (one read
   * per batch at most), so an endpoint created just before an entry is not missed. The
   * entry times are Redis's clock, the copy's this replica's: a second of margin for skew.
   */
  private async freshEndpoints(batch: readonly StoredStreamEntry[]): Promise<void> {
    let newest = -1;
    for (const e of batch) newest = Math.max(newest, Number(e.fields.time) || 0);
    if (newest >= 0) await this.o.endpoints.asOf(newest + CLOCK_MARGIN_MS);
  }

  private parse(entry: StoredStreamEntry): WaitroomEvent | undefined {
    try {
      return parseEventEntry(this.o.queueId, entry);
    } catch (err) {
      // Not one of ours (written by hand?): nothing a receiver could use; skip it loudly.
      this.log.error({ entry: entry.id, err: (err as Error).message }, 'event stream entry is not a valid event; not delivered');
      return undefined;
    }
  }

  private async handleEntry(entry: StoredStreamEntry): Promise<void> {
    const event = this.parse(entry);
    if (event) {
      const ms = Date.parse(event.time);
      const targets = this.o.endpoints.endpoints.filter((e) => endpointMatches(e, this.o.queueId, event.type, ms));
      const body = JSON.stringify(event);
      await Promise.all(targets.map((e) => this.attempt(e, entry.id, event, body, 0)));
    }
    await this.o.store.ack([entry.id]);
  }

  private async retry(endpointId: string, entryId: string): Promise<void> {
    const s = this.o.store;
    const endpoint = this.o.endpoints.endpoints.find((e) => e.id === endpointId) ?? (await this.o.webhooks.getEndpoint(endpointId));
    if (!endpoint || !endpoint.enabled) {
      // Deleted or disabled since: its retries stop (a re-enabled endpoint gets new events).
      await s.unschedule(endpointId, entryId);
      return;
    }
    const entry = await s.readEntry(entryId);
    const event = entry && this.parse(entry);
    if (!event) {
      await s.unschedule(endpointId, entryId);
      await this.record(endpoint.id, {
        eventId: `evt_${this.o.queueId}_${entryId}`,
        queue: this.o.queueId,
        type: 'unknown',
        state: 'failed',
        attempts: 0,
        lastStatus: null,
        lastError: 'the event was trimmed from the stream (EVENT_STREAM_MAX_LENGTH) before it could be delivered',
        lastAttemptAtMs: this.now(),
        nextAttemptAtMs: null,
      });
      this.o.metrics.deliveries.inc({ queue: this.o.queueId, result: 'failed' });
      return;
    }
    const previous = await this.o.webhooks.getDelivery(endpoint.id, event.id);
    await this.attempt(endpoint, entryId, event, JSON.stringify(event), previous?.attempts ?? 1);
  }

  private async attempt(e: WebhookEndpoint, entryId: string, event: WaitroomEvent, body: string, previousAttempts: number): Promise<void> {
    const startedMs = this.now();
    const r = await this.o.sender.send(e.url, e.secret, event.id, body, new Date(startedMs));
    const attempts = previousAttempts + 1;
    const s = this.o.store;
    const base = { eventId: event.id, queue: this.o.queueId, type: event.type, attempts, lastStatus: r.status, lastError: r.error, lastAttemptAtMs: startedMs };
    if (r.ok) {
      await s.unschedule(e.id, entryId);
      await this.record(e.id, { ...base, state: 'delivered', nextAttemptAtMs: null });
      this.o.metrics.deliveries.inc({ queue: this.o.queueId, result: 'delivered' });
      await this.o.webhooks.noteHealth(e.id, true, this.now(), this.o.settings.disableAfterMs);
      return;
    }
    const next = nextAttemptAt(attempts, this.now(), Date.parse(event.time), this.o.settings.backoff, this.random());
    if (next === null) {
      await s.unschedule(e.id, entryId);
      await this.record(e.id, { ...base, state: 'failed', nextAttemptAtMs: null });
      this.o.metrics.deliveries.inc({ queue: this.o.queueId, result: 'failed' });
      this.log.warn({ webhook: e.id, event: event.id, attempts, err: r.error }, 'webhook delivery failed for good');
    } else {
      // Scheduled before it is recorded or acked: the retry set is what makes it durable.
      await s.schedule(e.id, entryId, next);
      await this.record(e.id, { ...base, state: 'pending', nextAttemptAtMs: next });
      this.o.metrics.deliveries.inc({ queue: this.o.queueId, result: 'retry' });
      this.log.info({ webhook: e.id, event: event.id, attempts, err: r.error, nextInMs: next - this.now() }, 'webhook delivery failed; retry scheduled');
    }
    const health = await this.o.webhooks.noteHealth(e.id, false, this.now(), this.o.settings.disableAfterMs);
    if (health.due) await this.disable(e, health.sinceMs, r.error ?? 'failed');
  }

  private async record(endpointId: string, d: DeliveryRecord): Promise<void> {
    await this.o.webhooks.recordDelivery(endpointId, d, this.o.settings.recordsKept);
  }

  /** Disables an endpoint that failed for disableAfterMs and says so in the queue's stream. */
  private async disable(e: WebhookEndpoint, sinceMs: number, lastError: string): Promise<void> {
    const cur = await this.o.webhooks.getEndpoint(e.id);
    if (!cur || !cur.enabled) return;
    const now = this.now();
    const reason = `every delivery failed for ${Math.round((now - sinceMs) / 1000)} s (last: ${lastError})`;
    const next: WebhookEndpoint = { ...cur, enabled: false, disabledReason: reason, version: Math.max(cur.version + 1, now), updatedAtMs: now };
    const w = await this.o.webhooks.replaceEndpoint(next, cur.version);
    // Another replica (another queue's dispatcher) got there first, or an admin changed it: its word stands.
    if (w.outcome !== 'written') return;
    // Not atomic with the write above: the endpoint lives in the {webhooks} slot, the stream in
    // the queue's. A crash in between leaves the endpoint disabled without its event.
    await this.o.store.appendEvent('webhook.disabled', { queue: this.o.queueId, webhook: e.id, url: e.url, failingSinceMs: sinceMs, reason }, this.o.settings.eventStreamMaxLength);
    await this.o.endpoints.refresh();
    this.log.warn({ webhook: e.id, url: e.url, reason }, 'webhook endpoint disabled');
  }

  /** Stops dispatching and releases the lease (a successor takes over at once). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await this.lease.close();
    this.o.metrics.untrack(this.o.queueId);
  }
}
