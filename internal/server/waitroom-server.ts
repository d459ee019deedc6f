import { SiteKeys } from '../admission/site-auth';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { getHeapStatistics } from 'node:v8';
import type { Logger } from 'pino';
import { AbuseControls } from '../abuse/abuse-controls';
import { claimNetwork, passHolderCheck } from '../abuse/pass-holder';
import { Admission } from '../admission/admission';
import { adminApiRouter } from '../admin/admin-api';
import { AdminAuth } from '../admin/admin-auth';
import type { Config } from '../config/config';
import { MemoryPressure } from '../health/memory-pressure';
import { apiEndpoints } from '../http/api';
import { buildHandler, metricsApp } from '../http/app';
import { queueOf } from '../http/queue-prefix';
import { capConnectionsPerPeer } from '../http/connection-cap';
import { openApiRouter } from '../http/openapi';
import { OPENAPI_PARTS } from './openapi-parts';
import { Metrics } from '../observability/metrics';
import { QueueRegistry } from '../queues/queue-registry';
import type { QueueDefaults } from '../queues/queue-settings';
import { Readiness } from '../service/readiness';
import { MemoryCatalog } from '../store/memory-catalog';
import { RedisFlowStore } from '../store/flow-store';
import { RedisPassStore } from '../store/pass-store';
import { DurabilityUnsupportedError } from '../store/durability';
import { MemoryAbuseStore } from '../store/abuse-store-memory';
import { RedisAbuseStore } from '../store/abuse-store-redis';
import { queueKeys } from '../store/keys';
import { RedisCatalog } from '../store/redis-catalog';
import { WebhookDispatchers } from '../webhooks/webhook-dispatchers';
import { WebhookMetrics } from '../webhooks/webhook-metrics';
import { RedisQueueStore } from '../store/redis-store';
import type { QueueCatalog, StoreIntegrityHooks } from '../store/store';
import { TicketTokens } from '../tokens/ticket-token';
import { streamToken } from '../events/ticket-source';
import { QueueOverview } from '../service/queue-overview';

function integrityHooks(queue: string, metrics: Metrics): StoreIntegrityHooks {
  return {
    onCorrupt: () => metrics.stateCorrupt.inc({ queue }),
    onRollback: (reason) => metrics.stateRollbacks.inc({ queue, reason }),
  };
}

/**
 * Chooses the store for a config: Redis when REDIS_URL is set; otherwise, outside
 * production, the embedded single-process store (loadConfig already refuses a
 * production config without REDIS_URL; the check here guards other callers).
 */
export function createCatalog(config: Config, logger: Logger, metrics: Metrics, author?: string): RedisCatalog | MemoryCatalog {
  if (!config.redisUrl) {
    if (config.nodeEnv === 'production') throw new Error('REDIS_URL is required in production');
    return new MemoryCatalog({
      logger: logger.child({ component: 'memory-store' }),
      integrity: (queue) => integrityHooks(queue, metrics),
      eventStreamMaxLength: config.eventStreamMaxLength,
    });
  }
  return new RedisCatalog({
    url: config.redisUrl,
    tlsCaFile: config.redisTlsCaFile || undefined,
    logger: logger.child({ component: 'redis' }),
    onError: () => metrics.storeErrors.inc(),
    eventStreamMaxLength: config.eventStreamMaxLength,
    integrity: (queue) => integrityHooks(queue, metrics),
    durability: config.joinDurability,
    onDurabilityShortfall: (queue) => metrics.joinDurabilityShortfalls.inc({ queue }),
    // A queue's counter then reaches the other replicas within two polls of a join.
    joinLogMs: config.stateRefreshMs,
    // This replica's own advances and joins: its polls need not re-read them.
    author,
  });
}

/** The environment's queue settings: the default queue is created from them, other queues default to them. */
export function queueDefaults(config: Config): QueueDefaults {
  return {
    windowSize: config.windowSize,
    intervalMs: config.windowIntervalMs,
    activeWindowCount: config.activeWindowCount,
    targetUrl: config.targetUrl,
    branding: {
      title: config.brandTitle,
      message: config.brandMessage,
      logoUrl: config.brandLogoUrl,
      primaryColor: config.brandPrimaryColor,
      backgroundColor: config.brandBackgroundColor,
    },
  };
}

