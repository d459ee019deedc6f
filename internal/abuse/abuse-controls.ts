import type { IncomingMessage } from 'node:http';
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import { QueueNotFoundError, TooManyRequestsError, type WaitroomError } from '../errors/errors';
import type { JoinGate } from '../http/api';
import type { AbuseHooks } from '../http/app';
import { clientIp } from '../http/client-ip';
import { expressRoute, otherMethods } from '../http/express-route';
import { queueOf } from '../http/queue-prefix';
import type { Metrics } from '../observability/metrics';
import type { QueueStateCache } from '../queue/state-cache';
import type { TicketTokens } from '../tokens/ticket-token';
import type { AbuseStore } from './abuse-store';
import { challengeAssetsRouter } from './challenge-assets';
import { JoinChallenge } from './challenge';
import { claimLimiter, type SendCommand } from './claim-limiter';
import { ForgeryGuard, FORGERY_CODES } from './forgery-guard';
import { FREE_JOIN, LimitedJoinGate } from './join-gate';
import { JoinLimiter } from './join-limiter';
import { JoinRateMeter } from './join-rate';
import { StaticLimits, type LimitsProvider } from './queue-limits';
import { SharingDetector } from './sharing-detector';

/** Where one queue's limits live (made once per served queue). */
export interface AbuseQueue {
  readonly store: AbuseStore;
  /** The queue's Redis for rate-limit-redis (routed to the queue's slot); absent with the embedded store. */
  readonly sendCommand?: SendCommand;
  /** Key prefix of the claim limiter's counters (the queue's {hash tag}). */
  readonly claimLimitPrefix: string;
}

export interface AbuseControlsDeps {
  readonly config: Config;
  /**
   * The state cache of queue `id` (its ticket counter is the queue-wide join rate, for the
   * challenge's auto mode), or undefined when this replica does not serve it. Called per request.
   */
  readonly cache: (id: string) => QueueStateCache | undefined;
  /** Where queue `id`'s limits live; called once each time a served queue's controls are made. */
  readonly parts: (id: string) => AbuseQueue;
  /** Every queue served now (for start) and a way to hear of queues added or dropped. */
  readonly queues: {
    ids(): readonly string[];
    onChange(l: (id: string) => void): () => void;
  };
  /** Ticket verification, to find the queue of a claim (POST /claim carries the ticket). */
  readonly tokens: TicketTokens;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Per-queue limits; the global settings from Config when absent. */
  readonly limits?: LimitsProvider;
  /** Where a pass found shared is revoked locally (the revocation list of its queue). */
  readonly onPassRevoked: (queueId: string, jti: string, expMs: number) => void;
  readonly now?: () => number;
}

/** Global limits from the environment, for every queue. */
export function limitsFromConfig(c: Config): StaticLimits {
  return new StaticLimits({
    join: { burst: c.joinLimitBurst, ratePerSecond: c.joinLimitRate },
    claimPerMinute: c.claimLimitPerMinute,
    challenge: { mode: c.challengeMode, autoJoinsPerSecond: c.challengeAutoJoinsPerSecond },
  });
}

/**
 * The abuse controls of one queue on one replica: its join-rate meter (fed by
 * its cache), challenge, join limit, sharing detection and claim limit, all on
 * the queue's own store (keys under its hash tag).
 */
class QueueAbuse {
  readonly rate = new JoinRateMeter();
  readonly challenge: JoinChallenge;
  readonly gate: LimitedJoinGate;
  readonly sharing: SharingDetector;
  readonly claimLimiter: RequestHandler | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed: Promise<void> | undefined;

  constructor(
    readonly id: string,
    private readonly cache: QueueStateCache,
    q: AbuseQueue,
    d: AbuseControlsDeps,
    limits: LimitsProvider,
    now: () => number,
  ) {
    const c = d.config;
    const m = d.metrics;
    this.challenge = new JoinChallenge({
      secret: c.jwtSecret,
      cost: c.challengeCost,
      ttlSeconds: c.challengeTtlSeconds,
      store: q.store,
      limits,
      rate: this.rate,
      challengeUrl: 'challenge',
      now,
      onResult: (r) => m.challenges.inc({ result: r }),
    });
    const limiter = new JoinLimiter(q.store, limits, () => m.limited.inc({ route: 'join' }));
    this.gate = new LimitedJoinGate(limiter, this.challenge, c.trustProxy);
    this.sharing = new SharingDetector({
      store: q.store,
      maxClients: c.passMaxClients,
      windowMs: c.passSharingWindowSeconds * 1000,
      flushMs: c.passSharingFlushMs,
      logger: d.logger.child({ component: 'sharing', queue: id }),
      onRevoked: (jti, expMs) => {
        m.passesShared.inc();
        d.logger.warn({ queue: id, jti, maxClients: c.passMaxClients }, 'pass revoked: used from more distinct clients than allowed');
        d.onPassRevoked(id, jti, expMs);
      },
      now,
    });
    this.claimLimiter = claimLimiter({
      queueId: id,
      limits,
      trustProxy: c.trustProxy,
      ...(q.sendCommand ? { sendCommand: q.sendCommand } : {}),
      prefix: q.claimLimitPrefix,
      onRefused: () => m.limited.inc({ route: 'claim' }),
    });
    // The ticket counter every replica sees is the queue-wide join count: its rise is the
    // join rate. Timed by this replica's clock when it learned each value (a counter-only
    // change keeps the snapshot's older read time).
    this.unsubscribe = cache.onChange((s) => this.rate.add(s.epoch, s.counter, now()));
  }

