import { TooManyRequestsError } from '../errors/errors';
import type { AbuseStore } from './abuse-store';
import type { LimitsProvider } from './queue-limits';
import { rateLimitHeaders } from './rate-limit-headers';

/**
 * The per-client join limit of one queue: one rate-limit.lua call per join
 * (a token bucket per client address in the queue's Redis, so one client gets
 * one budget however many replicas it spreads its joins over). Returns the
 * RateLimit headers for the reply; throws 429 too_many_requests with
 * Retry-After when the client's bucket is empty.
 */
export class JoinLimiter {
  constructor(
    private readonly store: AbuseStore,
    private readonly limits: LimitsProvider,
    private readonly onRefused?: (queueId: string) => void,
  ) {}

  async take(queueId: string, client: string): Promise<Record<string, string>> {
    const l = this.limits.limitsFor(queueId).join;
    if (l.burst <= 0) return {};
    const v = await this.store.takeJoinToken(client, l);
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
