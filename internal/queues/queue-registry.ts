import type { Logger } from 'pino';
import { QueueClosedError, QueueNotFoundError, UnavailableError } from '../errors/errors';
import type { QueueSettings } from '../queue/queue-state';
import type { FlowStore } from '../store/flow-store';
import type { PassStore } from '../store/pass-store';
import type { QueueCatalog, QueueStore, StoredQueue, Subscription } from '../store/store';
import { LeasePlacement } from './lease-placement';
import type { QueueDoc, QueueDefaults } from './queue-settings';
import { QueueRuntime, type QueueRuntimeOptions } from './queue-runtime';

export interface QueueRegistryOptions {
  readonly catalog: QueueCatalog;
  /** The pass store of one queue, on that queue's store. */
  readonly passStoreFor: (id: string, store: QueueStore) => PassStore;
  /** The flow samples of one queue (the console's charts), on that queue's store. */
  readonly flowStoreFor: (id: string, store: QueueStore) => FlowStore;
  /** QUEUE_ID: created from `defaults` on first start, never deletable. */
  readonly defaultQueueId: string;
  readonly defaults: QueueDefaults;
  /** This replica's id (lease owner and heartbeat member). */
  readonly owner: string;
  readonly logger: Logger;
  /** Period of the change-log poll (STATE_REFRESH_MS). */
  readonly refreshMs: number;
  /** Period of the full registry re-read (STATE_RESYNC_MS); each queue re-reads its own state as often. */
  readonly resyncMs: number;
  /** Per-queue runtime settings other than the stored queue, its store and its eligibility. */
  readonly runtime: Omit<QueueRuntimeOptions, 'stored' | 'store' | 'passStore' | 'flowStore' | 'eligible' | 'owner' | 'logger' | 'resyncMs'>;
}

/** Queue ids this replica saw deleted, remembered so their tickets get 410 rather than 404. */
const DELETED_MEMORY = 1024;

/**
 * The set of queues this replica serves. It reconciles "what the store lists"
 * with "what runs here" the way a Kubernetes controller does: on every
 * registry announcement (pub/sub) and on a periodic full re-read, idempotently,
 * never trusting a single message. The hot path finds a queue with one Map
 * lookup; nothing here runs per request.
 *
 * It also keeps this replica's heartbeat, from which every replica computes the
 * same placement of queue leases (rendezvous hashing), so queues spread over
 * replicas instead of all being ticked by the first one started.
 */
export class QueueRegistry {
  private readonly runtimes = new Map<string, QueueRuntime>();
  /** Queues being started (their first read and subscription), so a reconcile does not start one twice. */
  private readonly pending = new Map<string, Promise<void>>();
  private readonly deleted = new Set<string>();
  private readonly placement: LeasePlacement;
  private readonly log: Logger;
  private sub: Subscription | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  /** The change-log sequence read last; undefined until one poll succeeded (or after a reset). */
  private seq: number | undefined;
  private polling = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  private again = false;
  private closed = false;
  /** True once one full read of the registry succeeded. */
  private loaded = false;
  private readonly listeners = new Set<(id: string, runtime: QueueRuntime | undefined) => void>();

  constructor(private readonly o: QueueRegistryOptions) {
    this.placement = new LeasePlacement(o.owner);
    this.log = o.logger.child({ component: 'registry' });
  }

  /** The runtime of a queue this replica serves, or undefined. The hot path's only lookup. */
  get(id: string): QueueRuntime | undefined {
    return this.runtimes.get(id);
  }

  /**
   * The runtime for a request naming a queue: 404 queue_not_found, or 410 if it was deleted;
   * 503 not_ready until the first read of the registry succeeded (the store may be down at
   * start: "no such queue" would be a wrong answer, "try again" is the right one).
   */
  require(id: string): QueueRuntime {
    const r = this.runtimes.get(id);
    if (r) return r;
    if (this.deleted.has(id)) throw new QueueClosedError(id, 'deleted');
    this.requireLoaded();
    throw new QueueNotFoundError(id);
  }

