import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
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
import { scripts, type SeenArgs } from './scripts';
import type { QueueStore, StoreIntegrityHooks, Subscription } from './store';

export interface RedisStoreOptions extends StoreIntegrityHooks {
  readonly url: string;
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

function createRedisClient(url: string, commandTimeoutMs: number) {
  return createClient({
    url,
    scripts,
    // While disconnected, fail commands at once instead of queueing them: a queued
    // /join would hang the visitor and could be replayed long after they left.
    disableOfflineQueue: true,
    // Bounds only the wait before a command is written; see call() for the reply wait.
    commandOptions: { timeout: commandTimeoutMs },
    // Detects a silently dead connection (e.g. a SIGSTOPped Redis) within ~1 s.
    pingInterval: 1000,
    socket: {
      connectTimeout: 2000,
      // Reconnect forever with capped backoff: 50 ms, 100 ms, ... up to 1 s.
      reconnectStrategy: (retries: number) => Math.min(1000, 50 * 2 ** Math.min(retries, 5)),
    },
  });
}

type Client = ReturnType<typeof createRedisClient>;

/** True for errors that mean "the store is not reachable right now". */
function isUnavailable(err: unknown): boolean {
  const name = (err as Error)?.name ?? '';
  const msg = (err as Error)?.message ?? '';
  return (
    /Timeout|ClientClosed|ClientOffline|SocketClosed|ConnectionTimeout|ReconnectStrategy|Abort/.test(name) ||
    /ECONNREFUSED|ECONNRESET|EPIPE|closed|offline|LOADING|BUSY|MASTERDOWN|READONLY/i.test(msg)
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
  private readonly client: Client;
  private readonly log: Logger;
  private readonly onError: (err: unknown) => void;
  private readonly hooks: StoreIntegrityHooks & Pick<RedisStoreOptions, 'onDurabilityShortfall'>;
  private readonly commandTimeoutMs: number;
  private readonly url: string;
  private readonly subscribers = new Set<Client>();
  /**
   * With JOIN_DURABILITY, joins run on a connection of their own: WAIT and WAITAOF
   * block the connection they run on until acknowledged, and they cover that
   * connection's writes, so the join and its wait share it and nothing else waits.
   */
  private readonly joinClient: Client;
  private readonly durability: JoinDurability | undefined;
  private closed = false;

  constructor(opts: RedisStoreOptions) {
    this.queueId = opts.queueId;
    this.keys = queueKeys(opts.queueId);
    this.log = opts.logger;
    this.url = opts.url;
    this.onError = opts.onError ?? (() => undefined);
    this.hooks = opts;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 1000;
    this.client = createRedisClient(opts.url, this.commandTimeoutMs);
    this.watch(this.client, 'command');
    this.durability = opts.durability;
    this.joinClient = this.client;
    if (this.durability) {
      this.joinClient = createRedisClient(opts.url, this.commandTimeoutMs);
      this.watch(this.joinClient, 'join');
      // Checked on every (re)connection: a failover may land on an older server.
      const d = this.durability;
      const jc = this.joinClient;
      jc.on('ready', () => {
        checkDurabilitySupport(jc, d).catch((err: unknown) => this.log.error({ err: (err as Error).message }, 'joins will fail: the durability asked for is not available'));
      });
    }
  }

  private watch(c: Client, role: string): void {
    c.on('error', (err: Error) => {
      this.onError(err);
      this.log.warn({ err: `${err.name}: ${err.message}`, role }, 'redis connection error');
    });
    c.on('reconnecting', () => this.log.debug({ role }, 'redis reconnecting'));
    c.on('ready', () => this.log.info({ role }, 'redis ready'));
  }

  /** Connects, retrying in the background; resolves once the first connection is up or fails. */
  async connect(): Promise<void> {
    await this.client.connect();
    if (this.durability && this.joinClient !== this.client) {
      await this.joinClient.connect();
      // Thrown to the caller at start: a server that cannot do what is asked must not serve.
      await checkDurabilitySupport(this.joinClient, this.durability);
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
      return await Promise.race([fn(), timeout]);
    } catch (err) {
      this.onError(err);
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
      const r = await this.call('join', () => this.joinClient.join(this.keys.state, this.keys.counter, count, ...seenArgs(seen)));
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
    const shortfall = await this.call('join durability wait', () => awaitDurable(this.joinClient, d));
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
   * Subscribes to one channel on a connection of its own (pub/sub needs one);
   * node-redis resubscribes after a reconnect, and each owner's periodic full
   * read covers messages lost while it was down. Also used for modules' own
   * channels (pass revocations).
   */
  async subscribeChannel(channel: string, onMessage: (message: string) => void): Promise<Subscription> {
    const sub = createRedisClient(this.url, this.commandTimeoutMs);
    this.watch(sub, 'subscriber');
    this.subscribers.add(sub);
    try {
      await this.call(`subscribe ${channel}`, async () => {
        await sub.connect();
        await sub.subscribe(channel, onMessage);
      });
    } catch (err) {
      // node-redis keeps retrying connect() after our timeout: stop it, or every
      // later attempt would leave one more reconnecting client behind.
      this.subscribers.delete(sub);
      if (sub.isOpen) sub.destroy();
      throw err;
    }
    let closed = false;
    return {
      close: async () => {
        if (closed) return;
        closed = true;
        this.subscribers.delete(sub);
        await sub.close().catch(() => sub.destroy());
      },
    };
  }

  async ping(): Promise<void> {
    await this.call('ping', () => this.client.ping());
  }

  isReady(): boolean {
    return this.client.isReady && this.joinClient.isReady;
  }

  /** The raw client, for modules that keep their own keys (rate limits, passes). */
  get redis(): Client {
    return this.client;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subscribers) await s.close().catch(() => s.destroy());
    this.subscribers.clear();
    if (this.joinClient !== this.client && this.joinClient.isOpen) await this.joinClient.close().catch(() => this.joinClient.destroy());
    if (this.client.isOpen) await this.client.close().catch(() => this.client.destroy());
  }
}
