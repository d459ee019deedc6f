import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { AbuseControls } from '../abuse/abuse-controls';
import { claimNetwork, passHolderCheck } from '../abuse/pass-holder';
import { Admission } from '../admission/admission';
import type { Config } from '../config/config';
import { apiEndpoints } from '../http/api';
import { buildHandler, metricsApp } from '../http/app';
import { capConnectionsPerPeer } from '../http/connection-cap';
import { LeaderLease } from '../leader/lease';
import { Ticker } from '../leader/ticker';
import { Metrics } from '../observability/metrics';
import { queueGauges } from '../observability/queue-gauges';
import type { QueueSettings } from '../queue/queue-state';
import { QueueStateCache } from '../queue/state-cache';
import { QueueService } from '../service/queue-service';
import { Readiness } from '../service/readiness';
import { TicketBatcher } from '../service/ticket-batcher';
import { MemoryPassStore } from '../store/memory-pass-store';
import { MemoryQueueStore } from '../store/memory-store';
import { RedisPassStore } from '../store/pass-store';
import { DurabilityUnsupportedError } from '../store/durability';
import { RedisQueueStore } from '../store/redis-store';
import { MemoryAbuseStore } from '../store/abuse-store-memory';
import { RedisAbuseStore } from '../store/abuse-store-redis';
import { queueKeys } from '../store/keys';
import type { QueueStore, StoreIntegrityHooks } from '../store/store';
import { TicketTokens } from '../tokens/ticket-token';
import { EventHub } from '../events/event-hub';
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
export function createStore(config: Config, logger: Logger, metrics: Metrics): RedisQueueStore | MemoryQueueStore {
  if (!config.redisUrl) {
    if (config.nodeEnv === 'production') throw new Error('REDIS_URL is required in production');
    return new MemoryQueueStore({ queueId: config.queueId, logger: logger.child({ component: 'memory-store' }), ...integrityHooks(config.queueId, metrics) });
  }
  return new RedisQueueStore({
    url: config.redisUrl,
    tlsCaFile: config.redisTlsCaFile || undefined,
    queueId: config.queueId,
    logger: logger.child({ component: 'redis' }),
    onError: () => metrics.storeErrors.inc(),
    ...integrityHooks(config.queueId, metrics),
    durability: config.joinDurability,
    onDurabilityShortfall: () => metrics.joinDurabilityShortfalls.inc({ queue: config.queueId }),
  });
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
 * start() connects and begins leading/ticking; listen() serves HTTP;
 * shutdown() drains gracefully. cmd/server/main.ts owns signals and exit codes.
 */
export class WaitroomServer {
  readonly metrics: Metrics;
  readonly store: QueueStore & { connect(): Promise<void> };
  readonly cache: QueueStateCache;
  readonly lease: LeaderLease;
  readonly ticker: Ticker;
  readonly service: QueueService;
  readonly readiness: Readiness;
  readonly settings: QueueSettings;
  readonly http: Server;
  /** The METRICS_PORT listener, when configured. */
  readonly metricsHttp: Server | undefined;
  readonly events: EventHub;
  readonly admission: Admission;
  readonly abuse: AbuseControls;
  private shuttingDown: Promise<void> | undefined;

  constructor(
    readonly config: Config,
    readonly logger: Logger,
  ) {
    this.metrics = new Metrics();
    this.settings = Object.freeze({
      windowSize: config.windowSize,
      intervalMs: config.windowIntervalMs,
      activeWindowCount: config.activeWindowCount,
    });
    const store = createStore(config, logger, this.metrics);
    this.store = store;
    this.cache = new QueueStateCache({
      store: this.store,
      settings: this.settings,
      logger: logger.child({ component: 'state' }),
      refreshMs: config.stateRefreshMs,
      maxStalenessMs: config.stateMaxStalenessMs,
    });
    const owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.lease = new LeaderLease({
      store: this.store,
      owner,
      ttlMs: config.leaseTtlMs,
      renewMs: config.leaseRenewMs,
      logger: logger.child({ component: 'lease' }),
    });
    this.ticker = new Ticker({
      store: this.store,
      lease: this.lease,
      cache: this.cache,
      settings: this.settings,
      logger: logger.child({ component: 'ticker' }),
      metrics: this.metrics,
    });
    const tokens = new TicketTokens(config.jwtSecret, config.ticketTtlSeconds, config.tokenCacheSize);
    const q = config.queueId;
    const batcher = new TicketBatcher(
      this.store,
      this.settings,
      512,
      (b) => {
        this.metrics.ticketsIssued.inc({ queue: q }, b.count);
        this.metrics.joinBatchSize.observe(b.count);
      },
      () => this.cache.highWater(),
    );
    this.service = new QueueService({
      queueId: q,
      cache: this.cache,
      tokens,
      batcher,
      onTicketAboveCounter: () => this.metrics.stateCorrupt.inc({ queue: q }),
    });
    this.readiness = new Readiness(this.store, this.cache);
    this.wireMetrics();
    this.events = new EventHub({
      service: this.service,
      cache: this.cache,
      logger: logger.child({ component: 'events' }),
      metrics: this.metrics,
      heartbeatMs: config.sseHeartbeatMs,
      retryMs: config.sseRetryMs,
      maxStreamsPerIp: config.sseMaxStreamsPerIp,
      maxStreams: config.sseMaxStreams,
      trustProxy: config.trustProxy,
      draining: () => this.readiness.isDraining(),
    });
    const overview = new QueueOverview({
      queueId: q,
      store: this.store,
      cache: this.cache,
      settings: this.settings,
      replica: () => ({ owner, leader: this.lease.isLeader() }),
      streams: () => this.events.size(),
    });
    const passStore = store instanceof RedisQueueStore ? new RedisPassStore(store, logger.child({ component: 'admission' })) : new MemoryPassStore(store);
    this.abuse = new AbuseControls({
      config,
      store: store instanceof RedisQueueStore ? new RedisAbuseStore(store) : new MemoryAbuseStore(store, passStore as MemoryPassStore),
      ...(store instanceof RedisQueueStore ? { sendCommand: (args: string[]) => store.sendCommand(args) } : {}),
      claimLimitPrefix: queueKeys(q).claimLimitPrefix,
      cache: this.cache,
      metrics: this.metrics,
      logger: logger.child({ component: 'abuse' }),
      onPassRevoked: (jti, expMs) => this.admission.revocations.add(jti, expMs),
    });
    this.admission = new Admission({
      config,
      passStore,
      queue: this.service,
      logger,
      metrics: this.metrics,
      checkClient: passHolderCheck({ sharing: this.abuse.sharing, bindPrefix: config.passBindPrefix, trustProxy: config.trustProxy }),
      claimNetwork: (req) => claimNetwork(req, config.passBindPrefix, config.trustProxy),
    });
    const handler = buildHandler({
      logger,
      metrics: this.metrics,
      api: apiEndpoints(this.service, { gate: this.abuse.joinGate, cookieSecure: config.passCookieSecure }),
      readiness: this.readiness,
      trustProxy: config.trustProxy,
      logSampleRate: config.logSampleRate,
      events: this.events,
      web: {
        queueId: q,
        brand: {
          title: config.brandTitle,
          message: config.brandMessage,
          logoUrl: config.brandLogoUrl,
          primaryColor: config.brandPrimaryColor,
          backgroundColor: config.brandBackgroundColor,
          targetUrl: config.targetUrl,
        },
      },
      admin: { token: config.adminToken, overview },
      metricsOnMainPort: config.metricsPort === 0,
      extraRouters: [this.admission.router],
      abuse: this.abuse.hooks,
    }, this.admission.hotRoutes);
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

  private wireMetrics(): void {
    const q = this.config.queueId;
    const m = this.metrics;
    m.trackQueue(q, () => queueGauges(this.cache.peek(), this.cache.storeNow(), this.cache.ageMs()));
    this.lease.on('acquired', () => {
      m.leader.set({ queue: q }, 1);
      m.leadershipChanges.inc({ queue: q, change: 'acquired' });
    });
    this.lease.on('lost', () => {
      m.leader.set({ queue: q }, 0);
      m.leadershipChanges.inc({ queue: q, change: 'lost' });
    });
  }

  /**
   * Connects to the store, loads the state and starts the lease and ticker.
   * Never throws for an unreachable store; throws DurabilityUnsupportedError when the
   * store cannot make joins as durable as JOIN_DURABILITY asks. The first connection attempt is
   * awaited (node-redis settles it within its connect timeout) so that the
   * first state read does not race it and log a spurious "client is offline".
   */
  async start(): Promise<void> {
    for (const w of this.config.warnings) this.logger.warn(w);
    if (this.store instanceof MemoryQueueStore) {
      // Loud on purpose: a second replica started this way would run its own separate
      // queue, handing out the same ticket numbers and admitting twice as fast.
      this.logger.warn(
        { store: 'embedded', queue: this.config.queueId, replicas: 1 },
        'EMBEDDED STORE: REDIS_URL is not set, so the queue lives in this process only. ' +
          'Run exactly ONE replica; the queue is lost (new epoch) on restart. Set REDIS_URL for anything beyond a single-process trial.',
      );
    }
    await this.store.connect().catch((err: unknown) => {
      // A server that cannot make joins as durable as JOIN_DURABILITY asks must not serve:
      // the entry point prints the reason and exits 78.
      if (err instanceof DurabilityUnsupportedError) throw err;
      this.logger.error({ err: (err as Error).message }, 'store connection failed; retrying');
    });
    this.events.start();
    await this.cache.start();
    this.lease.start();
    this.ticker.start();
    await this.admission.start();
    this.abuse.start();
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
   * Graceful shutdown: readiness turns 503 at once; the ticker stops and the
   * lease is released (a successor ticks within one renew period); after
   * SHUTDOWN_DELAY_MS (time for load balancers to notice), the server
   * stops accepting and in-flight requests finish (up to SHUTDOWN_TIMEOUT_MS);
   * then the store connections close. Idempotent.
   */
  shutdown(): Promise<void> {
    this.shuttingDown ??= (async () => {
      this.readiness.beginDrain();
      this.logger.info('shutting down: draining');
      await this.ticker.close();
      await this.lease.close();
      if (this.config.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, this.config.shutdownDelayMs));
      // Open streams would hold http.close() until the timeout; their clients reconnect elsewhere.
      this.events.close();
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
      await this.cache.close();
      await this.abuse.close();
      await this.admission.close();
      await this.store.close();
      this.logger.info('shutdown complete');
    })();
    return this.shuttingDown;
  }
}
