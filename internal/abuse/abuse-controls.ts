import type { IncomingMessage } from 'node:http';
import { Router } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import { TooManyRequestsError, type WaitroomError } from '../errors/errors';
import type { AbuseHooks } from '../http/app';
import { clientIp } from '../http/client-ip';
import { expressRoute, otherMethods } from '../http/express-route';
import type { Metrics } from '../observability/metrics';
import type { QueueStateCache } from '../queue/state-cache';
import type { AbuseStore } from './abuse-store';
import { challengeAssetsRouter } from './challenge-assets';
import { JoinChallenge } from './challenge';
import { claimLimiter, type SendCommand } from './claim-limiter';
import { ForgeryGuard, FORGERY_CODES } from './forgery-guard';
import { LimitedJoinGate } from './join-gate';
import { JoinLimiter } from './join-limiter';
import { JoinRateMeter } from './join-rate';
import { StaticLimits, type LimitsProvider } from './queue-limits';
import { SharingDetector } from './sharing-detector';

export interface AbuseControlsDeps {
  readonly config: Config;
  readonly store: AbuseStore;
  /** The queue's Redis for rate-limit-redis; absent with the embedded store. */
  readonly sendCommand?: SendCommand;
  /** Key prefix of the claim limiter's counters. */
  readonly claimLimitPrefix: string;
  readonly cache: QueueStateCache;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Per-queue limits; the global settings from Config when absent. */
  readonly limits?: LimitsProvider;
  /** Where a pass found shared is revoked locally (the revocation list). */
  readonly onPassRevoked: (jti: string, expMs: number) => void;
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
 * The abuse controls of one replica, wired from Config: the join limit and
 * challenge (a JoinGate for POST /join), the claim limit, the forgery guard, and
 * sharing detection for the gate. start() begins feeding the join-rate meter and
 * flushing (pass, client) pairs; close() is idempotent.
 */
export class AbuseControls {
  readonly limits: LimitsProvider;
  readonly joinGate: LimitedJoinGate;
  readonly challenge: JoinChallenge;
  readonly forgery: ForgeryGuard;
  readonly sharing: SharingDetector;
  readonly hooks: AbuseHooks;
  private readonly rate = new JoinRateMeter();
  private readonly now: () => number;
  private unsubscribe: (() => void) | undefined;
  private closed: Promise<void> | undefined;

  constructor(private readonly d: AbuseControlsDeps) {
    const c = d.config;
    const m = d.metrics;
    const q = c.queueId;
    this.now = d.now ?? Date.now;
    this.limits = d.limits ?? limitsFromConfig(c);
    this.challenge = new JoinChallenge({
      secret: c.jwtSecret,
      cost: c.challengeCost,
      ttlSeconds: c.challengeTtlSeconds,
      store: d.store,
      limits: this.limits,
      rate: this.rate,
      challengeUrl: 'challenge',
      now: this.now,
      onResult: (r) => m.challenges.inc({ result: r }),
    });
    const limiter = new JoinLimiter(d.store, this.limits, () => m.limited.inc({ route: 'join' }));
    this.joinGate = new LimitedJoinGate(limiter, this.challenge, c.trustProxy);
    this.forgery = new ForgeryGuard({ limit: c.forgeryLimit, blockMs: c.forgeryBlockSeconds * 1000 });
    this.sharing = new SharingDetector({
      store: d.store,
      maxClients: c.passMaxClients,
      windowMs: c.passSharingWindowSeconds * 1000,
      flushMs: c.passSharingFlushMs,
      logger: d.logger.child({ component: 'sharing' }),
      onRevoked: (jti, expMs) => {
        m.passesShared.inc();
        d.logger.warn({ jti, maxClients: c.passMaxClients }, 'pass revoked: used from more distinct clients than allowed');
        d.onPassRevoked(jti, expMs);
      },
      now: this.now,
    });
    const router = Router();
    router
      .route('/challenge')
      .get(expressRoute(async () => ({ status: 200, body: await this.challenge.create(q) })))
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
      claimLimiter: claimLimiter({
        queueId: q,
        limits: this.limits,
        trustProxy: trust,
        ...(d.sendCommand ? { sendCommand: d.sendCommand } : {}),
        prefix: d.claimLimitPrefix,
        onRefused: () => m.limited.inc({ route: 'claim' }),
      }),
      router,
    };
  }

  start(): void {
    // The ticket counter every replica sees is the queue-wide join count: its rise is the
    // join rate. Timed by this replica's clock when it learned each value (a counter-only
    // change keeps the snapshot's older read time).
    this.unsubscribe ??= this.d.cache.onChange((s) => this.rate.add({ epoch: s.epoch, counter: s.counter, atMs: this.now() }));
    this.sharing.start();
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.unsubscribe?.();
      await this.sharing.close();
    })();
    return this.closed;
  }
}
