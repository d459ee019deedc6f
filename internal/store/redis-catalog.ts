import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { QueueSettings } from '../queue/queue-state';
import { MAX_EXACT, strictInt } from '../queue/state-check';
import { checkDurabilitySupport, type JoinDurability } from './durability';
import { globalKeys, queueKeys } from './keys';
import { storeCall, type StoreCallContext } from './redis-call';
import { RedisConnection } from './redis-connection';
import { parseRedisUrl } from './redis-url';
import { RedisWebhookStore } from './redis-webhook-store';
import { DEFAULT_EVENT_STREAM_MAX_LENGTH, RedisQueueStore, parseSnapshot } from './redis-store';
import type {
  ChangeLog,
  CreateQueueResult,
  DeleteQueueResult,
  QueueCatalog,
  RegistryChange,
  QueueChange,
  StoredStreamEntry,
  StoredAuditEntry,
  StoredQueue,
  StoreIntegrityHooks,
  Subscription,
  UpdateQueueResult,
} from './store';

export interface RedisCatalogOptions {
  /** Any REDIS_URL form (redis-url.ts): one node, a Sentinel group or a Redis Cluster. */
  readonly url: string;
  /** PEM file of the CA for TLS schemes (REDIS_TLS_CA_FILE). */
  readonly tlsCaFile?: string;
  readonly logger: Logger;
  /** Per-command timeout (default 1000 ms): a paused Redis must turn into a fast 503. */
  readonly commandTimeoutMs?: number;
  /** Called for every Redis error, for metrics. */
  readonly onError?: (err: unknown) => void;
  /** Integrity hooks of one queue (metrics labelled with its id), given to its store and its catalog calls. */
  readonly integrity?: (queueId: string) => StoreIntegrityHooks;
  /** Wait for replicas or the AOF before a join's tickets are handed out (JOIN_DURABILITY). */
  readonly durability?: JoinDurability;
  /** A join of queue `queueId` whose durability wait fell short. */
  readonly onDurabilityShortfall?: (queueId: string) => void;
  /** Entries kept per queue event stream (XADD MAXLEN ~; docs/events.md). Default 100,000. */
  readonly eventStreamMaxLength?: number;
  /** Coalescing period of the change-log entries of joins that publish nothing (RedisQueueStore joinLogMs). */
  readonly joinLogMs?: number;
  /**
   * This replica's id: the changes its queue stores make and apply themselves (an advance, a
   * join) are logged under it, so that its own change-log polls need not re-read them
   * (registry-touch.lua). Without it every change is logged without an author.
   */
  readonly author?: string;
}

type Reply = ReadonlyArray<string | number>;

/**
 * An author as registry-touch.lua takes it: printable ASCII without spaces, at most 200
 * characters. A replica id is "<host>:<pid>:<random>"; one that is not already so (an odd
 * host name) is replaced by its SHA-256, the same on every call, so that the replica still
 * finds its own entries.
 */
export function authorKey(author: string): string {
  return /^[\x21-\x7e]{0,200}$/.test(author) ? author : createHash('sha256').update(author).digest('hex');
}

/**
 * Whether a change-log author entry ("<author> <before> <seq>", registry-touch.lua) says that
 * every change of its queue logged after `since` was `author`'s: theirs, nobody else's since
 * `since`, and the queue's latest logged change (its score in the log). Anything unreadable
 * says no: the queue is then re-read, as before authors were logged.
 */
export function authoredSince(entry: string | null | undefined, author: string, since: number, score: number): boolean {
  if (typeof entry !== 'string') return false;
  const m = /^(\S+) (\d+) (\d+)$/.exec(entry);
  if (!m || m[1] !== author) return false;
  const before = strictInt(m[2], 0, MAX_EXACT);
  const seq = strictInt(m[3], 0, MAX_EXACT);
  return before !== undefined && seq !== undefined && before <= since && seq === score;
}

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
 * Every queue on one Redis, whatever its topology: the per-queue stores share ONE
 * RedisConnection per replica (on a single node: one command connection and one
 * subscriber connection for every queue's sharded channel; on a cluster, one
 * connection per primary), plus, with JOIN_DURABILITY, one join connection. The
 * registry's keys carry their own hash tags ({registry}, {audit}, {replicas}) and
 * are never used in one command with a queue's keys.
 */
