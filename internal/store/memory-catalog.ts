import type { Logger } from 'pino';
import { UnavailableError } from '../errors/errors';
import type { QueueSettings } from '../queue/queue-state';
import { applySettingsChange } from '../queue/settings-change';
import { checkState } from '../queue/state-check';
import { MemoryFlowStore } from './memory-flow-store';
import { MemoryPassStore } from './memory-pass-store';
import { MEMORY_EVENT_STREAM_MAX_LENGTH, MemoryQueueCell, MemoryQueueStore, monotonicEpochClock, newState, publish, snapshotOf, stepLengthAlert } from './memory-store';
import type {
  ChangeLog,
  CreateQueueResult,
  DeleteQueueResult,
  QueueCatalog,
  RegistryChange,
  QueueChange,
  StoredAuditEntry,
  StoredStreamEntry,
  StoreIntegrityHooks,
  StoredQueue,
  Subscription,
  UpdateQueueResult,
} from './store';

export interface MemoryCatalogOptions {
  /** Integrity hooks of one queue (metrics labelled with its id), given to its store and its catalog calls. */
  readonly integrity?: (queueId: string) => StoreIntegrityHooks;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Entries kept per queue event stream (as XADD MAXLEN); default 100,000. */
  readonly eventStreamMaxLength?: number;
}

/**
 * The embedded counterpart of RedisCatalog: every queue of a single-process
 * run, its registry, heartbeats and audit log, in this process's memory. Each
 * method mirrors its Lua script (create-queue.lua, update-queue.lua, ...) step
 * for step; test/store/catalog-contract.test.ts runs one suite against both.
 */
export class MemoryCatalog implements QueueCatalog {
  private readonly cells = new Map<string, MemoryQueueCell>();
  private readonly stores = new Map<string, MemoryQueueStore>();
  private readonly passStores = new Map<string, MemoryPassStore>();
  private readonly registry = new Map<string, number>();
  private readonly registryListeners = new Set<(c: RegistryChange) => void>();
  /** The change log (registry-touch.lua): queue id -> sequence of its latest change. */
  private readonly changed = new Map<string, number>();
  private changeSeq = 0;
  private readonly replicas = new Map<string, number>();
  private readonly audit: StoredAuditEntry[] = [];
  private lastAuditMs = 0;
  private auditSeq = 0;
  private readonly now: () => number;
  private readonly eventMax: number;
  private closed = false;

  constructor(private readonly o: MemoryCatalogOptions) {
    this.now = o.now ?? monotonicEpochClock();
    this.eventMax = o.eventStreamMaxLength ?? MEMORY_EVENT_STREAM_MAX_LENGTH;
  }

  private assertOpen(): void {
    if (this.closed) throw new UnavailableError('store_unavailable', 'the embedded store is closed', 1);
  }

  private cell(id: string): MemoryQueueCell {
    let c = this.cells.get(id);
    if (!c) {
      this.cells.set(id, (c = new MemoryQueueCell()));
      c.onChanged = () => this.logChange(id);
    }
    return c;
  }

  queue(id: string): MemoryQueueStore {
    let s = this.stores.get(id);
    if (!s || !s.isReady()) {
      s = new MemoryQueueStore({
        queueId: id,
        logger: this.o.logger,
        now: this.now,
        cell: this.cell(id),
        eventStreamMaxLength: this.eventMax,
        ...this.o.integrity?.(id),
      });
      this.stores.set(id, s);
    }
    return s;
  }

  /** The flow samples of one queue (the operator console's charts). */
  flowStore(id: string): MemoryFlowStore {
    return new MemoryFlowStore(this.cell(id), this.now, () => !this.closed);
  }

  /** The pass store of one queue (its claims, revocations and counters). */
  passStore(id: string): MemoryPassStore {
    let p = this.passStores.get(id);
    if (!p) this.passStores.set(id, (p = new MemoryPassStore(this.queue(id))));
    return p;
  }

  /**
   * The state of a queue whose config exists, validated as the scripts validate it
   * (internal/queue/state-check.ts): missing or damaged answers 503 state_corrupt.
   */
  private checkedState(id: string, c: MemoryQueueCell): NonNullable<MemoryQueueCell['state']> {
    const st = c.state;
    const detail = !st ? 'queue state (config exists without it)' : undefined;
    const check = st ? checkState(st as unknown as Record<string, unknown>) : undefined;
    if (st && check?.ok) return st;
    const what = detail ?? (check && !check.ok ? `queue state field ${check.field} is "${String(check.value)}"` : 'queue state');
    this.o.logger.error({ queue: id, detail: what }, 'embedded queue state is damaged; refusing to guess');
    this.o.integrity?.(id).onCorrupt?.(what);
    throw new UnavailableError('state_corrupt', `the queue state is damaged (${what})`, 5);
  }