/**
 * The one line to print when binding failed for a reason a person fixes
 * (a busy port, a port below 1024 without privilege); null for anything else.
 */
export function listenFailure(err: unknown, config: Pick<Config, 'host' | 'port' | 'metricsPort'>): string | null {
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  const port = e.port ?? config.port;
  const which = port === config.metricsPort && config.metricsPort !== 0 ? 'METRICS_PORT' : 'PORT';
  if (e.code === 'EADDRINUSE') return `cannot listen on ${config.host}:${port}: the port is already in use (EADDRINUSE); stop the other process or set ${which}`;
  if (e.code === 'EACCES') return `cannot listen on ${config.host}:${port}: permission denied (EACCES); use a port above 1023 or set ${which}`;
  if (e.code === 'EADDRNOTAVAIL') return `cannot listen on ${config.host}:${port}: no such local address (EADDRNOTAVAIL); set HOST`;
  return null;
}

/** A URL a person can open for a bound address: a wildcard address becomes localhost. */
export function publicUrl(a: AddressInfo): string {
  const wildcard = a.address === '0.0.0.0' || a.address === '::';
  const host = wildcard ? 'localhost' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return `http://${host}:${a.port}/`;
}

function bind(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * One waitroom replica: every long-running part, wired from a Config.
 * start() connects and begins serving every stored queue; listen() serves HTTP;
 * shutdown() drains gracefully. cmd/server/main.ts owns signals and exit codes.
 */
export class WaitroomServer {
  readonly metrics: Metrics;
  readonly catalog: QueueCatalog;
  readonly registry: QueueRegistry;
  readonly readiness: Readiness;
  readonly tokens: TicketTokens;
  readonly http: Server;
  /** The request handler: the hot path, the event streams and the Express app (its routes are walked by the OpenAPI test). */
  readonly handler: ReturnType<typeof buildHandler>;
  /** The METRICS_PORT listener, when configured. */
  readonly metricsHttp: Server | undefined;
  readonly admission: Admission;
  readonly abuse: AbuseControls;
  readonly owner: string;
  /** Refuses new event streams while the replica is short of memory. */
  readonly memory: MemoryPressure;
  /** Webhook delivery, one leased dispatcher per queue; undefined on the embedded store. */
  readonly webhooks: WebhookDispatchers | undefined;
  private shuttingDown: Promise<void> | undefined;

  constructor(
    readonly config: Config,
    readonly logger: Logger,
  ) {
    this.metrics = new Metrics();
    this.owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    const catalog = createCatalog(config, logger, this.metrics, this.owner);
    this.catalog = catalog;
    this.tokens = new TicketTokens(config.jwtSecret, config.ticketTtlSeconds, config.tokenCacheSize);
    let streamsOpen = () => 0;
    const metrics = this.metrics;
    this.memory = new MemoryPressure({
      highWater: config.sseMemoryHighWater,
      heapHighWater: config.sseHeapHighWater,
      logger: logger.child({ component: 'memory' }),
      onChange: (on) => metrics.memoryPressure.set(on ? 1 : 0),
    });
    const memory = this.memory;
    this.registry = new QueueRegistry({
      catalog,
      passStoreFor: (id, store) =>
        catalog instanceof MemoryCatalog ? catalog.passStore(id) : new RedisPassStore(store as RedisQueueStore, logger.child({ component: 'admission', queue: id })),
      flowStoreFor: (id, store) => (catalog instanceof MemoryCatalog ? catalog.flowStore(id) : new RedisFlowStore(store as RedisQueueStore)),
      defaultQueueId: config.queueId,
      defaults: queueDefaults(config),
      owner: this.owner,
      logger,
      refreshMs: config.stateRefreshMs,
      resyncMs: config.stateResyncMs,
      runtime: {
        tokens: this.tokens,
        metrics: this.metrics,
        maxStalenessMs: config.stateMaxStalenessMs,
        leaseTtlMs: config.leaseTtlMs,
        leaseRenewMs: config.leaseRenewMs,
        revocationRefreshMs: config.passRevocationRefreshMs,
        events: {
          heartbeatMs: config.sseHeartbeatMs,
          retryMs: config.sseRetryMs,
          maxStreamsPerIp: config.sseMaxStreamsPerIp,
          maxStreams: config.sseMaxStreams,
          trustProxy: config.trustProxy,
          draining: () => this.readiness.isDraining(),
          openStreams: () => streamsOpen(),
          memoryPressure: () => memory.active(),
        },
      },
    });
    streamsOpen = () => this.registry.list().reduce((n, r) => n + r.events.size(), 0);
    const webhookStore = catalog instanceof RedisCatalog ? catalog.webhookStore() : null;
    const addressPolicy = { allowPrivateNetworks: config.webhooks.allowPrivateNetworks, production: config.nodeEnv === 'production' };
    this.webhooks = webhookStore
      ? new WebhookDispatchers({
          store: webhookStore,
          registry: this.registry,
          owner: this.owner,
          logger: logger.child({ component: 'webhooks' }),
          metrics: new WebhookMetrics(this.metrics.registry),
          sender: { ...addressPolicy, connectTimeoutMs: config.webhooks.connectTimeoutMs, timeoutMs: config.webhooks.timeoutMs },
          dispatcher: {
            pollMs: config.webhooks.pollMs,
            leaseTtlMs: config.leaseTtlMs,
            leaseRenewMs: config.leaseRenewMs,
            backoff: { baseMs: config.webhooks.retryBaseMs, maxMs: config.webhooks.retryMaxMs, retryForMs: config.webhooks.retryForMs },
            disableAfterMs: config.webhooks.disableAfterMs,
            eventStreamMaxLength: config.eventStreamMaxLength,
            recordsKept: 1000,
          },
        })
      : undefined;
    this.readiness = new Readiness(catalog, () => this.registry.defaultRuntime?.cache);
    const overview = new QueueOverview({
      queueId: config.queueId,
      queue: () => {
        const r = this.registry.require(config.queueId);
        return { store: catalog.queue(config.queueId), cache: r.cache, settings: r.rateSettings() };
      },
      replica: () => ({ owner: this.owner, leader: this.registry.defaultRuntime?.lease.isLeader() ?? false }),
      streams: () => streamsOpen(),
    });
    this.abuse = new AbuseControls({
      config,
      cache: (id) => this.registry.get(id)?.cache,
      parts: (id) => {
        const store = catalog.queue(id);
        const claimLimitPrefix = queueKeys(id).claimLimitPrefix;
        if (store instanceof RedisQueueStore) return { store: new RedisAbuseStore(store), sendCommand: (args: string[]) => store.sendCommand(args), claimLimitPrefix };
        const memory = catalog as MemoryCatalog;
        return { store: new MemoryAbuseStore(memory.queue(id), memory.passStore(id)), claimLimitPrefix };
      },
      queues: {
        ids: () => this.registry.list().map((r) => r.id),
        onChange: (l) => this.registry.onChange((id) => l(id)),
      },
      tokens: this.tokens,
      metrics: this.metrics,
      logger: logger.child({ component: 'abuse' }),
      onPassRevoked: (queue, jti, expMs) => this.registry.get(queue)?.revocations.add(jti, expMs),
    });
    this.admission = new Admission({
      config,
      registry: this.registry,
      tokens: this.tokens,
      logger,
      metrics: this.metrics,
      checkClient: passHolderCheck({ sharing: (queue) => this.abuse.sharingFor(queue), bindPrefix: config.passBindPrefix, trustProxy: config.trustProxy }),
      claimNetwork: (req) => claimNetwork(req, config.passBindPrefix, config.trustProxy),
    });
    const adminAuth = new AdminAuth(config.adminTokens);
    const handler = (this.handler = buildHandler(
      {
        logger,
        metrics: this.metrics,
        api: apiEndpoints({
          registry: this.registry,
          tokens: this.tokens,
          defaultQueueId: config.queueId,
          gate: this.abuse.joinGate,
          cookieSecure: config.passCookieSecure,
        }),
        readiness: this.readiness,
        trustProxy: config.trustProxy,
        logSampleRate: config.logSampleRate,
        // A stream belongs to the queue of its ticket (verified again, from the cache, by the hub);
        // the ticket cookie read is the one of the /q/{id}/ route's queue (the default queue's otherwise).
        events: (req: IncomingMessage) =>
          this.registry.forTicket(this.tokens.verify(streamToken(req, queueOf(req) ?? config.queueId)).queue).events,
        web: { queueId: config.queueId, registry: this.registry },
        admin: { token: config.adminToken, consoleEnabled: config.adminTokens.length > 0, overview },
        metricsOnMainPort: config.metricsPort === 0,
        extraRouters: [
          this.admission.router,
          openApiRouter(OPENAPI_PARTS),
          adminApiRouter({
            auth: adminAuth,
            catalog,
            registry: this.registry,
            defaults: queueDefaults(config),
            defaultQueueId: config.queueId,
            trustProxy: config.trustProxy,
            replicaOwner: this.owner,
            siteKeys: new SiteKeys(config.siteApiKeys),
            webhooks: { store: webhookStore, policy: addressPolicy, changed: () => this.webhooks?.endpoints.refresh() ?? Promise.resolve() },
          }),
        ],
        abuse: this.abuse.hooks,
      },
      this.admission.hotRoutes,
    ));
    this.http = createServer(
      {
        // 8 KiB of headers is ample for a bearer token and cookies; larger gets 431.
        maxHeaderSize: 8192,
        headersTimeout: config.httpHeadersTimeoutMs,
        requestTimeout: Math.max(30_000, config.httpHeadersTimeoutMs + 1000),
        // Node checks both timeouts only this often (30 s by default): a slow-header
        // connection was cut at 25-30 s instead of 10 s. Every second keeps the cut
        // within headersTimeout + 1 s for the cost of one timer walk over open sockets.
        connectionsCheckingInterval: 1000,
      },
      handler,
    );
    if (config.trustProxy === 0 && config.httpMaxConnectionsPerIp > 0) {
      capConnectionsPerPeer(this.http, config.httpMaxConnectionsPerIp, () => this.metrics.connectionsRefused.inc());
    }
    // Longer than typical load balancer idle timeouts (60 s) so the LB closes first.
    this.http.keepAliveTimeout = 65_000;
    this.metricsHttp = config.metricsPort ? createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, metricsApp(this.metrics)) : undefined;
  }

  /** The default queue's runtime (QUEUE_ID); throws until it is loaded. */
  get defaultQueue() {
    return this.registry.require(this.config.queueId);
  }

  /** The default queue's service and cache: the single-queue view of this replica. */
  get service() {
    return this.defaultQueue.service;
  }

  get cache() {
    return this.defaultQueue.cache;
  }

  /**
   * Connects to the store, loads every queue and starts their leases and tickers.
   * Never throws for an unreachable store; throws DurabilityUnsupportedError when the
   * store cannot make joins as durable as JOIN_DURABILITY asks. The first connection attempt is
   * awaited (node-redis settles it within its connect timeout) so that the
   * first state read does not race it and log a spurious "client is offline".
   */
  async start(): Promise<void> {
    for (const w of this.config.warnings) this.logger.warn(w);
    if (this.catalog instanceof MemoryCatalog) {
      // Loud on purpose: a second replica started this way would run its own separate
      // queues, handing out the same ticket numbers and admitting twice as fast.
      this.logger.warn(
        { store: 'embedded', queue: this.config.queueId, replicas: 1 },
        'EMBEDDED STORE: REDIS_URL is not set, so the queues live in this process only. ' +
          'Run exactly ONE replica; the queues are lost (new epoch) on restart. Set REDIS_URL for anything beyond a single-process trial.',
      );
    }
    await this.catalog.connect().catch((err: unknown) => {
      // A server that cannot make joins as durable as JOIN_DURABILITY asks must not serve:
      // the entry point prints the reason and exits 78.
      if (err instanceof DurabilityUnsupportedError) throw err;
      this.logger.error({ err: (err as Error).message }, 'store connection failed; retrying');
    });
    const limit = this.memory.memoryLimit();
    this.logger.info(
      { memoryLimitMiB: limit === undefined ? null : Math.round(limit / 2 ** 20), heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20), sseMemoryHighWater: this.config.sseMemoryHighWater, sseHeapHighWater: this.config.sseHeapHighWater },
      'memory limits',
    );
    this.memory.start();
    await this.registry.start();
    await this.admission.start();
    this.abuse.start();
    if (this.webhooks) this.webhooks.start();
    else {
      // Loud on purpose: endpoints cannot even be created here (the admin API answers 501).
      this.logger.warn('WEBHOOKS DISABLED: the embedded store has no Redis Streams consumer groups to deliver events from; set REDIS_URL to deliver webhooks');
    }
  }

  /**
   * Binds PORT (and METRICS_PORT): cmd/server/main.ts calls it before start(),
   * so a busy port fails before this replica touches Redis or takes the ticker
   * lease. Until start() has loaded the state, /readyz answers 503 and
   * /status not_ready. Rejects with the listen error (EADDRINUSE, EACCES).
   */
  async listen(port = this.config.port, host = this.config.host): Promise<AddressInfo> {
    const main = await bind(this.http, port, host);
    if (this.metricsHttp) {
      try {
        await bind(this.metricsHttp, this.config.metricsPort, host);
      } catch (err) {
        this.http.close();
        throw err;
      }
    }
    return main;
  }

  /** The METRICS_PORT listener's address, once listening. */
  metricsAddress(): AddressInfo | null {
    return (this.metricsHttp?.address() as AddressInfo | null) ?? null;
  }

  /**
   * Graceful shutdown: readiness turns 503 at once; every ticker stops and every
   * lease is released (successors tick within one renew period); after
   * SHUTDOWN_DELAY_MS (time for load balancers to notice), the server
   * stops accepting and in-flight requests finish (up to SHUTDOWN_TIMEOUT_MS);
   * then the store connections close. Idempotent.
   */
  shutdown(): Promise<void> {
    this.shuttingDown ??= (async () => {
      // First, so that no later close that rejects leaves the GC observer connected.
      this.memory.close();
      this.readiness.beginDrain();
      this.logger.info('shutting down: draining');
      await this.registry.stopTicking();
      // Releases every dispatcher lease, so another replica resumes delivery at once.
      await this.webhooks?.close();
      if (this.config.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, this.config.shutdownDelayMs));
      // Open streams would hold http.close() until the timeout; their clients reconnect elsewhere.
      for (const r of this.registry.list()) r.events.close();
      const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
      this.http.closeIdleConnections();
      const timeout = setTimeout(() => {
        this.logger.warn('in-flight requests outlived the shutdown timeout; closing their connections');
        this.http.closeAllConnections();
      }, this.config.shutdownTimeoutMs);
      // Idle keep-alive connections that wake up while draining get Connection: close.
      const idleSweep = setInterval(() => this.http.closeIdleConnections(), 100);
      if (this.http.listening) await closed;
      clearTimeout(timeout);
      clearInterval(idleSweep);
      if (this.metricsHttp?.listening) {
        const m = this.metricsHttp;
        await new Promise<void>((resolve) => m.close(() => resolve()));
      }
      // The sharing detectors' last flush runs on the queues' stores: before the registry closes them.
      await this.abuse.close();
      await this.registry.close();
      await this.admission.close();
      await this.catalog.close();
      this.logger.info('shutdown complete');
    })();
    return this.shuttingDown;
  }
}
