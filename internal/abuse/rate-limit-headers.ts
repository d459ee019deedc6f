import type { BucketLimits, LimitVerdict } from './token-bucket';

/**
 * The IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers-08, the form
 * express-rate-limit emits with standardHeaders: 'draft-8') for a token bucket:
 * the quota q is the burst, its window w the seconds a spent bucket takes to
 * refill; r is what is left and t the seconds until the bucket is full again.
 */
export function rateLimitHeaders(name: string, limits: BucketLimits, v: LimitVerdict): Record<string, string> {
  const w = Math.max(1, Math.ceil(limits.burst / limits.ratePerSecond));
  const h: Record<string, string> = {
    'RateLimit-Policy': `"${name}"; q=${limits.burst}; w=${w}`,
    RateLimit: `"${name}"; r=${v.remaining}; t=${Math.ceil(v.fullInMs / 1000)}`,
  };
  if (!v.allowed) h['Retry-After'] = String(Math.max(1, Math.ceil(v.retryAfterMs / 1000)));
  return h;
}
