import { TooManyRequestsError } from '../errors/errors';
import type { AbuseStore } from './abuse-store';
import type { LimitsProvider } from './queue-limits';
import { rateLimitHeaders } from './rate-limit-headers';
import type { BucketLimits, BucketTake, LimitVerdict } from './token-bucket';

/** A join's limit token, taken later in the ticket's own store call, and what its verdict means for the reply. */
export interface DeferredTake {
  readonly take: BucketTake;
  /** The RateLimit headers of an allowed join; throws 429 too_many_requests for a refused one. */
  settle(v: LimitVerdict): Record<string, string>;
}

/**
 * The per-client join limit of one queue: a token bucket per client address in
 * the queue's Redis, so one client gets one budget however many replicas it
 * spreads its joins over. A join that needs no challenge takes its token in
 * join.lua with its ticket (deferred: one round trip for both); a join that must
 * show a solved challenge takes it first, in rate-limit.lua (take), so that a
 * flood cannot make the replica check proofs of work. Both take from the same
 * buckets (lib/token-bucket.lua). A refused join is answered 429 with Retry-After.
 */
export class JoinLimiter {
  constructor(
    private readonly store: AbuseStore,
    private readonly limits: LimitsProvider,
    private readonly onRefused?: (queueId: string) => void,
  ) {}

  /** Takes the token now (rate-limit.lua); returns the RateLimit headers or throws 429. */
  async take(queueId: string, client: string): Promise<Record<string, string>> {
    const l = this.limits.limitsFor(queueId).join;
    if (l.burst <= 0) return {};
    return this.settle(queueId, l, await this.store.takeJoinToken(client, l));
  }

  /** The take for join.lua to make with the ticket; undefined while the queue's limit is off. */
  deferred(queueId: string, client: string): DeferredTake | undefined {
    const l = this.limits.limitsFor(queueId).join;
    if (l.burst <= 0) return undefined;
    return { take: { client, limits: l }, settle: (v) => this.settle(queueId, l, v) };
  }

  private settle(queueId: string, l: BucketLimits, v: LimitVerdict): Record<string, string> {
    const headers = rateLimitHeaders('join', l, v);
    if (v.allowed) return headers;
    this.onRefused?.(queueId);
    const retry = Math.max(1, Math.ceil(v.retryAfterMs / 1000));
    throw new TooManyRequestsError(
      `too many joins from this address: at most ${l.burst} at once and ${l.ratePerSecond} per second after that; retry in ${retry} s`,
      retry,
      'too_many_requests',
      headers,
    );
  }
}
