import type { AbuseStore, PassClientBatch } from '../abuse/abuse-store';
import type { BucketLimits, LimitVerdict } from '../abuse/token-bucket';
import { UnavailableError } from '../errors/errors';
import type { MemoryPassStore } from './memory-pass-store';
import type { MemoryQueueStore } from './memory-store';

/** Buckets, used challenges and pass client sets kept at most this many (oldest dropped first). */
const MAX_ENTRIES = 100_000;

/**
 * The embedded counterpart of RedisAbuseStore, on the queue store's clock: the same
 * token bucket (takeToken, as rate-limit.lua), SET NX PX for used challenges, and an
 * exact set of clients per pass where Redis keeps a HyperLogLog.
 */
export class MemoryAbuseStore implements AbuseStore {
  private readonly used = new Map<string, number>();
  private readonly passClients = new Map<string, { clients: Set<string>; untilMs: number }>();

  constructor(
    private readonly queue: MemoryQueueStore,
    private readonly passes: MemoryPassStore,
  ) {}

  private now(): number {
    if (!this.queue.isReady()) throw new UnavailableError('store_unavailable', 'the embedded store is closed', 1);
    return this.queue.clock();
  }

  private static bound<V>(m: Map<string, V>, now: number, until: (v: V) => number): void {
    if (m.size < MAX_ENTRIES) return;
    for (const [k, v] of m) if (until(v) <= now) m.delete(k);
    while (m.size >= MAX_ENTRIES) m.delete(m.keys().next().value as string);
  }

  async takeJoinToken(client: string, limits: BucketLimits): Promise<LimitVerdict> {
    // The queue store keeps the buckets: its issueTickets takes from the same ones (join.lua).
    return this.queue.takeJoinTokens([client], limits, this.now())[0]!;
  }

  async useChallenge(id: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const until = this.used.get(id);
    if (until !== undefined && until > now) return false;
    MemoryAbuseStore.bound(this.used, now, (u) => u);
    this.used.set(id, now + Math.max(1, Math.ceil(ttlMs)));
    return true;
  }

  async notePassClients(batch: readonly PassClientBatch[], maxClients: number, windowMs: number): Promise<string[]> {
    const now = this.now();
    const revoked: string[] = [];
    for (const b of batch) {
      let e = this.passClients.get(b.jti);
      if (!e || e.untilMs <= now) {
        MemoryAbuseStore.bound(this.passClients, now, (v) => v.untilMs);
        e = { clients: new Set(), untilMs: now + windowMs };
        this.passClients.set(b.jti, e);
      }
      for (const c of b.clients) e.clients.add(c);
      if (e.clients.size > maxClients && this.passes.revokeShared(b.jti)) {
        this.passClients.delete(b.jti);
        revoked.push(b.jti);
      }
    }
    return revoked;
  }
}
