import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { UnavailableError } from '../errors/errors';
import {
  NOTHING_SEEN,
  type AdvanceOutcome,
  type AdvanceResult,
  type EnsuredQueue,
  type HighWater,
  type IssuedTickets,
  type QueueSettings,
  type QueueSnapshot,
  type RollbackReason,
} from '../queue/queue-state';
import { checkState } from '../queue/state-check';
import { awaitDurable, checkDurabilitySupport, type JoinDurability } from './durability';
import { queueKeys, type QueueKeys } from './keys';
import type { SeenArgs } from './scripts';
import { RedisConnection, type StoreCommands } from './redis-connection';
import { parseRedisUrl } from './redis-url';
import type { QueueStore, StoreIntegrityHooks, Subscription } from './store';

export interface RedisStoreOptions extends StoreIntegrityHooks {
  /** Any REDIS_URL form (redis-url.ts): one node, a Sentinel group or a Redis Cluster. */
  readonly url: string;
  /** PEM file of the CA for TLS schemes (REDIS_TLS_CA_FILE). */
  readonly tlsCaFile?: string;
  readonly queueId: string;
  readonly logger: Logger;
  /**
   * Per-command timeout. A paused or partitioned Redis must turn into a fast 503,
   * not a request that hangs until the client gives up (default 1000 ms).
   */
  readonly commandTimeoutMs?: number;
  /** Called for every Redis error that reaches the store, for metrics. */
  readonly onError?: (err: unknown) => void;
  /** Wait for replicas or the AOF before a join's tickets are handed out (JOIN_DURABILITY). */
  readonly durability?: JoinDurability;
  /** A join whose durability wait fell short (its tickets were not handed out). */
  readonly onDurabilityShortfall?: () => void;
}

/** A store call that got no reply within the command timeout. */
export class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
  constructor(what: string, ms: number) {
    super(`redis did not answer ${what} within ${ms} ms`);
  }
}

/** True for errors that mean "the store is not reachable right now". */
function isUnavailable(err: unknown): boolean {
  const name = (err as Error)?.name ?? '';
  const msg = (err as Error)?.message ?? '';
  return (
    /Timeout|ClientClosed|ClientOffline|SocketClosed|ConnectionTimeout|ReconnectStrategy|Abort/.test(name) ||
    /ECONNREFUSED|ECONNRESET|EPIPE|closed|offline|LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|Cannot find node/i.test(msg)
  );
}

function parseSnapshot(r: ReadonlyArray<string | number>, offset: number): QueueSnapshot {
  // offset points at epoch; the scripts share the order epoch, W, nextDue, S, I, K, version.
  return {
    epoch: String(r[offset]),
    windowEnd: Number(r[offset + 1]),
    nextDueMs: Number(r[offset + 2]),
    windowSize: Number(r[offset + 3]),
    intervalMs: Number(r[offset + 4]),
    activeWindowCount: Number(r[offset + 5]),
    version: Number(r[offset + 6]),
    counter: 0,
    storeNowMs: 0,
  };
}

const ADVANCE_CODES: Record<number, AdvanceOutcome> = {
  1: 'advanced',
  0: 'skipped',
  2: 'not_due',
  [-1]: 'not_leader',
  [-2]: 'missing',
  [-3]: 'rolled_back',
};

/** A caller's high-water mark as the scripts' trailing arguments. */
function seenArgs(seen: HighWater): SeenArgs {
  return [seen.epoch, seen.counter, seen.windowEnd, seen.version, ...seen.retired];
}

/**
 * The replicated store: one Redis (or a Redis with failover) shared by every
 * replica. All read-check-writes go through the Lua scripts in ./lua.
 */
export class RedisQueueStore implements QueueStore {
  readonly queueId: string;
  private readonly keys: QueueKeys;
  private readonly conn: RedisConnection;
  private readonly log: Logger;
  private readonly onError: (err: unknown) => void;
  private readonly hooks: StoreIntegrityHooks & Pick<RedisStoreOptions, 'onDurabilityShortfall'>;
  private readonly commandTimeoutMs: number;
  /**
   * With JOIN_DURABILITY, joins run on a connection of their own: WAIT and WAITAOF
   * block the connection they run on until acknowledged, and they cover that
   * connection's writes, so the join and its wait share it and nothing else waits.
   */
  private readonly joinConn: RedisConnection;
  private readonly durability: JoinDurability | undefined;
  private closed = false;

  constructor(opts: RedisStoreOptions) {
    this.queueId = opts.queueId;
    this.keys = queueKeys(opts.queueId);
    this.log = opts.logger;
    this.onError = opts.onError ?? (() => undefined);
    this.hooks = opts;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 1000;
    const connOpts = {
      target: parseRedisUrl(opts.url),
      commandTimeoutMs: this.commandTimeoutMs,
      logger: this.log,
      onError: this.onError,
      tlsCaFile: opts.tlsCaFile,
    };
    this.conn = new RedisConnection(connOpts);
    this.durability = opts.durability;
    this.joinConn = this.durability ? new RedisConnection({ ...connOpts, logger: this.log.child({ role: 'join' }) }) : this.conn;
  }

