import { randomUUID } from 'node:crypto';
import type { QueueSettings } from '../queue/queue-state';
import { MAX_EXACT, strictInt } from '../queue/state-check';
import { globalKeys, queueKeys } from './keys';
import { RedisConnection, type RedisConnectionOptions } from './redis-connection';
import { RedisQueueStore, parseSnapshot } from './redis-store';
import type {
  CreateQueueResult,
  DeleteQueueResult,
  QueueCatalog,
  RegistryChange,
  StoredAuditEntry,
  StoredQueue,
  StoreIntegrityHooks,
  Subscription,
  UpdateQueueResult,
} from './store';

export interface RedisCatalogOptions extends RedisConnectionOptions {
  /** Integrity hooks of one queue (metrics labelled with its id), given to its store and its catalog calls. */
  readonly integrity?: (queueId: string) => StoreIntegrityHooks;
}

type Reply = ReadonlyArray<string | number>;

/** Parses a registry announcement ("set <id> <version>" or "del <id>"); undefined if unreadable. */
export function parseRegistryChange(message: string): RegistryChange | undefined {
  const [op, id, v] = message.split(' ');
  if (!id) return undefined;
  if (op === 'del') return { op, id };
  const version = strictInt(v, 0, MAX_EXACT);
  if (op === 'set' && version !== undefined) return { op, id, version };
  return undefined;
}

/** {version, ..., snapshot from `at`} of create/update/read-queue.lua into a StoredQueue. */
function stored(id: string, version: number, doc: string, r: Reply, at: number): StoredQueue {
  // at: epoch, W, due, S, I, K, stateVersion, counter, now, mode, opensAt
  return { id, version, doc, snapshot: parseSnapshot(r, at, at + 9, Number(r[at + 7]), Number(r[at + 8])) };
}

/**
 * Every queue on one Redis: the per-queue stores share one command connection
 * and one subscriber connection (RedisConnection).
 */
export class RedisCatalog implements QueueCatalog {
  readonly connection: RedisConnection;
  private readonly stores = new Map<string, RedisQueueStore>();

  constructor(private readonly o: RedisCatalogOptions) {
    this.connection = new RedisConnection(o);
  }

  private get redis() {
    return this.connection.client;
  }

  /** One call on the keys of queue `id` (a damaged state is reported with that queue's hook). */
  private call<T>(what: string, fn: () => Promise<T>, id?: string): Promise<T> {
    return this.connection.call(what, fn, id === undefined ? undefined : this.o.integrity?.(id).onCorrupt);
  }

  queue(id: string): RedisQueueStore {
    let s = this.stores.get(id);
    if (!s) {
      s = new RedisQueueStore({ connection: this.connection, queueId: id, logger: this.o.logger, ...this.o.integrity?.(id) });
      this.stores.set(id, s);
      // A closed per-queue store is forgotten, so a queue created again gets a fresh one.
      const close = s.close.bind(s);
      const store = s;
      s.close = async () => {
        if (this.stores.get(id) === store) this.stores.delete(id);
        await close();
      };
    }
    return s;
  }

  async createQueue(id: string, doc: string, s: QueueSettings): Promise<CreateQueueResult> {
    const k = queueKeys(id);
    const r = await this.call('createQueue', () =>
      this.redis.createQueue(k.config, k.state, k.counter, doc, randomUUID(), s.windowSize, s.intervalMs, s.activeWindowCount, s.mode, s.opensAtMs, k.events, s.maxActive ?? 0),
      id,
    );
    if (Number(r[0]) === 0) return { outcome: 'exists', version: Number(r[1]) };
    return { outcome: 'created', stored: stored(id, Number(r[1]), doc, r, 2) };
  }

  async readQueue(id: string): Promise<StoredQueue | null> {
    const k = queueKeys(id);
    const r = await this.call('readQueue', () => this.redis.readQueue(k.config, k.state, k.counter), id);
    if (r.length < 2) return null;
    return stored(id, Number(r[0]), String(r[1]), r, 2);
  }

