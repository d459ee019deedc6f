import { createClient } from 'redis';
import type { Logger } from 'pino';
import { UnavailableError } from '../errors/errors';
import { scripts } from './scripts';
import type { StoreIntegrityHooks, Subscription } from './store';

export interface RedisConnectionOptions extends Pick<StoreIntegrityHooks, 'onCorrupt'> {
  readonly url: string;
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

export function createRedisClient(url: string, commandTimeoutMs: number) {
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

export type RedisClient = ReturnType<typeof createRedisClient>;

/** True for errors that mean "the store is not reachable right now". */
function isUnavailable(err: unknown): boolean {
  const name = (err as Error)?.name ?? '';
  const msg = (err as Error)?.message ?? '';
  return (
    /Timeout|ClientClosed|ClientOffline|SocketClosed|ConnectionTimeout|ReconnectStrategy|Abort/.test(name) ||
    /ECONNREFUSED|ECONNRESET|EPIPE|closed|offline|LOADING|BUSY|MASTERDOWN|READONLY/i.test(msg)
  );
}

/**
 * The connections one replica keeps to Redis, shared by every queue it serves:
 * one command connection and ONE subscriber connection for every channel (a
 * replica serving 1,000 queues subscribes to 1,000+ channels on it, not 1,000
 * connections). node-redis resubscribes after a reconnect; each owner's
 * periodic full read covers messages lost while it was down.
 */
export class RedisConnection {
  readonly client: RedisClient;
  private subscriber: RedisClient | undefined;
  private subscriberReady: Promise<RedisClient> | undefined;
  private readonly log: Logger;
  private readonly onError: (err: unknown) => void;
  readonly commandTimeoutMs: number;
  private closed = false;

  constructor(private readonly o: RedisConnectionOptions) {
    this.log = o.logger;
    this.onError = o.onError ?? (() => undefined);
    this.commandTimeoutMs = o.commandTimeoutMs ?? 1000;
    this.client = createRedisClient(o.url, this.commandTimeoutMs);
    this.watch(this.client, 'command');
  }

  private watch(c: RedisClient, role: string): void {
    c.on('error', (err: Error) => {
      this.onError(err);
      this.log.warn({ err: `${err.name}: ${err.message}`, role }, 'redis connection error');
    });
    c.on('reconnecting', () => this.log.debug({ role }, 'redis reconnecting'));
    c.on('ready', () => this.log.info({ role }, 'redis ready'));
  }

  /** Connects, retrying in the background; resolves once the first connection is up or fails. */
  async connect(): Promise<void> {
    if (!this.client.isOpen) await this.client.connect();
  }

  /**
   * Runs one store call, turning connectivity and corruption errors into typed 503s.
   * `onCorrupt` (default: the connection's) hears of a damaged state, for the metric of its queue.
   */
  async call<T>(what: string, fn: () => Promise<T>, onCorrupt = this.o.onCorrupt): Promise<T> {
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
        onCorrupt?.(corrupt[1] ?? msg);
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

  private async subscriberClient(): Promise<RedisClient> {
    if (this.subscriber?.isOpen) return this.subscriber;
    this.subscriberReady ??= (async () => {
      const sub = createRedisClient(this.o.url, this.commandTimeoutMs);
      this.watch(sub, 'subscriber');
      try {
        await this.call('subscriber connect', () => sub.connect());
      } catch (err) {
        // node-redis keeps retrying connect() after our timeout: stop it, or every
        // later attempt would leave one more reconnecting client behind.
        if (sub.isOpen) sub.destroy();
        throw err;
      }
      if (this.closed) {
        sub.destroy();
        throw new UnavailableError('store_unavailable', 'the store is closed', 1);
      }
      this.subscriber = sub;
      return sub;
    })().finally(() => {
      this.subscriberReady = undefined;
    });
    return this.subscriberReady;
  }

  /** Subscribes `onMessage` to one channel on the shared subscriber connection. */
  async subscribeChannel(channel: string, onMessage: (message: string) => void): Promise<Subscription> {
    const sub = await this.subscriberClient();
    // A listener of its own, so that two subscriptions to one channel are removed one by one.
    const listener = (message: string) => onMessage(message);
    await this.call(`subscribe ${channel}`, () => sub.subscribe(channel, listener));
    let done = false;
    return {
      close: async () => {
        if (done) return;
        done = true;
        if (sub.isOpen) await sub.unsubscribe(channel, listener).catch(() => undefined);
      },
    };
  }

  isReady(): boolean {
    return this.client.isReady;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const sub = this.subscriber;
    this.subscriber = undefined;
    if (sub?.isOpen) await sub.close().catch(() => sub.destroy());
    if (this.client.isOpen) await this.client.close().catch(() => this.client.destroy());
  }
}
