import type { Logger } from 'pino';
import type { EventHubOptions } from '../events/event-hub';
import { EventHub } from '../events/event-hub';
import { LeaderLease } from '../leader/lease';
import { Ticker } from '../leader/ticker';
import type { Metrics } from '../observability/metrics';
import { queueGauges } from '../observability/queue-gauges';
import type { QueueSettings, QueueSnapshot } from '../queue/queue-state';
import { QueueStateCache } from '../queue/state-cache';
import { admissionRate, NO_SHOW_MAX_MOVE } from '../queue/arithmetic';
import { OriginProbe } from '../health/origin-health';
import { RevocationList } from '../admission/revocation-list';
import { QueueService } from '../service/queue-service';
import { TicketBatcher } from '../service/ticket-batcher';
import { FlowSampler } from '../analytics/flow-sampler';
import type { FlowStore } from '../store/flow-store';
import type { PassStore } from '../store/pass-store';
import type { QueueStore, StoredQueue } from '../store/store';
import type { TicketTokens } from '../tokens/ticket-token';
import { lengthAlertSettings, QueueDocSchema, type QueueDoc, type QueueSettingsView } from './queue-settings';
import { SkippedMirror } from './skipped-mirror';
import { PresenceSweeper } from './presence-sweeper';

export interface QueueRuntimeOptions {
  readonly stored: StoredQueue;
  readonly store: QueueStore;
  readonly passStore: PassStore;
  /** The flow samples of the console's charts, written by this replica while it leads the queue. */
  readonly flowStore: FlowStore;
  readonly tokens: TicketTokens;
  readonly owner: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Full re-read period of this queue's state and revocations (STATE_RESYNC_MS), spread with jitter. */
  readonly resyncMs: number;
  readonly maxStalenessMs: number;
  readonly leaseTtlMs: number;
  readonly leaseRenewMs: number;
  readonly revocationRefreshMs: number;
  /** Whether this replica should lead this queue now (lease placement). */
  readonly eligible: () => boolean;
  readonly events: Omit<EventHubOptions, 'service' | 'cache' | 'logger' | 'metrics' | 'describe'>;
}

/** Moves of the window seen by this replica, for "admitted in the last minute". */
interface Admitted {
  readonly atMs: number;
  readonly count: number;
}

/**
 * One queue on one replica: its state cache, its lease, its ticker, its
 * ticket batcher and service, its event streams and its revocation list, each
 * with start() and an idempotent close() like every long-running part. The
 * registry makes one per stored queue and hands it new settings as they change.
 */
export class QueueRuntime {
  readonly id: string;
  readonly cache: QueueStateCache;
  readonly lease: LeaderLease;
  readonly ticker: Ticker;
  readonly service: QueueService;
  readonly events: EventHub;
  readonly revocations: RevocationList;
  readonly passStore: PassStore;
  readonly flowStore: FlowStore;
  private readonly sampler: FlowSampler;
  private docValue: QueueDoc;
  private versionValue: number;
  private readonly admitted: Admitted[] = [];
  private closing: Promise<void> | undefined;
  private readonly configListeners = new Set<() => void>();
  private untrack: (() => void) | undefined;
  private readonly originProbe: OriginProbe;
  private readonly skipped: SkippedMirror;
  private readonly presence: PresenceSweeper;
  private readonly log: Logger;

