import type { BucketLimits, LimitVerdict } from './token-bucket';

/** New (pass, client) pairs one gate saw since its last flush, grouped by pass. */
export interface PassClientBatch {
  readonly jti: string;
  readonly clients: readonly string[];
}

/**
 * The shared state behind the abuse limits: join buckets, used challenges and the
 * distinct clients of each pass. RedisAbuseStore keeps it in the queue's Redis (so
 * every replica sees one limit per client); MemoryAbuseStore beside the embedded store.
 */
export interface AbuseStore {
  /** Takes one join token from the client's bucket (rate-limit.lua). */
  takeJoinToken(client: string, limits: BucketLimits): Promise<LimitVerdict>;
  /** Records a solved challenge id; false if it was already used (a replay). */
  useChallenge(id: string, ttlMs: number): Promise<boolean>;
  /**
   * Adds the pairs to each pass's distinct-client count and revokes (and announces)
   * every pass now above `maxClients`; returns the jtis revoked (pass-clients.lua).
   */
  notePassClients(batch: readonly PassClientBatch[], maxClients: number, windowMs: number): Promise<string[]>;
}
