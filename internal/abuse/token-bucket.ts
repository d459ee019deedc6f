/** A join limit: a client may take `burst` places at once, then `ratePerSecond` more each second. */
export interface BucketLimits {
  /** Bucket size: joins allowed at once from one client address; 0 turns the limit off. */
  readonly burst: number;
  /** Refill rate: sustained joins per second from one client address. */
  readonly ratePerSecond: number;
}

export interface BucketState {
  readonly tokens: number;
  /** When `tokens` was computed, ms. */
  readonly ts: number;
}

export interface LimitVerdict {
  readonly allowed: boolean;
  /** Whole tokens left after this request. */
  readonly remaining: number;
  /** 0 when allowed; else ms until one token is back. */
  readonly retryAfterMs: number;
  /** Ms until the bucket is full again. */
  readonly fullInMs: number;
}

/** The join-limit token one join takes, from the bucket of its client address. */
export interface BucketTake {
  readonly client: string;
  readonly limits: BucketLimits;
}

/**
 * A join whose token was refused in the ticket's own script (join.lua takes the token and
 * the ticket in one step): no ticket was issued. Not an HTTP error: the join gate that asked
 * for the take turns its verdict into the 429 (internal/abuse/join-limiter.ts).
 */
export class JoinLimitRefusal extends Error {
  override readonly name = 'JoinLimitRefusal';
  constructor(readonly verdict: LimitVerdict) {
    super('the join limit refused this join');
  }
}

function finite(x: number | undefined): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/**
 * One request against a token bucket, exactly as
 * internal/store/lua/rate-limit.lua computes it (the embedded store uses this, and
 * test/unit/token-bucket.test.ts checks the boundaries). A missing or unreadable state is
 * a full bucket. Pure: the clock is passed in.
 */
export function takeToken(prev: BucketState | undefined, limits: BucketLimits, nowMs: number): { verdict: LimitVerdict; next: BucketState } {
  const { burst, ratePerSecond: rate } = limits;
  let tokens = prev?.tokens;
  let ts = prev?.ts;
  if (!finite(tokens) || tokens < 0 || tokens > burst || !finite(ts) || ts > nowMs) {
    tokens = burst;
    ts = nowMs;
  }
  tokens = Math.min(burst, tokens + ((nowMs - ts) * rate) / 1000);
  let allowed = false;
  let retryAfterMs = 0;
  if (tokens >= 1) {
    tokens -= 1;
    allowed = true;
  } else {
    retryAfterMs = Math.ceil(((1 - tokens) * 1000) / rate);
  }
  const fullInMs = Math.ceil(((burst - tokens) * 1000) / rate);
  return { verdict: { allowed, remaining: Math.floor(tokens), retryAfterMs, fullInMs }, next: { tokens, ts: nowMs } };
}