  constructor(private readonly o: QueueRuntimeOptions) {
    this.id = o.stored.id;
    this.docValue = QueueDocSchema.parse(JSON.parse(o.stored.doc));
    this.versionValue = o.stored.version;
    this.passStore = o.passStore;
    this.flowStore = o.flowStore;
    const log = (this.log = o.logger.child({ queue: this.id }));
    this.cache = new QueueStateCache({
      store: o.store,
      settings: () => this.rateSettings(),
      logger: log.child({ component: 'state' }),
      refreshMs: o.resyncMs,
      spread: true,
      maxStalenessMs: o.maxStalenessMs,
    });
    this.cache.apply(o.stored.snapshot, 'refresh');
    this.skipped = new SkippedMirror({ store: o.store, enabled: () => this.docValue.compensateNoShows === true, logger: log.child({ component: 'no-shows' }) });
    this.cache.onChange((s, prev) => this.skipped.note(s, prev));
    this.lease = new LeaderLease({
      store: o.store,
      owner: o.owner,
      ttlMs: o.leaseTtlMs,
      renewMs: o.leaseRenewMs,
      logger: log.child({ component: 'lease' }),
      eligible: o.eligible,
    });
    // An idle ticker is woken by the cache (pub/sub, or the change-log poll within
    // STATE_REFRESH_MS when a message was lost): its own backstop check can be as slow as the
    // full re-read. At 10 s, 1,000 idle queues cost 100 advance scripts a second.
    this.ticker = new Ticker({
      store: o.store,
      lease: this.lease,
      cache: this.cache,
      logger: log.child({ component: 'ticker' }),
      metrics: o.metrics,
      idleCheckMs: Math.max(10_000, o.resyncMs),
      maxMove: () => (this.docValue.compensateNoShows ? NO_SHOW_MAX_MOVE : 0),
    });
    const m = o.metrics;
    const q = this.id;
    const issued = m.issuedCounter(q);
    const batcher = new TicketBatcher(
      o.store,
      () => this.rateSettings(),
      512,
      (b) => {
        issued(b.count);
        m.joinBatchSize.observe(b.count);
      },
      () => this.cache.highWater(),
    );
    this.service = new QueueService({
      queueId: q,
      cache: this.cache,
      tokens: o.tokens,
      batcher,
      describe: () => ({ message: this.docValue.message, configVersion: this.versionValue }),
      compensating: () => this.docValue.compensateNoShows === true,
      store: o.store,
      wasSkipped: (epoch, ticket) => this.skipped.has(epoch, ticket),
      onContact: (epoch, ticket) => this.presence.note(epoch, ticket),
      onPresence: (change, n) => (change === 'left' ? m.noShowLeaves.inc({ queue: q, source: 'visitor' }, n) : m.noShowReturns.inc({ queue: q }, n)),
      onTicketAboveCounter: () => m.stateCorrupt.inc({ queue: q }),
      admittedPerSecond: () => this.admittedPerSecond(),
    });
    this.presence = new PresenceSweeper({
      store: o.store,
      cache: this.cache,
      openTickets: (epoch) => this.events.openTickets(epoch),
      graceMs: () => {
        const d = this.docValue;
        if (d.compensateNoShows !== true || d.noShowGraceSeconds === null) return null;
        return (d.noShowGraceSeconds ?? DEFAULT_NO_SHOW_GRACE_SECONDS) * 1000;
      },
      goneLifetimeMs: () => {
        const s = this.cache.peek();
        return o.tokens.ttlSeconds * 1000 + (s ? (s.activeWindowCount + 1) * s.intervalMs : 0);
      },
      onMarked: (n) => m.noShowLeaves.inc({ queue: q, source: 'stale' }, n),
      logger: log.child({ component: 'presence' }),
    });
    this.events = new EventHub({ ...o.events, service: this.service, cache: this.cache, logger: log.child({ component: 'events' }), metrics: m });
    this.revocations = new RevocationList({
      store: o.passStore,
      refreshMs: o.resyncMs,
      minRereadMs: o.revocationRefreshMs,
      logger: log.child({ component: 'revocations' }),
      onRevoked: () => this.ticker.wake(),
    });
    this.sampler = new FlowSampler({ flow: o.flowStore, lease: this.lease, cache: this.cache, logger: log.child({ component: 'flow' }) });
    this.originProbe = new OriginProbe({
      settings: () => this.docValue.originHealth ?? null,
      isLeader: () => this.lease.isLeader(),
      held: () => this.cache.peek()?.originHold === 1,
      setHold: async (hold, source, detail) => {
        await this.setOriginHold(hold, source, detail);
      },
      logger: log.child({ component: 'origin-probe' }),
    });
    // The prober sleeps without a timer until one of these can give it something to probe.
    this.lease.on('acquired', () => this.originProbe.wake());
    this.lease.on('valid', () => this.originProbe.wake());
    this.onConfig(() => this.originProbe.wake());
    this.wireMetrics();
  }

  /**
   * Holds or resumes admissions for the site's health (the leader's probe or the site's own
   * report): one script, every replica sees it in the published state. Logged and counted.
   */
  async setOriginHold(hold: boolean, source: 'probe' | 'site', detail: string): Promise<boolean> {
    const r = await this.o.store.setOriginHold(hold, { source, reason: detail });
    if (r.outcome === 'missing') return false;
    this.cache.apply(r.snapshot, 'refresh');
    if (r.outcome === 'changed') {
      if (hold) {
        this.o.metrics.originHolds.inc({ queue: this.id, source });
        this.log.warn({ source, detail }, 'the site is unhealthy: admissions held (visitors keep their place)');
      } else {
        this.log.warn({ source, detail }, 'the site is healthy again: admissions resume');
      }
    }
    return r.outcome === 'changed';
  }

  private wireMetrics(): void {
    const q = this.id;
    const m = this.o.metrics;
    // Per-queue gauges are read when Prometheus scrapes (queue-gauges.ts); untracked on close.
    this.untrack = m.trackQueue(q, () => queueGauges(this.cache.peek(), this.cache.storeNow(), this.cache.ageMs()));
    this.cache.onChange((s, prev) => {
      if (prev && prev.epoch === s.epoch && s.windowEnd > prev.windowEnd) this.noteAdmitted(s.windowEnd - prev.windowEnd);
    });
    this.lease.on('acquired', () => {
      m.leader.set({ queue: q }, 1);
      m.leadershipChanges.inc({ queue: q, change: 'acquired' });
    });
    this.lease.on('lost', () => {
      m.leader.set({ queue: q }, 0);
      m.leadershipChanges.inc({ queue: q, change: 'lost' });
    });
  }

