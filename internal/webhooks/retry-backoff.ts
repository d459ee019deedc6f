/**
 * When to try a failed webhook delivery again: exponential backoff with "full jitter"
 * (a uniform draw between half the step and the full step, so retries of many
 * deliveries that failed together spread out instead of arriving together).
 *
 * attempt 1 failed -> wait ~base, attempt 2 -> ~2*base, ... capped at maxMs. With the
 * defaults (5 s base, 1 h cap) the delays are 5 s, 10 s, 20 s, ... 34 min, then 1 h, so
 * a day holds about 30 attempts. Pure: the random draw is passed in (0 <= random < 1).
 */
export interface BackoffSettings {
  readonly baseMs: number;
  readonly maxMs: number;
  /** Retried until this long after the event; then the delivery is failed. */
  readonly retryForMs: number;
}

export function retryDelayMs(failedAttempts: number, s: BackoffSettings, random: number): number {
  const n = Math.max(1, Math.floor(failedAttempts));
  // 2^30 * base already exceeds any sane cap; stop doubling there to stay finite.
  const step = Math.min(s.maxMs, s.baseMs * 2 ** Math.min(n - 1, 30));
  const r = Math.min(Math.max(random, 0), 1);
  return Math.max(1, Math.round(step / 2 + (step / 2) * r));
}

/** The next attempt's time, or null when the delivery must be marked failed (past retryForMs). */
export function nextAttemptAt(failedAttempts: number, nowMs: number, eventMs: number, s: BackoffSettings, random: number): number | null {
  const at = nowMs + retryDelayMs(failedAttempts, s, random);
  return at - eventMs > s.retryForMs ? null : at;
}