export class RedisCatalog implements QueueCatalog {
  readonly connection: RedisConnection;
  /** The join connection with JOIN_DURABILITY (WAIT covers its writes); else `connection`. */
  readonly joinConnection: RedisConnection;
  private readonly stores = new Map<string, RedisQueueStore>();
  /**
   * The change log's id as this replica's last poll read it (registry-poll.lua); undefined before
   * one. Kept here, so only one reader may poll a catalog: the replica's QueueRegistry does.
   */
  private logId: string | undefined;
  private readonly commandTimeoutMs: number;
  private readonly ctx: StoreCallContext;
  /** Entries kept per queue event stream, passed to every script that appends events. */
  readonly eventStreamMaxLength: number;

  constructor(private readonly o: RedisCatalogOptions) {
    this.commandTimeoutMs = o.commandTimeoutMs ?? 1000;
    this.eventStreamMaxLength = o.eventStreamMaxLength ?? DEFAULT_EVENT_STREAM_MAX_LENGTH;
    const connOpts = {
      target: parseRedisUrl(o.url),
      commandTimeoutMs: this.commandTimeoutMs,
      logger: o.logger,
      onError: o.onError ?? (() => undefined),
      tlsCaFile: o.tlsCaFile,
    };
    this.connection = new RedisConnection(connOpts);
    this.joinConnection = o.durability ? new RedisConnection({ ...connOpts, logger: o.logger.child({ role: 'join' }) }) : this.connection;
    this.ctx = {
      log: o.logger,
      timeoutMs: this.commandTimeoutMs,
      connections: this.joinConnection === this.connection ? [this.connection] : [this.connection, this.joinConnection],
      onError: o.onError,
    };
  }

  private get redis() {
    return this.connection.commands;
  }

  /** One call on the keys of queue `id` (a damaged state is reported with that queue's hook). */
  private call<T>(what: string, fn: () => Promise<T>, id?: string): Promise<T> {
    const onCorrupt = id === undefined ? undefined : this.o.integrity?.(id).onCorrupt;
    return storeCall(onCorrupt ? { ...this.ctx, onCorrupt } : this.ctx, what, fn);
  }

  /** Webhook endpoints and per-queue dispatch state on this catalog's connection. */
  webhookStore(): RedisWebhookStore {
    return new RedisWebhookStore(this.connection, this.ctx);
  }