  private noteAdmitted(count: number): void {
    const now = Date.now();
    this.admitted.push({ atMs: now, count });
    while (this.admitted.length > 0 && this.admitted[0]!.atMs < now - 60_000) this.admitted.shift();
  }

  /**
   * Admissions per second over the last minute (arithmetic.ts admissionRate), recomputed at
   * most every 250 ms: /status of a capped queue reads a number, never walks the samples.
   */
  admittedPerSecond(): number {
    const now = Date.now();
    if (now - this.rateAt >= 250) {
      this.rateValue = admissionRate(this.admitted, now);
      this.rateAt = now;
    }
    return this.rateValue;
  }

  private rateAt = -Infinity;
  private rateValue = 0;

  /** Tickets the window moved over in the last 60 s, as seen by this replica. */
  admittedLastMinute(): number {
    const since = Date.now() - 60_000;
    return this.admitted.reduce((n, a) => (a.atMs >= since ? n + a.count : n), 0);
  }

  get doc(): QueueDoc {
    return this.docValue;
  }

  get version(): number {
    return this.versionValue;
  }

  /** S, I, K, state and opening time: from the cached state, which the scripts keep. */
  rateSettings(): QueueSettings {
    const s = this.cache.peek();
    if (!s) throw new Error(`queue ${this.id} has no state loaded`);
    return {
      windowSize: s.windowSize,
      intervalMs: s.intervalMs,
      activeWindowCount: s.activeWindowCount,
      mode: s.mode,
      opensAtMs: s.opensAtMs,
      maxActive: s.maxActive ?? 0,
      // From the doc: used only if the state must be created again (ensure-queue.lua).
      ...lengthAlertSettings(this.docValue.lengthAlert),
    };
  }

  /** The settings as the admin API shows them. */
  view(): QueueSettingsView {
    const s = this.cache.peek() as QueueSnapshot;
    return viewOf(this.id, this.versionValue, this.docValue, s);
  }

  /** Takes a newer stored record (registry reconcile or an admin write on this replica). */
  apply(stored: StoredQueue): void {
    this.cache.apply(stored.snapshot, 'refresh');
    if (stored.version === this.versionValue) return;
    this.versionValue = stored.version;
    this.docValue = QueueDocSchema.parse(JSON.parse(stored.doc));
    for (const l of this.configListeners) l();
    // A new message reaches every open stream of this queue now.
    void this.events.fanOut();
  }

  /**
   * The change log listed this queue: re-read its state now (the copy is not confirmed until
   * that read succeeds) and its revoked passes within PASS_REVOCATION_REFRESH_MS.
   */
  resync(): void {
    this.cache.markDirty();
    void this.cache.refresh();
    this.revocations.refreshSoon();
  }

  /** Called after every accepted config change. */
  onConfig(l: () => void): () => void {
    this.configListeners.add(l);
    return () => this.configListeners.delete(l);
  }

  async start(): Promise<void> {
    this.events.start();
    await this.cache.start();
    this.lease.start();
    this.ticker.start();
    this.sampler.start();
    await this.revocations.start();
    this.originProbe.start();
    this.presence.start();
  }

  /** Stops ticking, releases the lease, ends streams and subscriptions. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.originProbe.close();
      this.skipped.close();
      this.presence.close();
      this.sampler.close();
      await this.ticker.close();
      await this.lease.close();
      this.events.close();
      await this.cache.close();
      await this.revocations.close();
      await this.o.store.close();
      this.configListeners.clear();
      this.untrack?.();
    })();
    return this.closing;
  }
}

/** A queue's no-show grace when its settings do not say (Cloudflare holds a place 5 minutes after the last refresh). */
export const DEFAULT_NO_SHOW_GRACE_SECONDS = 300;

/** The API's view of a queue from its stored parts. */
export function viewOf(id: string, version: number, doc: QueueDoc, s: QueueSnapshot): QueueSettingsView {
  return {
    id,
    name: doc.name,
    windowSize: s.windowSize,
    intervalSeconds: s.intervalMs / 1000,
    activeWindowCount: s.activeWindowCount,
    state: s.mode,
    opensAt: s.opensAtMs > 0 ? new Date(s.opensAtMs).toISOString() : null,
    message: doc.message,
    targetUrl: doc.targetUrl,
    branding: doc.branding,
    maxActive: s.maxActive ? s.maxActive : null,
    originHealth: doc.originHealth ?? null,
    lengthAlert: doc.lengthAlert ?? null,
    compensateNoShows: doc.compensateNoShows ?? false,
    noShowGraceSeconds: doc.noShowGraceSeconds === undefined ? DEFAULT_NO_SHOW_GRACE_SECONDS : doc.noShowGraceSeconds,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
    version,
  };
}