  /** True while this still serves the queue's current parts (a queue deleted and created again gets new ones). */
  serves(cache: QueueStateCache): boolean {
    return cache === this.cache;
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.unsubscribe?.();
      this.unsubscribe = undefined;
      await this.sharing.close();
    })();
    return this.closed;
  }
}

/**
 * The abuse controls of one replica, wired from Config. Per queue (on the
 * queue's own store, created as the registry serves a queue, closed when it is
 * dropped): the join limit and challenge (the JoinGate for POST /join and
 * /q/{id}/join), the claim limit, and sharing detection for the gate. Per
 * replica: the forgery guard (it judges client addresses, whatever the queue).
 * start() begins flushing (pass, client) pairs; close() is idempotent.
 */
export class AbuseControls {
  readonly limits: LimitsProvider;
  readonly joinGate: JoinGate;
  readonly forgery: ForgeryGuard;
  readonly hooks: AbuseHooks;
  private readonly perQueue = new Map<string, QueueAbuse>();
  private readonly now: () => number;
  private readonly unlisten: () => void;
  private closed: Promise<void> | undefined;

  constructor(private readonly d: AbuseControlsDeps) {
    const c = d.config;
    const m = d.metrics;
    this.now = d.now ?? Date.now;
    this.limits = d.limits ?? limitsFromConfig(c);
    this.unlisten = d.queues.onChange((id) => void this.refresh(id));
    this.joinGate = {
      admit: (req, queueId) => this.forQueue(queueId)?.gate.admit(req, queueId) ?? FREE_JOIN,
    };
    this.forgery = new ForgeryGuard({ limit: c.forgeryLimit, blockMs: c.forgeryBlockSeconds * 1000 });
    const router = Router();
    router
      .route('/challenge')
      .get(
        expressRoute(async (req) => {
          // /q/{id}/challenge is the challenge of queue {id}; /challenge the default queue's.
          const id = queueOf(req) ?? c.queueId;
          const q = this.forQueue(id);
          if (!q) throw new QueueNotFoundError(id);
          return { status: 200, body: await q.challenge.create(id) };
        }),
      )
      .all(otherMethods('GET'));
    router.use(challengeAssetsRouter());
    const trust = c.trustProxy;
    this.hooks = {
      refuse: (req: IncomingMessage): WaitroomError | undefined => {
        const ms = this.forgery.blockedFor(clientIp(req, trust), this.now());
        if (ms <= 0) return undefined;
        m.forgeryRefused.inc();
        return new TooManyRequestsError('this address presented too many forged tokens; it is refused for a while', Math.ceil(ms / 1000), 'forgery_blocked');
      },
      noteRefused: (req: IncomingMessage, code: string) => {
        if (!FORGERY_CODES.has(code)) return;
        m.forgedTokens.inc({ code });
        const ip = clientIp(req, trust);
        if (this.forgery.note(ip, code, this.now())) {
          m.forgeryBlocks.inc();
          d.logger.warn({ client: ip, blockSeconds: c.forgeryBlockSeconds }, 'client blocked for presenting forged tokens');
        }
      },
      claimLimiter: (req: Request, res: Response, next: NextFunction) => {
        const limiter = this.forQueue(this.claimQueue(req))?.claimLimiter;
        if (!limiter) return next();
        return limiter(req, res, next);
      },
      router,
    };
  }

  /**
   * The queue a claim counts against: the queue of its ticket (verified; a claim's ticket
   * names its queue), else the queue of the /q/{id}/ route or the default queue.
   */
  private claimQueue(req: IncomingMessage): string {
    try {
      return this.d.tokens.verifyBearer(req.headers.authorization).queue;
    } catch {
      return queueOf(req) ?? this.d.config.queueId;
    }
  }

  /** The controls of queue `id` (made on first use), or undefined when it is not served. */
  private forQueue(id: string): QueueAbuse | undefined {
    const cache = this.d.cache(id);
    const have = this.perQueue.get(id);
    if (!cache) {
      if (have) void this.drop(id, have);
      return undefined;
    }
    if (have?.serves(cache)) return have;
    if (have) void this.drop(id, have);
    if (this.closed) return undefined;
    const made = new QueueAbuse(id, cache, this.d.parts(id), this.d, this.limits, this.now);
    this.perQueue.set(id, made);
    return made;
  }

  private async refresh(id: string): Promise<void> {
    if (this.closed) return;
    this.forQueue(id);
  }

  private async drop(id: string, a: QueueAbuse): Promise<void> {
    if (this.perQueue.get(id) === a) this.perQueue.delete(id);
    await a.close().catch((err: unknown) => this.d.logger.warn({ queue: id, err: (err as Error).message }, 'closing abuse controls failed'));
  }

  /**
   * The sharing detector of a pass's queue, for the gate's (pass, client) check;
   * undefined when the queue is not served (the gate refuses such a pass anyway).
   */
  sharingFor(queueId: string): SharingDetector | undefined {
    return this.forQueue(queueId)?.sharing;
  }

  start(): void {
    for (const id of this.d.queues.ids()) this.forQueue(id);
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.unlisten();
      const all = [...this.perQueue.values()];
      this.perQueue.clear();
      for (const a of all) await a.close();
    })();
    return this.closed;
  }
}
