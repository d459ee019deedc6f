import { readFileSync } from 'node:fs';
import { createClient, createCluster, createSentinel } from 'redis';
import type { Logger } from 'pino';
import type { RedisNodeAddress, RedisTarget } from './redis-url';
import { describeRedisTarget } from './redis-url';
import { scripts } from './scripts';
import type { Subscription } from './store';

export interface RedisConnectionOptions {
  readonly target: RedisTarget;
  /** Bounds connects and discoveries; each command's reply wait is bounded by the store. */
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
  /** Called for every Redis error seen on any connection, for metrics. */
  readonly onError: (err: unknown) => void;
  /** PEM file of the CA that signed the Redis servers' certificates (TLS schemes); default: Node's CAs. */
  readonly tlsCaFile?: string;
}

// Reconnect forever with capped backoff: 50 ms, 100 ms, ... up to 1 s.
const reconnectStrategy = (retries: number) => Math.min(1000, 50 * 2 ** Math.min(retries, 5));

/** Options every data-node client shares, whatever the topology. */
function nodeClientOptions(t: RedisTarget, commandTimeoutMs: number, ca: string | undefined) {
  return {
    username: t.username,
    password: t.password,
    // While disconnected, fail commands at once instead of queueing them: a queued
    // /join would hang the visitor and could be replayed long after they left.
    disableOfflineQueue: true,
    // Bounds the commands node-redis sends by itself (the interval PING) and raw ones that do
    // not pass through the store's own timer (the claim limiter's). Not the store's commands:
    // RedisConnection.commands leaves it out (see there).
    commandOptions: { timeout: commandTimeoutMs },
    // Detects a silently dead connection (e.g. a SIGSTOPped Redis) within ~1 s.
    pingInterval: 1000,
    socket: t.tls
      ? { tls: true as const, ca, connectTimeout: 2000, reconnectStrategy }
      : { tls: false as const, connectTimeout: 2000, reconnectStrategy },
  };
}

function createSingle(t: RedisTarget, commandTimeoutMs: number, ca: string | undefined) {
  const base = nodeClientOptions(t, commandTimeoutMs, ca);
  const node = t.nodes[0];
  if (!node) throw new Error('a redis:// URL names one node');
  return createClient({ ...base, database: t.database, scripts, socket: { ...base.socket, host: node.host, port: node.port } });
}