  private requireLoaded(): void {
    if (!this.loaded) throw new UnavailableError('not_ready', 'the queues are not loaded yet (the store is unreachable); retry shortly', 1);
  }

  /**
   * The runtime for a valid ticket's queue. The ticket's signature proves the queue
   * existed, so a queue not served (any more) is 410 queue_closed, never 404.
   */
  forTicket(id: string): QueueRuntime {
    const r = this.runtimes.get(id);
    if (r) return r;
    this.requireLoaded();
    throw new QueueClosedError(id, 'deleted');
  }

  get defaultRuntime(): QueueRuntime | undefined {
    return this.runtimes.get(this.o.defaultQueueId);
  }

  list(): QueueRuntime[] {
    return [...this.runtimes.values()];
  }

  /** Called when a queue starts being served here (runtime) or stops (undefined). */
  onChange(l: (id: string, runtime: QueueRuntime | undefined) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Whether this replica is the one placed to lead queue `id` (everyone, until a heartbeat answered). */
  shouldLead(id: string): boolean {
    return this.placement.shouldLead(id);
  }

  /** Replicas this one believes alive (its last heartbeat's answer). */
  liveReplicas(): readonly string[] {
    return this.placement.live();
  }

  /** Subscribes, creates the default queue if needed, loads every queue; never throws for an unreachable store. */
  async start(): Promise<void> {
    if (this.closed) return;
    this.resyncTimer = setInterval(() => void this.reconcile(), this.o.resyncMs);
    this.pollTimer = setInterval(() => void this.poll(), this.o.refreshMs);
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.o.runtime.leaseRenewMs);
    await this.heartbeat();
    // The sequence first, then the full read: a change logged in between is listed by the first poll.
    await this.poll();
    await Promise.all([this.subscribe(), this.reconcile()]);
  }