  /**
   * One raw command on the node that serves this queue's slot, for libraries that
   * speak raw commands (rate-limit-redis): every key they are given carries the
   * queue's {hash tag}, so on a cluster they all live on that node.
   */
  sendCommand(args: string[]): Promise<unknown> {
    return this.conn.sendCommand(this.keys.counter, args);
  }

  /** Raw commands on the join connection's node for this queue (WAIT covers that connection's writes). */
  private joinRaw() {
    return { sendCommand: (args: string[]) => this.joinConn.sendCommand(this.keys.counter, args) };
  }

  /** The current client of the connection; a failover may replace it, so it is fetched per command. */
  private get client(): StoreCommands {
    return this.conn.commands;
  }

  /** Connects, retrying in the background; resolves once the first connection is up or fails. */
  async connect(): Promise<void> {
    await this.conn.connect();
    if (this.durability && this.joinConn !== this.conn) {
      await this.joinConn.connect();
      // Thrown to the caller at start: a server that cannot do what is asked must not serve.
      await checkDurabilitySupport(this.joinRaw(), this.durability);
    }
  }

  /**
   * Runs one store call, turning connectivity and corruption errors into typed 503s.
   * Public so that modules keeping their own keys on this client (passes) map errors the same way.
   */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      // node-redis's own command timeout only covers the wait before a command is
      // written, not the wait for its reply (checked against 5.12: a SIGSTOPped Redis
      // hangs a GET forever). So every call races its own timer. A command that times
      // out may still run later; for a join that leaves an unused gap in the ticket
      // numbers, never a duplicate.
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StoreTimeoutError(what, this.commandTimeoutMs)), this.commandTimeoutMs);
      });
      const result = await Promise.race([fn(), timeout]);
      this.conn.noteSuccess();
      if (this.joinConn !== this.conn) this.joinConn.noteSuccess();
      return result;
    } catch (err) {
      this.onError(err);
      // Lets the connection find a promoted primary (cluster) or a moved endpoint (READONLY).
      this.conn.noteFailure(err);
      if (this.joinConn !== this.conn) this.joinConn.noteFailure(err);
      const msg = (err as Error)?.message ?? String(err);
      const corrupt = /WAITROOM_CORRUPT (.*)/.exec(msg);
      if (corrupt) {
        this.log.error({ err, what, detail: corrupt[1] }, 'queue state in Redis is damaged; refusing to guess');
        this.hooks.onCorrupt?.(corrupt[1] ?? msg);
        throw new UnavailableError('state_corrupt', `the queue state is damaged (${corrupt[1]}); an operator has to repair it`, 5, { cause: err });
      }
      if (isUnavailable(err)) {
        this.log.warn({ err: `${(err as Error).name}: ${msg}`, what }, 'redis unavailable');
        throw new UnavailableError('store_unavailable', 'the queue store is unreachable; try again shortly', 1, { cause: err });
      }
      this.log.error({ err, what }, 'redis command failed');
      throw new UnavailableError('store_unavailable', 'the queue store failed; try again shortly', 1, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async ensureQueue(s: QueueSettings, seen: HighWater = NOTHING_SEEN): Promise<EnsuredQueue> {
    const r = await this.call('ensureQueue', () =>
      this.client.ensureQueue(this.keys.state, this.keys.counter, randomUUID(), s.windowSize, s.intervalMs, s.activeWindowCount, ...seenArgs(seen)),
    );
    const snap = parseSnapshot(r, 1);
    const code = Number(r[0]);
    const out = { ...snap, counter: Number(r[8]), storeNowMs: Number(r[9]), created: code !== 0 };
    if (code === 1) this.log.warn({ queue: this.queueId, epoch: snap.epoch }, 'queue state created (new epoch)');
    if (code !== 2) return out;
    const rollback = String(r[10]) as RollbackReason;
    this.reportRollback(rollback, seen, snap.epoch);
    return { ...out, rollback };
  }

  private reportRollback(reason: RollbackReason, seen: HighWater, epoch: string): void {
    this.log.error(
      { queue: this.queueId, reason, seen: { epoch: seen.epoch, counter: seen.counter, windowEnd: seen.windowEnd, version: seen.version }, epoch },
      'the queue state in Redis went backwards (lost writes, a lagging replica or a restored copy); started a new epoch so that no place is handed out twice',
    );
    this.hooks.onRollback?.(reason);
  }

  async issueTickets(count: number, s: QueueSettings, seen: HighWater = NOTHING_SEEN): Promise<IssuedTickets> {
    // Three attempts: the state may be missing (create it) or behind `seen` (start a new
    // epoch), and another replica may change it between our calls.
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await this.call('join', () => this.joinConn.commands.join(this.keys.state, this.keys.counter, count, ...seenArgs(seen)));
      const code = Number(r[0]);
      if (code === 0 || code === -1) {
        // State missing (first join, or Redis lost its data), or behind what this replica
        // saw: ensure-queue.lua re-checks both atomically and makes a new epoch; try again.
        if (code === -1) this.log.warn({ queue: this.queueId, reason: r[1] }, 'join refused: the queue state went backwards');
        await this.ensureQueue(s, seen);
        continue;
      }
      const last = code;
      if (this.durability) await this.awaitJoinDurable(this.durability, count);
      const snap = { ...parseSnapshot(r, 1), counter: last, storeNowMs: Number(r[8]) };
      return { first: last - count + 1, count, snapshot: snap };
    }
    throw new UnavailableError('store_unavailable', 'the queue state keeps changing under this join; try again shortly', 1);
  }

  /**
   * The wait of a durable join. A shortfall answers 503 and the tickets are never
   * handed out: their numbers stay unused (a gap), which is harmless, while a ticket
   * shown and then lost to a crash could be issued again.
   */
  private async awaitJoinDurable(d: JoinDurability, count: number): Promise<void> {
    const shortfall = await this.call('join durability wait', () => awaitDurable(this.joinRaw(), d));
    if (shortfall === null) return;
    this.hooks.onDurabilityShortfall?.();
    this.log.warn({ queue: this.queueId, mode: d.mode, tickets: count, shortfall }, 'join not durable in time; its tickets are not handed out');
    throw new UnavailableError('store_unavailable', `the join could not be made durable (${shortfall}); try again shortly`, 1);
  }

  async advance(owner: string, s: QueueSettings, seen: HighWater = NOTHING_SEEN): Promise<AdvanceResult> {
    const r = await this.call('advance', () =>
      this.client.advanceWindow(
        this.keys.state,
        this.keys.counter,
        this.keys.leader,
        owner,
        s.windowSize,
        s.intervalMs,
        s.activeWindowCount,
        this.keys.events,
        ...seenArgs(seen),
      ),
    );
    const outcome = ADVANCE_CODES[Number(r[0])];
    if (!outcome) throw new Error(`advance-window.lua returned unknown code ${String(r[0])}`);
    if (outcome === 'not_leader' || outcome === 'missing') return { outcome, lagMs: 0 };
    if (outcome === 'rolled_back') return { outcome, lagMs: 0, rollback: String(r[1]) as RollbackReason };
    const snapshot = { ...parseSnapshot(r, 1), counter: Number(r[8]), storeNowMs: Number(r[9]) };
    return { outcome, snapshot, lagMs: Number(r[10]) };
  }

  async acquireLease(owner: string, ttlMs: number): Promise<boolean> {
    const r = await this.call('acquireLease', () => this.client.set(this.keys.leader, owner, { condition: 'NX', expiration: { type: 'PX', value: ttlMs } }));
    return r === 'OK';
  }

  async renewLease(owner: string, ttlMs: number): Promise<boolean> {
    return (await this.call('renewLease', () => this.client.leaseRenew(this.keys.leader, owner, ttlMs))) === 1;
  }

  async releaseLease(owner: string): Promise<boolean> {
    return (await this.call('releaseLease', () => this.client.leaseRelease(this.keys.leader, owner))) === 1;
  }

  async leaseHolder(): Promise<string | null> {
    return this.call('leaseHolder', () => this.client.get(this.keys.leader));
  }

  async subscribe(onSnapshot: (s: QueueSnapshot) => void): Promise<Subscription> {
    return this.subscribeChannel(this.keys.events, (message) => {
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(message) as Record<string, unknown>;
      } catch (err) {
        this.log.error({ err }, 'unreadable queue event ignored');
        return;
      }
      // The script validated these before publishing; anything else on the channel is not ours to trust.
      const c = checkState(m);
      const nowMs = Number(m.nowMs);
      if (!c.ok || !Number.isSafeInteger(nowMs)) {
        this.log.error({ field: c.ok ? 'nowMs' : c.field }, 'queue event with an invalid field ignored');
        return;
      }
      onSnapshot({ ...c.state, storeNowMs: nowMs });
    });
  }

  /**
   * Subscribes to one sharded channel (SSUBSCRIBE; the channel carries the
   * queue's hash tag, so on a cluster it lives on the queue's shard). The
   * connection re-opens it after a reconnect or a failover, and each owner's
   * periodic full read covers messages lost meanwhile. Also used for modules'
   * own channels (pass revocations).
   */
  async subscribeChannel(channel: string, onMessage: (message: string) => void): Promise<Subscription> {
    return this.call(`subscribe ${channel}`, () => this.conn.subscribe(channel, onMessage, this.commandTimeoutMs));
  }

  async ping(): Promise<void> {
    await this.call('ping', () => this.conn.ping(this.keys.state));
  }

  isReady(): boolean {
    return this.conn.isReady() && this.joinConn.isReady();
  }

  /** The commands, for modules that keep their own keys (rate limits, passes); same slot rules apply. */
  get redis(): StoreCommands {
    return this.client;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.joinConn !== this.conn) await this.joinConn.close();
    await this.conn.close();
  }
}