  queue(id: string): RedisQueueStore {
    let s = this.stores.get(id);
    if (!s) {
      s = new RedisQueueStore({
        connection: this.connection,
        joinConnection: this.joinConnection,
        queueId: id,
        logger: this.o.logger,
        commandTimeoutMs: this.commandTimeoutMs,
        onError: this.o.onError,
        durability: this.o.durability,
        onDurabilityShortfall: () => this.o.onDurabilityShortfall?.(id),
        eventStreamMaxLength: this.eventStreamMaxLength,
        onChanged: (held) => void this.touch(id, held ? (this.o.author ?? '') : '').catch(() => undefined),
        joinLogMs: this.o.joinLogMs,
        ...this.o.integrity?.(id),
      });
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
      this.redis.createQueue(
        k.config, k.state, k.counter, k.eventStream, doc, randomUUID(), s.windowSize, s.intervalMs, s.activeWindowCount, s.mode, s.opensAtMs, k.events,
        this.eventStreamMaxLength, id, s.maxActive ?? 0, s.lengthAlertThreshold ?? 0, s.lengthAlertClearBelow ?? 0,
      ),
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

  async updateQueue(id: string, expectedVersion: number, doc: string, s: QueueSettings, change: QueueChange = {}): Promise<UpdateQueueResult> {
    const k = queueKeys(id);
    const r = await this.call('updateQueue', () =>
      this.redis.updateQueue(
        k.config, k.state, k.counter, k.eventStream, expectedVersion, doc, s.windowSize, s.intervalMs, s.activeWindowCount, s.mode, s.opensAtMs, k.events,
        this.eventStreamMaxLength, id, JSON.stringify(change), s.maxActive ?? 0, s.lengthAlertThreshold ?? 0, s.lengthAlertClearBelow ?? 0,
      ),
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
      this.redis.deleteQueue(
        k.config, k.state, k.counter, k.leader, k.passes, k.revokedPasses, k.passStats, k.eventStream, k.flowSeconds, k.flowMinutes,
        k.occupancy, k.claimWindows, k.claimedTickets,
        expectedVersion === undefined ? '' : String(expectedVersion), this.eventStreamMaxLength, id,
      ),
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
    await this.call('registerQueue', () => this.redis.registrySet(globalKeys.registry, globalKeys.changeSeq, globalKeys.changed, id, version, globalKeys.registryChanges));
  }

  async unregisterQueue(id: string): Promise<void> {
    await this.call('unregisterQueue', () => this.redis.registryRemove(globalKeys.registry, globalKeys.changeSeq, globalKeys.changed, globalKeys.changedBy, id, globalKeys.registryChanges));
  }

  /** Sharded (SSUBSCRIBE) on the {registry} slot, where registry-set.lua and registry-remove.lua SPUBLISH. */
  subscribeRegistry(onChange: (c: RegistryChange) => void): Promise<Subscription> {
    const onMessage = (message: string) => {
      const c = parseRegistryChange(message);
      if (c) onChange(c);
      else this.o.logger.error({ message }, 'unreadable registry change ignored');
    };
    return this.call(`subscribe ${globalKeys.registryChanges}`, () => this.connection.subscribe(globalKeys.registryChanges, onMessage, this.commandTimeoutMs));
  }

  async changesSince(since: number, author?: string): Promise<ChangeLog> {
    // One atomic read of the sequence, the members logged after `since` up to it, and their
    // authors (registry-poll.lua): a queue may be skipped as this replica's own only if no
    // change can fall between the sequence read and the members listed.
    const r = await this.call('changesSince', () =>
      this.redis.registryPoll(globalKeys.changeSeq, globalKeys.changed, globalKeys.changedBy, globalKeys.changeLogId, Math.max(0, Math.min(since, MAX_EXACT))),
    );
    const seq = strictInt(r[0], 0, MAX_EXACT);
    if (seq === undefined) {
      // Checked like every number read; the next touch (INCR) would fail on it too, so say so loudly.
      this.o.logger.error({ key: globalKeys.changeSeq, value: r[0] }, 'change sequence is not an integer; re-reading every queue');
      return { seq: 0, changed: null };
    }
    // A new log id: the log this replica read before is gone (Redis lost it) and started again,
    // perhaps already past the sequence asked from, so nothing it lists covers the gap.
    // '' when Redis refused to make one (registry-poll.lua): nothing to compare, nothing kept.
    const logId = String(r[1]);
    const known = this.logId;
    if (logId !== '') this.logId = logId;
    if (known !== undefined && logId !== '' && logId !== known) return { seq, changed: null };
    if (seq < since) return { seq, changed: null };
    if (seq === since) return { seq, changed: [] };
    const changed: string[] = [];
    const authored: string[] = [];
    const key = author === undefined || author === '' ? undefined : authorKey(author);
    for (let i = 2; i + 2 < r.length; i += 3) {
      const id = String(r[i]);
      changed.push(id);
      const score = strictInt(r[i + 1], 0, MAX_EXACT);
      if (key !== undefined && score !== undefined && authoredSince(r[i + 2], key, since, score)) authored.push(id);
    }
    return key === undefined ? { seq, changed } : { seq, changed, authored };
  }

  async touch(id: string, author = ''): Promise<void> {
    await this.call('touch', () => this.redis.registryTouch(globalKeys.changeSeq, globalKeys.changed, globalKeys.changedBy, id, authorKey(author)));
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

  async readEvents(queueId: string, after: string, count: number): Promise<StoredStreamEntry[]> {
    const k = queueKeys(queueId);
    const start = after === '0' ? '-' : `(${after}`;
    const r = await this.call('readEvents', () => this.redis.xRange(k.eventStream, start, '+', { COUNT: count }), queueId);
    return r.map((e) => ({ id: e.id, fields: e.message as Record<string, string> }));
  }

  /**
   * Connects, retrying in the background; resolves once the first connection is up or fails.
   * Throws DurabilityUnsupportedError when the server cannot make joins as durable as
   * JOIN_DURABILITY asks (a server that cannot must not serve).
   */
  async connect(): Promise<void> {
    await this.connection.connect();
    const d = this.o.durability;
    if (d && this.joinConnection !== this.connection) {
      await this.joinConnection.connect();
      // The durability of every queue's joins is the server's: checked once, on the registry's node.
      await checkDurabilitySupport({ sendCommand: (args: string[]) => this.joinConnection.sendCommand(globalKeys.registry, args) }, d);
    }
  }

  async ping(): Promise<void> {
    await this.call('ping', () => this.connection.ping(globalKeys.registry));
  }

  isReady(): boolean {
    return this.connection.isReady() && this.joinConnection.isReady();
  }

  async close(): Promise<void> {
    for (const s of [...this.stores.values()]) await s.close().catch(() => undefined);
    this.stores.clear();
    if (this.joinConnection !== this.connection) await this.joinConnection.close();
    await this.connection.close();
  }
}