  /**
   * One poll of the change log (every STATE_REFRESH_MS). Idle, it is one registry-poll.lua
   * call (two GETs in it: the sequence and the log's id) for all the queues of this replica.
   * A queue listed is re-read (state now, revocations within PASS_REVOCATION_REFRESH_MS) and
   * the registry with it (a new, changed or deleted queue), unless every change logged since
   * the last poll was this replica's own (registry-touch.lua's authors); every other queue's
   * copy is confirmed as of the poll, which is what keeps /status answering within
   * STATE_MAX_STALENESS_MS without a read per queue. A log that went backwards or has a new id
   * (Redis lost it) makes every queue re-read.
   */
  async poll(): Promise<void> {
    if (this.closed || this.polling) return;
    this.polling = true;
    try {
      const sentAt = Date.now();
      const known = this.seq;
      let log;
      try {
        // Unknown sequence: ask from beyond any sequence, which answers with the current one only.
        log = await this.o.catalog.changesSince(known ?? Number.MAX_SAFE_INTEGER, this.o.owner);
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'change log poll failed; the cached states age until the next one');
        return;
      }
      this.seq = log.seq;
      if (known === undefined) {
        // The first poll: the full read that follows (start, or the catch-up below) covers the past.
        if (this.loaded) this.resyncAll();
        return;
      }
      if (log.changed === null) {
        this.log.warn({ seq: log.seq, seen: known }, 'the change log went backwards or was replaced (Redis lost data?): re-reading every queue');
        this.resyncAll();
        return;
      }
      // A queue whose every change since the last poll was this replica's own advance or join
      // is held already: its copy applied those writes' replies. Re-reading it after each of
      // its own advances was a read per busy queue per second for nothing.
      const own = new Set(log.authored ?? []);
      const changed = new Set(log.changed.filter((id) => !own.has(id)));
      // One HGETALL finds a queue created, changed in its settings or deleted among those listed.
      if (changed.size > 0) void this.reconcile();
      for (const [id, r] of this.runtimes) {
        if (changed.has(id)) r.resync();
        else if (r.cache.isDirty()) void r.cache.refresh();
        else r.cache.confirm(sentAt);
      }
    } finally {
      this.polling = false;
    }
  }

  /** Every queue re-read: the registry and each queue's state and revocations. */
  private resyncAll(): void {
    void this.reconcile();
    for (const r of this.runtimes.values()) r.resync();
  }

  private async subscribe(): Promise<void> {
    if (this.sub || this.closed) return;
    try {
      const sub = await this.o.catalog.subscribeRegistry((c) => {
        if (c.op === 'del' || this.runtimes.get(c.id)?.version !== c.version) void this.reconcile();
      });
      if (this.closed) await sub.close();
      else this.sub = sub;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'registry subscription failed; will retry');
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    try {
      // Counted alive for one lease TTL: a replica that stops beating loses its queues no later
      // than its leases expire, so the placement never waits longer than the lease itself.
      const live = await this.o.catalog.heartbeat(this.o.owner, this.o.runtime.leaseTtlMs);
      if (this.placement.update(live)) this.log.info({ replicas: live.length }, 'replica set changed; queue leases move accordingly');
    } catch (err) {
      this.placement.reset();
      this.log.debug({ err: (err as Error).message }, 'heartbeat failed');
    }
  }

  /** One reconcile now; a call while one runs schedules exactly one more after it. */
  reconcile(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.reconciling) {
      this.again = true;
      return this.reconciling;
    }
    this.reconciling = (async () => {
      do {
        this.again = false;
        try {
          await this.reconcileOnce();
        } catch (err) {
          this.log.debug({ err: (err as Error).message }, 'registry reconcile failed; retrying next period');
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.reconciling = undefined;
    });
    return this.reconciling;
  }

  private async reconcileOnce(): Promise<void> {
    if (!this.sub) void this.subscribe();
    // Only a queue served, as it is now (the same runtime at the same version), before the
    // listing was read can be missing from it for being deleted: one started or changed here
    // meanwhile (through this replica's admin API, whose upsert does not wait for a reconcile)
    // is newer than the listing. Dropping those too answered 410 to a new queue's joins until
    // the next reconcile whenever one was under way, e.g. the ~1 s one at start with 1,000
    // queues to read one by one.
    const servedBefore = new Map<string, { runtime: QueueRuntime; version: number }>();
    for (const [id, runtime] of this.runtimes) servedBefore.set(id, { runtime, version: runtime.version });
    const listed = await this.o.catalog.listQueues();
    if (!listed.has(this.o.defaultQueueId)) {
      // First start, or Redis lost its data: the default queue always exists.
      const v = await this.ensureDefault();
      listed.set(this.o.defaultQueueId, v);
    }
    for (const [id, version] of listed) {
      const running = this.runtimes.get(id);
      if (running && running.version === version) continue;
      const stored = await this.o.catalog.readQueue(id);
      if (!stored) {
        // Listed but gone (deleted between the two reads, or a half-finished delete).
        if (running) await this.drop(id);
        continue;
      }
      this.upsert(stored);
    }
    for (const [id, runtime] of [...this.runtimes]) {
      const before = servedBefore.get(id);
      // The same runtime at the same version: not started, re-made or changed since the listing.
      if (!listed.has(id) && before?.runtime === runtime && before.version === runtime.version) await this.drop(id);
    }
    this.loaded = true;
    this.compareDefaultWithEnv();
  }

  private comparedDefault = false;

  /**
   * Once per start: the stored settings of the default queue are the truth; if the
   * environment says otherwise (a deploy that changed WINDOW_SIZE expecting it to apply),
   * say so loudly instead of silently ignoring it.
   */
  private compareDefaultWithEnv(): void {
    const s = this.defaultRuntime?.cache.peek();
    if (this.comparedDefault || !s) return;
    this.comparedDefault = true;
    const d = this.o.defaults;
    const env = { windowSize: d.windowSize, intervalMs: d.intervalMs, activeWindowCount: d.activeWindowCount };
    const stored = { windowSize: s.windowSize, intervalMs: s.intervalMs, activeWindowCount: s.activeWindowCount };
    const differ = (Object.keys(env) as Array<keyof typeof env>).filter((k) => env[k] !== stored[k]);
    if (differ.length === 0) return;
    this.log.warn(
      { queue: this.o.defaultQueueId, differ, stored, env },
      'the stored queue settings differ from WINDOW_SIZE / WINDOW_INTERVAL / ACTIVE_WINDOW_COUNT: the stored ones apply (change them with the admin API)',
    );
  }

  /** Starts serving a stored queue, or hands the running one its newer settings. */
  upsert(stored: StoredQueue): void {
    const running = this.runtimes.get(stored.id);
    if (running) {
      if (stored.version >= running.version) running.apply(stored);
      return;
    }
    if (this.pending.has(stored.id) || this.closed) return;
    this.deleted.delete(stored.id);
    const runtime = new QueueRuntime({
      ...this.o.runtime,
      resyncMs: this.o.resyncMs,
      stored,
      store: this.o.catalog.queue(stored.id),
      passStore: this.o.passStoreFor(stored.id, this.o.catalog.queue(stored.id)),
      flowStore: this.o.flowStoreFor(stored.id, this.o.catalog.queue(stored.id)),
      eligible: () => this.placement.shouldLead(stored.id),
      owner: this.o.owner,
      logger: this.o.logger,
    });
    // Served at once (its state came with `stored`); subscriptions come up in the background.
    this.runtimes.set(stored.id, runtime);
    const started = runtime.start().catch((err: unknown) => this.log.warn({ queue: stored.id, err: (err as Error).message }, 'queue start failed'));
    this.pending.set(stored.id, started);
    void started.finally(() => this.pending.delete(stored.id));
    this.log.info({ queue: stored.id, version: stored.version }, 'serving queue');
    for (const l of this.listeners) l(stored.id, runtime);
  }

  /** Stops serving a deleted queue; its tickets get 410 from now on. */
  async drop(id: string): Promise<void> {
    const r = this.runtimes.get(id);
    if (!r) return;
    if (id === this.o.defaultQueueId) return;
    this.runtimes.delete(id);
    this.deleted.add(id);
    if (this.deleted.size > DELETED_MEMORY) this.deleted.delete(this.deleted.values().next().value as string);
    this.log.info({ queue: id }, 'queue deleted; no longer served');
    for (const l of this.listeners) l(id, undefined);
    await r.close();
  }

  /** Creates the default queue from the environment if missing; warns when the stored one differs. */
  private async ensureDefault(): Promise<number> {
    const id = this.o.defaultQueueId;
    const d = this.o.defaults;
    const now = new Date().toISOString();
    const doc: QueueDoc = { name: id, message: null, targetUrl: d.targetUrl, branding: d.branding, createdAt: now, updatedAt: now };
    const settings: QueueSettings = { windowSize: d.windowSize, intervalMs: d.intervalMs, activeWindowCount: d.activeWindowCount, mode: 'open', opensAtMs: 0 };
    const r = await this.o.catalog.createQueue(id, JSON.stringify(doc), settings);
    let version: number;
    if (r.outcome === 'created') {
      this.log.info({ queue: id }, 'default queue created from the environment settings');
      version = r.stored.version;
    } else {
      version = r.version;
    }
    await this.o.catalog.registerQueue(id, version);
    return version;
  }

  /** Stops every queue and leaves the replica set, so other replicas take the leases at once. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    await this.reconciling?.catch(() => undefined);
    await Promise.all([...this.pending.values()]);
    await this.sub?.close().catch(() => undefined);
    await this.o.catalog.leave(this.o.owner).catch(() => undefined);
    await Promise.all([...this.runtimes.values()].map((r) => r.close()));
    this.runtimes.clear();
  }

  /** Releases every lease and leaves the replica set, keeping the queues served (the first step of a drain). */
  async stopTicking(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    await this.o.catalog.leave(this.o.owner).catch(() => undefined);
    await Promise.all([...this.runtimes.values()].map(async (r) => {
      await r.ticker.close();
      await r.lease.close();
    }));
  }
}
