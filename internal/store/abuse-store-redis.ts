import type { AbuseStore, PassClientBatch } from '../abuse/abuse-store';
import { BucketBatcher } from '../abuse/bucket-batcher';
import type { BucketLimits, LimitVerdict } from '../abuse/token-bucket';
import { queueKeys, type QueueKeys } from './keys';
import { parseVerdicts, type RedisQueueStore } from './redis-store';

/**
 * The abuse limits' state on the queue's Redis, with the queue store's client
 * (same error mapping, same script registration). Keys: internal/store/keys.ts;
 * scripts: rate-limit.lua, pass-clients.lua. Every key carries the queue's hash
 * tag, so in a Redis Cluster a pass's HyperLogLog sits in the slot of its zsets.
 */
export class RedisAbuseStore implements AbuseStore {
  private readonly keys: QueueKeys;
  /** Joins of one event-loop turn share one rate-limit.lua call. */
  private readonly buckets = new BucketBatcher((clients, limits) => this.takeBatch(clients, limits));

  constructor(private readonly store: RedisQueueStore) {
    this.keys = queueKeys(store.queueId);
  }

  takeJoinToken(client: string, limits: BucketLimits): Promise<LimitVerdict> {
    return this.buckets.take(client, limits);
  }

  private async takeBatch(clients: readonly string[], limits: BucketLimits): Promise<LimitVerdict[]> {
    const keys = clients.map((c) => this.keys.joinLimit(c));
    const r = await this.store.call('rateLimit', () => this.store.redis.rateLimit(keys, limits.burst, limits.ratePerSecond));
    return parseVerdicts(r, 0, clients.length);
  }

  async useChallenge(id: string, ttlMs: number): Promise<boolean> {
    const r = await this.store.call('useChallenge', () =>
      this.store.redis.set(this.keys.challengeUsed(id), '1', { condition: 'NX', expiration: { type: 'PX', value: Math.max(1, Math.ceil(ttlMs)) } }),
    );
    return r === 'OK';
  }

  async notePassClients(batch: readonly PassClientBatch[], maxClients: number, windowMs: number): Promise<string[]> {
    if (batch.length === 0) return [];
    const k = this.keys;
    const keys = [k.passes, k.revokedPasses, k.passStats, ...batch.map((b) => k.passClients(b.jti))];
    const args: Array<string | number> = [k.passRevocations, maxClients, Math.max(1, Math.ceil(windowMs)), batch.length];
    for (const b of batch) args.push(b.jti, b.clients.length, ...b.clients);
    const r = await this.store.call('passClients', () => this.store.redis.passClients(keys, args));
    // Each id returned is a pass revoked for sharing (pass-clients.lua published it).
    if (r.length > 0) this.store.noteChanged();
    return r.map(String);
  }
}