function createClusterClient(t: RedisTarget, commandTimeoutMs: number, ca: string | undefined, known: readonly RedisNodeAddress[] = []) {
  // Nodes seen in the last topology first (the seeds may be the very node that died), then the seeds.
  const seen = new Set<string>();
  const roots = [...known, ...t.nodes].filter((n) => {
    const k = `${n.host}:${n.port}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
  return createCluster({
    rootNodes: roots.map((n) => ({ socket: { host: n.host, port: n.port } })),
    defaults: nodeClientOptions(t, commandTimeoutMs, ca),
    scripts,
    // Writes and the reads that decide them go to primaries only: a replica may lag.
    useReplicas: false,
    // Connect to a primary when a command first needs it: an eager connect to a dead
    // primary would hold up the whole discovery until it came back.
    minimizeConnections: true,
  });
}

function createSentinelClient(t: RedisTarget, commandTimeoutMs: number, ca: string | undefined) {
  const node = nodeClientOptions(t, commandTimeoutMs, ca);
  return createSentinel({
    name: t.masterName ?? '',
    sentinelRootNodes: t.nodes.map((n) => ({ host: n.host, port: n.port })),
    nodeClientOptions: { ...node, database: t.database },
    sentinelClientOptions: {
      username: t.sentinelUsername,
      password: t.sentinelPassword,
      socket: node.socket,
    },
    scripts,
    // One connection to the primary keeps a WAIT on the connection that wrote.
    masterPoolSize: 1,
    replicaPoolSize: 0,
    // Besides listening to +switch-master, ask the sentinels every second: a missed
    // notification must not leave the service on a demoted primary for 10 s.
    scanInterval: 1000,
    passthroughClientErrorEvents: true,
  });
}

type SingleClient = ReturnType<typeof createSingle>;
type ClusterClient = ReturnType<typeof createClusterClient>;
type SentinelClient = ReturnType<typeof createSentinelClient>;
type AnyClient = SingleClient | ClusterClient | SentinelClient;

/**
 * The commands waitroom's stores send, with the same signatures on every
 * topology: the Lua scripts and plain single-key commands (routed by their key
 * on a cluster). Nothing here can address two queues at once.
 */
export type StoreCommands = Pick<
  SingleClient,
  keyof typeof scripts | 'get' | 'set' | 'del' | 'exists' | 'hGetAll' | 'hGet' | 'pTTL' | 'zCard' | 'zScore' | 'zRangeByScore' | 'zRem' | 'xAdd' | 'xRevRange' | 'xRange' | 'zAdd' | 'zRange' | 'hmGet' | 'time'
>;

type Listener = (message: string) => void;

/**
 * The store's commands on a client. Every one of them runs inside storeCall (redis-call.ts),
 * which races its own timer, so node-redis's per-command timeout is turned off for them
 * (`timeout: 0` overrides the client's default): node-redis makes it an AbortSignal.timeout
 * per command, which measured 12-13 µs of CPU per command against 1.4 µs without (100,000
 * GETs in batches of 50, one core), about what a whole /status costs. The clients keep it
 * for the commands they send by themselves (the interval PING) and for raw sendCommand.
 * A Sentinel client reads only its own options (node-redis 5 ignores withCommandOptions
 * there), so it keeps the timeout.
 */
function storeViewOf(c: AnyClient, topology: RedisTarget['topology']): StoreCommands {
  if (topology === 'single') return (c as SingleClient).withCommandOptions({ timeout: 0 });
  if (topology === 'cluster') return (c as ClusterClient).withCommandOptions({ timeout: 0 }) as unknown as StoreCommands;
  return c;
}

/** True for errors after which a cluster's map of primaries may be out of date. */
function isTopologyError(err: unknown): boolean {
  const name = (err as Error)?.name ?? '';
  const msg = (err as Error)?.message ?? '';
  return (
    /Timeout|ClientClosed|ClientOffline|SocketClosed|ConnectionTimeout|ReconnectStrategy/.test(name) ||
    /ECONNREFUSED|ECONNRESET|EPIPE|EHOSTUNREACH|closed|offline|READONLY|CLUSTERDOWN|TRYAGAIN|MOVED|ASK|MASTERDOWN|Cannot find node/i.test(msg)
  );
}

/**
 * One logical connection to Redis, whatever its topology (redis-url.ts): the
 * store sends its commands through `commands` and never learns whether a single
 * node, a Sentinel-managed primary or a Redis Cluster answers them.
 *
 * Failover: node-redis follows MOVED/ASK by itself, and its Sentinel client
 * follows +switch-master. What it does not do is notice that a cluster primary
 * died: its map keeps pointing at the dead node until a MOVED arrives, which a
 * dead node never sends. So on any connection-type, READONLY or CLUSTERDOWN error
 * reported by the store, a cluster (or a single node that answered READONLY, e.g. a
 * managed endpoint whose DNS moved to the new primary) is rebuilt from its seed
 * nodes: a fresh discovery, then the new client replaces the old one and every
 * subscription is re-opened on it. Rebuilds are serialised and at least
 * REBUILD_GAP_MS apart, so a storm of failing joins costs one discovery per
 * 250 ms, not one per join.
 */
export class RedisConnection {
  static readonly REBUILD_GAP_MS = 250;
  private readonly t: RedisTarget;
  private readonly log: Logger;
  private readonly ca: string | undefined;
  private client: AnyClient;
  /** What `commands` hands out: the client, or (single node) a view of it without the per-command timeout. */
  private storeView: StoreCommands;
  /** Single topology only: the connection that holds the subscriptions (pub/sub needs its own). */
  private subscriber: SingleClient | undefined;
  private subscriberConnecting: Promise<SingleClient> | undefined;
  private readonly listeners = new Map<string, Set<Listener>>();
  private rebuilding: Promise<void> | undefined;
  private lastRebuildMs = 0;
  /** Cluster only: false from a failed command until the next command or rebuild succeeds. */
  private healthy = false;
  private closed = false;
  private connecting: Promise<void> | undefined;
  /** Number of rebuilds done, for tests and logs. */
  rebuilds = 0;

  constructor(private readonly o: RedisConnectionOptions) {
    this.t = o.target;
    this.log = o.logger;
    this.ca = o.tlsCaFile ? readFileSync(o.tlsCaFile, 'utf8') : undefined;
    this.client = this.create();
    this.storeView = storeViewOf(this.client, this.t.topology);
  }

  get topology(): RedisTarget['topology'] {
    return this.t.topology;
  }

  /** The current client; a rebuild replaces it, so fetch it for every command. */
  get commands(): StoreCommands {
    return this.storeView;
  }

  private create(known: readonly RedisNodeAddress[] = []): AnyClient {
    const c =
      this.t.topology === 'cluster'
        ? createClusterClient(this.t, this.o.commandTimeoutMs, this.ca, known)
        : this.t.topology === 'sentinel'
          ? createSentinelClient(this.t, this.o.commandTimeoutMs, this.ca)
          : createSingle(this.t, this.o.commandTimeoutMs, this.ca);
    this.watch(c, 'command');
    return c;
  }

  private watch(c: AnyClient, role: string): void {
    const onError = (err: Error) => {
      this.o.onError(err);
      this.log.warn({ err: `${err.name}: ${err.message}`, role, topology: this.t.topology }, 'redis connection error');
    };
    const emitter = c as unknown as NodeJS.EventEmitter;
    emitter.on('error', onError);
    if (this.t.topology === 'cluster') emitter.on('node-error', onError);
    emitter.on('reconnecting', () => this.log.debug({ role }, 'redis reconnecting'));
    emitter.on('ready', () => this.log.info({ role }, 'redis ready'));
  }

  /**
   * Connects (single: the node; cluster: discovery; sentinel: sentinels, then the primary).
   * Idempotent: a replica's connection is shared by every queue's store, and each may ask.
   * A failed first attempt may be retried by the next caller.
   */
  connect(): Promise<void> {
    this.connecting ??= (async () => {
      this.log.info({ redis: describeRedisTarget(this.t) }, 'connecting to redis');
      // A first attempt that failed leaves node-redis reconnecting in the background: not again.
      if (!this.client.isOpen) await (this.client.connect() as Promise<unknown>);
      this.healthy = true;
    })().catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  isReady(): boolean {
    if (this.closed) return false;
    if (this.t.topology === 'cluster') return (this.client as ClusterClient).isOpen && this.healthy;
    return (this.client as SingleClient | SentinelClient).isReady;
  }

  /** PING on the node that serves `routingKey` (a cluster has no single node to ask). */
  async ping(routingKey: string): Promise<void> {
    const c = this.client;
    if (this.t.topology === 'cluster') await (c as ClusterClient).sendCommand(routingKey, false, ['PING']);
    else if (this.t.topology === 'sentinel') await (c as SentinelClient).sendCommand(false, ['PING']);
    else await (c as SingleClient).ping();
  }

  /** One raw command on the node that serves `routingKey` (durable joins: WAIT covers that node's connection). */
  async sendCommand(routingKey: string, args: string[]): Promise<unknown> {
    const c = this.client;
    if (this.t.topology === 'cluster') return (c as ClusterClient).sendCommand(routingKey, false, args);
    if (this.t.topology === 'sentinel') return (c as SentinelClient).sendCommand(false, args);
    return (c as SingleClient).sendCommand(args);
  }

  /** The store reports every command outcome; see the class comment. */
  noteSuccess(): void {
    this.healthy = true;
  }

  noteFailure(err: unknown): void {
    if (this.closed || !isTopologyError(err)) return;
    if (this.t.topology === 'cluster') this.healthy = false;
    const readOnly = /READONLY/.test((err as Error)?.message ?? '');
    if (this.t.topology === 'cluster' || (this.t.topology === 'single' && readOnly)) void this.rebuild(String((err as Error)?.message ?? err));
  }

  private rebuild(reason: string): Promise<void> {
    this.rebuilding ??= (async () => {
      const wait = this.lastRebuildMs + RedisConnection.REBUILD_GAP_MS - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.lastRebuildMs = Date.now();
      if (this.closed) return;
      const known = this.t.topology === 'cluster' ? (this.client as ClusterClient).masters.map((m) => ({ host: m.host, port: m.port })) : [];
      const next = this.create(known);
      try {
        await withTimeout(next.connect() as Promise<unknown>, 2000 + this.o.commandTimeoutMs, 'redis rediscovery');
      } catch (err) {
        this.log.warn({ err: `${(err as Error).name}: ${(err as Error).message}`, reason }, 'redis rediscovery failed; the next failure retries');
        destroyQuietly(next);
        return;
      }
      if (this.closed) {
        destroyQuietly(next);
        return;
      }
      const old = this.client;
      const oldSub = this.subscriber;
      this.client = next;
      this.storeView = storeViewOf(next, this.t.topology);
      this.subscriber = undefined;
      this.rebuilds++;
      this.log.warn({ reason, rebuilds: this.rebuilds, topology: this.t.topology }, 'redis connection rebuilt from the seed nodes');
      retire(old, this.o.commandTimeoutMs);
      if (oldSub) destroyQuietly(oldSub);
      // In the background: before the promotion the new map may still name the dead
      // primary, and a subscribe to it would hold up the next rebuild. A rebuild
      // destroys the client such an attempt waits on, and re-opens everything again.
      for (const [channel, set] of this.listeners) {
        for (const l of set) {
          void this.openSubscription(channel, l).catch((err: Error) =>
            this.log.warn({ err: `${err.name}: ${err.message}`, channel }, 'resubscribe after rebuild failed; the periodic read covers it'),
          );
        }
      }
    })().finally(() => {
      this.rebuilding = undefined;
    });
    return this.rebuilding;
  }

  /**
   * Sharded pub/sub (SSUBSCRIBE): the channel carries the queue's hash tag, so on
   * a cluster only the queue's shard carries its messages (plain PUBLISH would
   * be broadcast to every node of the cluster).
   */
  async subscribe(channel: string, onMessage: Listener, timeoutMs: number): Promise<Subscription> {
    let abandoned = false;
    const opening = this.openSubscription(channel, onMessage).then(async () => {
      // Finished after the caller gave up: it will never get a handle to close this.
      if (abandoned) await this.closeSubscription(channel, onMessage).catch(() => undefined);
    });
    try {
      await withTimeout(opening, timeoutMs, `subscribe ${channel}`);
    } catch (err) {
      abandoned = true;
      throw err;
    }
    let set = this.listeners.get(channel);
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(onMessage);
    let closed = false;
    return {
      close: async () => {
        if (closed) return;
        closed = true;
        set.delete(onMessage);
        if (set.size === 0) this.listeners.delete(channel);
        await this.closeSubscription(channel, onMessage).catch(() => undefined);
      },
    };
  }

  private async openSubscription(channel: string, onMessage: Listener): Promise<void> {
    if (this.t.topology === 'single') {
      const sub = await this.singleSubscriber();
      await sub.sSubscribe(channel, onMessage);
    } else {
      await (this.client as ClusterClient | SentinelClient).sSubscribe(channel, onMessage);
    }
  }

  private async closeSubscription(channel: string, onMessage: Listener): Promise<void> {
    if (this.t.topology === 'single') {
      const sub = this.subscriber;
      if (!sub?.isOpen) return;
      await sub.sUnsubscribe(channel, onMessage);
      if (this.listeners.size === 0 && this.subscriber === sub) {
        this.subscriber = undefined;
        await sub.close().catch(() => sub.destroy());
      }
    } else {
      const c = this.client as ClusterClient | SentinelClient;
      if (c.isOpen) await c.sUnsubscribe(channel, onMessage);
    }
  }

  /**
   * One subscriber connection for all channels, shared by concurrent callers
   * while it connects: a caller that times out leaves it connecting for the next
   * one instead of leaving one more reconnecting client behind per attempt.
   */
  private singleSubscriber(): Promise<SingleClient> {
    if (this.subscriber) return Promise.resolve(this.subscriber);
    this.subscriberConnecting ??= (async () => {
      const sub = createSingle(this.t, this.o.commandTimeoutMs, this.ca);
      this.watch(sub, 'subscriber');
      try {
        await sub.connect();
      } catch (err) {
        destroyQuietly(sub);
        throw err;
      }
      if (this.closed) {
        destroyQuietly(sub);
        throw new Error('redis connection closed');
      }
      this.subscriber = sub;
      return sub;
    })().finally(() => {
      this.subscriberConnecting = undefined;
    });
    return this.subscriberConnecting;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.rebuilding?.catch(() => undefined);
    this.listeners.clear();
    const sub = this.subscriber;
    this.subscriber = undefined;
    if (sub?.isOpen) await sub.close().catch(() => sub.destroy());
    const c = this.client;
    if (c.isOpen) await c.close().catch(() => destroyQuietly(c));
    else destroyQuietly(c);
  }
}

function destroyQuietly(c: AnyClient): void {
  try {
    void Promise.resolve((c as { destroy(): unknown }).destroy()).catch(() => undefined);
  } catch {
    // already closed
  }
}

/**
 * Ends a client a rebuild replaced. close() lets the commands already sent on it finish: a
 * rebuild follows a failure on one node (a dead cluster primary), and a join in flight to a
 * healthy shard must not fail with it. Whatever still waits after `ms` (a command to the dead
 * node; the store's own timer has answered it by then) is ended by destroy().
 */
function retire(c: AnyClient, ms: number): void {
  const timer = setTimeout(() => destroyQuietly(c), ms);
  timer.unref();
  try {
    void Promise.resolve((c as { close(): unknown }).close()).then(
      () => clearTimeout(timer),
      () => {
        clearTimeout(timer);
        destroyQuietly(c);
      },
    );
  } catch {
    clearTimeout(timer);
    destroyQuietly(c);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