  private stored(id: string, c: MemoryQueueCell, nowMs: number): StoredQueue {
    return { id, version: c.config!.version, doc: c.config!.doc, snapshot: snapshotOf(c.state!, nowMs) };
  }

  async createQueue(id: string, doc: string, s: QueueSettings): Promise<CreateQueueResult> {
    this.assertOpen();
    const c = this.cell(id);
    if (c.config) return { outcome: 'exists', version: c.config.version };
    const now = this.now();
    if (c.state) {
      // Adopted with its epoch and counter, as create-queue.lua does (after the same checks).
      const st = this.checkedState(id, c);
      Object.assign(st, {
        windowSize: s.windowSize,
        intervalMs: s.intervalMs,
        activeWindowCount: s.activeWindowCount,
        mode: s.mode,
        opensAtMs: s.opensAtMs,
        maxActive: s.maxActive ?? 0,
        originHold: 0,
        lengthAlertThreshold: s.lengthAlertThreshold ?? 0,
        lengthAlertClearBelow: s.lengthAlertClearBelow ?? 0,
      });
      if (s.opensAtMs > now) st.nextDueMs = s.opensAtMs;
      st.version += 1;
    } else {
      c.state = newState(s, now);
    }
    // Never below a version this process handed out before, even within one millisecond.
    const prev = this.deletedVersions.get(id) ?? 0;
    c.config = { doc, version: Math.max(now, prev + 1) };
    publish(c, snapshotOf(c.state, now), () => !this.closed, this.o.logger);
    const st = c.state;
    c.appendEvent(this.eventMax, 'queue.created', now, {
      queue: id,
      version: c.config.version,
      state: st.mode,
      windowSize: st.windowSize,
      intervalMs: st.intervalMs,
      activeWindowCount: st.activeWindowCount,
      opensAtMs: st.opensAtMs,
      epoch: st.epoch,
      counter: st.counter,
      windowEnd: st.windowEnd,
      settings: JSON.parse(doc) as unknown,
    });
    stepLengthAlert(c, this.eventMax, id, st, now);
    return { outcome: 'created', stored: this.stored(id, c, now) };
  }

  private readonly deletedVersions = new Map<string, number>();

  async readQueue(id: string): Promise<StoredQueue | null> {
    this.assertOpen();
    const c = this.cells.get(id);
    if (!c?.config) return null;
    this.checkedState(id, c);
    return this.stored(id, c, this.now());
  }

  /** update-queue.lua, transition for transition. */
  async updateQueue(id: string, expectedVersion: number, doc: string, s: QueueSettings, change: QueueChange = {}): Promise<UpdateQueueResult> {
    this.assertOpen();
    const c = this.cells.get(id);
    if (!c?.config) return { outcome: 'missing' };
    if (c.config.version !== expectedVersion) return { outcome: 'conflict', version: c.config.version };
    const st = this.checkedState(id, c);
    const now = this.now();
    const oldMode = st.mode;
    const oldW = st.windowEnd;
    Object.assign(st, applySettingsChange(st, s, now), {
      maxActive: s.maxActive ?? 0,
      lengthAlertThreshold: s.lengthAlertThreshold ?? 0,
      lengthAlertClearBelow: s.lengthAlertClearBelow ?? 0,
    });
    st.version += 1;
    c.config = { doc, version: c.config.version + 1 };
    publish(c, snapshotOf(st, now), () => !this.closed, this.o.logger);
    // The events update-queue.lua appends, in its order.
    c.appendEvent(this.eventMax, 'queue.updated', now, { queue: id, version: c.config.version, changes: change });
    if (s.mode !== oldMode) {
      c.appendEvent(this.eventMax, 'queue.state_changed', now, { queue: id, from: oldMode, to: s.mode, counter: st.counter, windowEnd: st.windowEnd });
    }
    if (st.windowEnd > oldW) {
      c.appendEvent(this.eventMax, 'window.advanced', now, {
        queue: id,
        epoch: st.epoch,
        fromTicket: oldW + 1,
        toTicket: st.windowEnd,
        counter: st.counter,
        windowSize: st.windowSize,
        lagMs: 0,
        reason: 'passthrough',
      });
    }
    stepLengthAlert(c, this.eventMax, id, st, now);
    return { outcome: 'updated', stored: this.stored(id, c, now) };
  }