  async updateQueue(id: string, expectedVersion: number, doc: string, s: QueueSettings): Promise<UpdateQueueResult> {
    const k = queueKeys(id);
    const r = await this.call('updateQueue', () =>
      this.redis.updateQueue(k.config, k.state, k.counter, expectedVersion, doc, s.windowSize, s.intervalMs, s.activeWindowCount, s.mode, s.opensAtMs, k.events, s.maxActive ?? 0),
      id,
    );
    const code = Number(r[0]);
    if (code === -1) return { outcome: 'missing' };
    if (code === -2) return { outcome: 'conflict', version: Number(r[1]) };
    return { outcome: 'updated', stored: stored(id, Number(r[1]), doc, r, 2) };
  }

  async deleteQueue(id: string, expectedVersion?: number): Promise<DeleteQueueResult> {
    const k = queueKeys(id);
    const r = await this.call('deleteQueue', () =>
      this.redis.deleteQueue(k.config, k.state, k.counter, k.leader, k.passes, k.revokedPasses, k.passStats, k.occupancy, k.claimWindows, k.claimedTickets, expectedVersion === undefined ? '' : String(expectedVersion)),
      id,
    );
    const code = Number(r[0]);
    if (code === -1) return { outcome: 'missing' };
    if (code === -2) return { outcome: 'conflict', version: Number(r[1]) };
    return { outcome: 'deleted', version: Number(r[1]) };
  }

  async listQueues(): Promise<Map<string, number>> {
    const h = await this.call('listQueues', () => this.redis.hGetAll(globalKeys.registry));
    const m = new Map<string, number>();
    for (const [id, v] of Object.entries(h)) {
      // Checked as the scripts check every number (a plain decimal integer); a damaged entry is
      // skipped and the next write of that queue replaces it (registry-set.lua).
      const n = strictInt(v, 0, MAX_EXACT);
      if (n !== undefined) m.set(id, n);
      else this.o.logger.error({ id, version: v }, 'registry entry with a version that is not an integer ignored');
    }
    return m;
  }

  async registerQueue(id: string, version: number): Promise<void> {
    await this.call('registerQueue', () => this.redis.registrySet(globalKeys.registry, id, version, globalKeys.registryChanges));
  }

  async unregisterQueue(id: string): Promise<void> {
    await this.call('unregisterQueue', () => this.redis.registryRemove(globalKeys.registry, id, globalKeys.registryChanges));
  }

  subscribeRegistry(onChange: (c: RegistryChange) => void): Promise<Subscription> {
    return this.connection.subscribeChannel(globalKeys.registryChanges, (message) => {
      const c = parseRegistryChange(message);
      if (c) onChange(c);
      else this.o.logger.error({ message }, 'unreadable registry change ignored');
    });
  }

  async heartbeat(replicaId: string, ttlMs: number): Promise<string[]> {
    // ZRANGE orders by heartbeat time; the contract (and the embedded store) is id order, which
    // every replica must share for lease placement to agree.
    return (await this.call('heartbeat', () => this.redis.replicaHeartbeat(globalKeys.replicas, replicaId, ttlMs))).sort();
  }

  async leave(replicaId: string): Promise<void> {
    await this.call('leave', () => this.redis.zRem(globalKeys.replicas, replicaId));
  }

  async appendAudit(fields: Readonly<Record<string, string>>, maxEntries: number): Promise<string> {
    // One XADD: append and trim in one atomic command, so no script is needed. "~" lets Redis
    // trim whole macro nodes (cheap); the stream holds at least maxEntries entries.
    return this.call('appendAudit', () =>
      this.redis.xAdd(globalKeys.audit, '*', fields, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: maxEntries } }),
    );
  }

  async readAudit(count: number, before?: string): Promise<StoredAuditEntry[]> {
    // Exclusive start "(" pages strictly before the given id.
    const end = before ? `(${before}` : '+';
    const r = await this.call('readAudit', () => this.redis.xRevRange(globalKeys.audit, end, '-', { COUNT: count }));
    return r.map((e) => ({ id: e.id, fields: e.message as Record<string, string> }));
  }

  connect(): Promise<void> {
    return this.connection.connect();
  }

  async ping(): Promise<void> {
    await this.call('ping', () => this.redis.ping());
  }

  isReady(): boolean {
    return this.connection.isReady();
  }

  async close(): Promise<void> {
    for (const s of [...this.stores.values()]) await s.close().catch(() => undefined);
    this.stores.clear();
    await this.connection.close();
  }
}
