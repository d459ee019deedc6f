import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Router } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import type { HotRoute } from '../http/hot-path';
import type { Metrics } from '../observability/metrics';
import type { QueueRegistry } from '../queues/queue-registry';
import type { TicketTokens } from '../tokens/ticket-token';
import { AdmissionMetrics } from './admission-metrics';
import { admissionHotRoutes, admissionRouter } from './admission-routes';
import { AdmissionService } from './admission-service';
import { createGate } from './gate';
import { TurnCounter } from '../observability/turn-counter';
import { KeyRing } from './key-ring';
import { ensureDevKey } from './pass-keys';
import { PassSigner, PassVerifier, type PassClaims } from './pass-tokens';
import { RevocationFeed } from './revocation-feed';
import { SiteKeys } from './site-auth';

/** Where a replica without PASS_KEYS_DIR keeps its generated development key. */
export const DEV_KEYS_DIR = join(tmpdir(), 'waitroom-dev-pass-keys');

export interface AdmissionDeps {
  readonly config: Config;
  /** The queues: each runtime holds its pass store and revocation list. */
  readonly registry: QueueRegistry;
  readonly tokens: TicketTokens;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The gate's check of the client presenting a pass (internal/abuse/pass-holder.ts). */
  readonly checkClient?: (claims: PassClaims, req: IncomingMessage) => void;
  /** The network a claimed pass is bound to, or undefined (PASS_BIND_PREFIX off). */
  readonly claimNetwork?: (req: IncomingMessage) => string | undefined;
}

/**
 * The admission feature of one replica, wired from Config: keys (reloaded),
 * signer and verifier, revocation set, the claim/done service, and its routes.
 * Constructing it reads the keys and throws if none is usable; start() begins
 * key reloads and revocation sync; close() is idempotent.
 */
export class Admission {
  readonly ring: KeyRing;
  readonly service: AdmissionService;
  readonly router: Router;
  readonly hotRoutes: Readonly<Record<string, HotRoute>>;
  readonly metrics: AdmissionMetrics;
  private closed: Promise<void> | undefined;
  private readonly startupNotes: Array<() => void> = [];

  constructor(d: AdmissionDeps) {
    const c = d.config;
    const log = d.logger.child({ component: 'admission' });
    let dir = c.passKeysDir;
    if (!dir) {
      // Config refuses this in production; elsewhere a shared dev key keeps passes valid across restarts.
      dir = DEV_KEYS_DIR;
      const created = ensureDevKey(dir);
      const devDir = dir;
      this.startupNotes.push(() =>
        log.warn(
          { dir: devDir, created: created ?? null },
          'PASS_KEYS_DIR is not set: passes are signed with a generated development key; configure real keys before production',
        ),
      );
    }
    // The gauges read the ring and the revocation sets lazily, at scrape time.
    this.metrics = new AdmissionMetrics(d.metrics.registry, {
      keys: () => this.ring.keys().length,
      revoked: () => d.registry.list().reduce((n, r) => n + r.revocations.size(), 0),
    });
    this.ring = new KeyRing({ dir, reloadMs: c.passKeysReloadMs, logger: log, onReloadError: () => this.metrics.keyReloadErrors.inc() });
    const policy = { issuer: c.passIssuer, audience: c.passAudience, ttlSeconds: c.passTtlSeconds };
    const verifier = new PassVerifier(this.ring, policy, c.passVerifyCacheSize);
    const admissionQueue = (r: ReturnType<QueueRegistry['require']>) => ({
      service: r.service,
      passStore: r.passStore,
      revocations: r.revocations,
      targetUrl: r.doc.targetUrl,
    });
    this.service = new AdmissionService({
      tokens: d.tokens,
      forTicket: (id) => admissionQueue(d.registry.forTicket(id)),
      byId: (id) => admissionQueue(d.registry.require(id ?? c.queueId)),
      signer: new PassSigner(this.ring, policy),
      policy: c.passClaimPolicy,
      targetUrl: c.targetUrl,
      cookieName: c.passCookieName,
      onClaim: (r) => this.metrics.claims.inc({ result: r }),
      onDone: (o) => this.metrics.done.inc({ outcome: o }),
    });
    // Every /verify is a decision: counted once per event-loop turn, not hashed per request.
    const gateDecisions = new TurnCounter(this.metrics.gate);
    const gate = createGate({
      verifier,
      revocations: (id) => d.registry.get(id)?.revocations,
      cookieName: c.passCookieName,
      headerName: c.passHeader,
      waitingPageUrl: c.waitingPageUrl,
      onDecision: (r) => gateDecisions.inc(r, () => ({ result: r })),
      ...(d.checkClient ? { checkClient: d.checkClient } : {}),
    });
    this.hotRoutes = admissionHotRoutes({ gate });
    this.router = admissionRouter({
      service: this.service,
      ring: this.ring,
      siteKeys: new SiteKeys(c.siteApiKeys),
      gate,
      revocationFeed: new RevocationFeed({ ring: this.ring, revocations: (id) => d.registry.get(id)?.revocations, issuer: c.passIssuer }),
      queueId: c.queueId,
      cookie: { name: c.passCookieName, domain: c.passCookieDomain, secure: c.passCookieSecure },
      jwksMaxAgeSeconds: c.passJwksMaxAgeSeconds,
      ...(d.claimNetwork ? { claimNetwork: d.claimNetwork } : {}),
    });
  }

  /** Starts key reloads and revocation sync; never throws for an unreachable Redis. */
  async start(): Promise<void> {
    for (const note of this.startupNotes.splice(0)) note();
    this.ring.start();
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.ring.close();
    })();
    return this.closed;
  }
}
