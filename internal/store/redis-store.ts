import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import type { Logger } from 'pino';
import { UnavailableError } from '../errors/errors';
import type { AdvanceOutcome, AdvanceResult, IssuedTickets, QueueSettings, QueueSnapshot } from '../queue/queue-state';
import { queueKeys, type QueueKeys } from './keys';
import { scripts } from './scripts';
import type { QueueStore, Subscription } from './store';

export interface RedisStoreOptions {
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

const ADVANCE_CODES: Record<number, AdvanceOutcome> = { 1: 'advanced', 0: 'skipped', 2: 'not_due', [-1]: 'not_leader', [-2]: 'missing' };

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
  private readonly commandTimeoutMs: number;
  private readonly url: string;
  private readonly subscribers = new Set<Client>();
  private closed = false;

  constructor(opts: RedisStoreOptions) {
    this.queueId = opts.queueId;
    this.keys = queueKeys(opts.queueId);
    this.log = opts.logger;
    this.url = opts.url;
    this.onError = opts.onError ?? (() => undefined);
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 1000;
    this.client = createRedisClient(opts.url, this.commandTimeoutMs);
    this.watch(this.client, 'command');
  }

  private watch(c: Client, role: string): void {
    c.on('error', (err: Error) => {
      this.onError(err);
      this.log.warn({ err: { name: err.name, message: err.message }, role }, 'redis connection error');
    });
    c.on('reconnecting', () => this.log.debug({ role }, 'redis reconnecting'));
    c.on('ready', () => this.log.info({ role }, 'redis ready'));
  }

  /** Connects, retrying in the background; resolves once the first connection is up or fails. */
  async connect(): Promise<void> {
    await this.client.connect();
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
      if (msg.includes('WAITROOM_CORRUPT')) {
        this.log.error({ err, what }, 'queue state in Redis is damaged; refusing to guess');
        throw new UnavailableError('state_corrupt', 'the queue state is damaged; an operator has to repair it', 5, { cause: err });
      }
      if (isUnavailable(err)) {
        this.log.warn({ err: { name: (err as Error).name, message: msg }, what }, 'redis unavailable');
        throw new UnavailableError('store_unavailable', 'the queue store is unreachable; try again shortly', 1, { cause: err });
      }
      this.log.error({ err, what }, 'redis command failed');
      throw new UnavailableError('store_unavailable', 'the queue store failed; try again shortly', 1, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async ensureQueue(s: QueueSettings): Promise<QueueSnapshot & { created: boolean }> {
    const r = await this.call('ensureQueue', () =>
      this.client.ensureQueue(this.keys.state, this.keys.counter, randomUUID(), s.windowSize, s.intervalMs, s.activeWindowCount),
    );
    const snap = parseSnapshot(r, 1);
    const created = Number(r[0]) === 1;
    if (created) this.log.warn({ queue: this.queueId, epoch: snap.epoch }, 'queue state created (new epoch)');
    return { ...snap, counter: Number(r[8]), storeNowMs: Number(r[9]), created };
  }

  async issueTickets(count: number, s: QueueSettings): Promise<IssuedTickets> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await this.call('join', () => this.client.join(this.keys.state, this.keys.counter, count));
      if (Number(r[0]) === 0) {
        // State missing (first join, or Redis lost its data): create it and try once more.
        await this.ensureQueue(s);
        continue;
      }
      const last = Number(r[0]);
      const snap = { ...parseSnapshot(r, 1), counter: last, storeNowMs: Number(r[8]) };
      return { first: last - count + 1, count, snapshot: snap };
    }
    throw new UnavailableError('store_unavailable', 'the queue state keeps disappearing; try again shortly', 1);
  }

  async advance(owner: string, s: QueueSettings): Promise<AdvanceResult> {
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
      ),
    );
    const outcome = ADVANCE_CODES[Number(r[0])];
    if (!outcome) throw new Error(`advance-window.lua returned unknown code ${String(r[0])}`);
    if (outcome === 'not_leader' || outcome === 'missing') return { outcome, lagMs: 0 };
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
      try {
        const m = JSON.parse(message) as Record<string, unknown>;
        onSnapshot({
          epoch: String(m.epoch),
          windowEnd: Number(m.windowEnd),
          nextDueMs: Number(m.nextDueMs),
          windowSize: Number(m.windowSize),
          intervalMs: Number(m.intervalMs),
          activeWindowCount: Number(m.activeWindowCount),
          version: Number(m.version),
          counter: Number(m.counter),
          storeNowMs: Number(m.nowMs),
        });
      } catch (err) {
        this.log.error({ err }, 'unreadable queue event ignored');
      }
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
    return this.client.isReady;
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
    if (this.client.isOpen) await this.client.close().catch(() => this.client.destroy());
  }
}