  async deleteQueue(id: string, expectedVersion?: number): Promise<DeleteQueueResult> {
    this.assertOpen();
    const c = this.cells.get(id);
    if (!c?.config) return { outcome: 'missing' };
    const version = c.config.version;
    if (expectedVersion !== undefined && expectedVersion !== version) return { outcome: 'conflict', version };
    this.deletedVersions.set(id, version);
    c.config = undefined;
    c.occupancy = undefined;
    c.gone.clear();
    c.seen.clear();
    c.passes.clear();
    c.state = undefined;
    c.lease = undefined;
    c.flow.clear();
    this.passStores.delete(id);
    c.appendEvent(this.eventMax, 'queue.deleted', this.now(), { queue: id, version });
    return { outcome: 'deleted', version };
  }

  async listQueues(): Promise<Map<string, number>> {
    this.assertOpen();
    return new Map(this.registry);
  }

  private announce(c: RegistryChange): void {
    for (const l of this.registryListeners) setImmediate(() => !this.closed && this.registryListeners.has(l) && l(c));
  }

  async registerQueue(id: string, version: number): Promise<void> {
    this.assertOpen();
    const current = this.registry.get(id);
    if (current !== undefined && current >= version) return;
    this.registry.set(id, version);
    this.logChange(id);
    this.announce({ op: 'set', id, version });
  }

  private logChange(id: string): void {
    if (this.closed) return;
    this.changed.set(id, ++this.changeSeq);
  }

  async changesSince(since: number): Promise<ChangeLog> {
    this.assertOpen();
    const seq = this.changeSeq;
    if (seq < since) return { seq, changed: null };
    const changed: string[] = [];
    for (const [id, at] of this.changed) if (at > since) changed.push(id);
    return { seq, changed };
  }

  async touch(id: string): Promise<void> {
    this.assertOpen();
    this.logChange(id);
  }

  async unregisterQueue(id: string): Promise<void> {
    this.assertOpen();
    this.registry.delete(id);
    this.logChange(id);
    this.announce({ op: 'del', id });
  }

  async subscribeRegistry(onChange: (c: RegistryChange) => void): Promise<Subscription> {
    this.assertOpen();
    const l = (c: RegistryChange) => onChange(c);
    this.registryListeners.add(l);
    return { close: async () => void this.registryListeners.delete(l) };
  }

  async heartbeat(replicaId: string, ttlMs: number): Promise<string[]> {
    this.assertOpen();
    const now = this.now();
    this.replicas.set(replicaId, now);
    for (const [id, at] of this.replicas) if (at < now - ttlMs) this.replicas.delete(id);
    return [...this.replicas.keys()].sort();
  }

  async leave(replicaId: string): Promise<void> {
    this.assertOpen();
    this.replicas.delete(replicaId);
  }

  async appendAudit(fields: Readonly<Record<string, string>>, maxEntries: number): Promise<string> {
    this.assertOpen();
    const now = this.now();
    // Stream ids as Redis makes them: "<ms>-<seq>", strictly increasing.
    if (now > this.lastAuditMs) {
      this.lastAuditMs = now;
      this.auditSeq = 0;
    } else {
      this.auditSeq++;
    }
    const id = `${this.lastAuditMs}-${this.auditSeq}`;
    this.audit.push({ id, fields: { ...fields } });
    if (this.audit.length > maxEntries) this.audit.splice(0, this.audit.length - maxEntries);
    return id;
  }

  async readAudit(count: number, before?: string): Promise<StoredAuditEntry[]> {
    this.assertOpen();
    const cmp = (a: string, b: string) => {
      const [am, as] = a.split('-').map(Number) as [number, number];
      const [bm, bs] = b.split('-').map(Number) as [number, number];
      return am - bm || as - bs;
    };
    const out: StoredAuditEntry[] = [];
    for (let i = this.audit.length - 1; i >= 0 && out.length < count; i--) {
      const e = this.audit[i]!;
      if (before && cmp(e.id, before) >= 0) continue;
      out.push(e);
    }
    return out;
  }

  async readEvents(queueId: string, after: string, count: number): Promise<StoredStreamEntry[]> {
    this.assertOpen();
    const log = this.cells.get(queueId)?.eventLog ?? [];
    // "0" (or an id without a sequence) starts before every entry of that millisecond.
    const [am, as = -1] = after.split('-').map(Number) as [number, number | undefined];
    const out: StoredStreamEntry[] = [];
    for (const e of log) {
      if (out.length >= count) break;
      const [em, es] = e.id.split('-').map(Number) as [number, number];
      if (em > am || (em === am && es > as)) out.push(e);
    }
    return out;
  }

  async connect(): Promise<void> {
    this.assertOpen();
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  isReady(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.stores.values()) await s.close();
    this.registryListeners.clear();
  }
}
