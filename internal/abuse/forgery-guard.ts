/** Error codes that mean a token was forged or tampered with (not merely expired or missing). */
export const FORGERY_CODES: ReadonlySet<string> = new Set(['invalid_token', 'pass_invalid']);

export interface ForgeryGuardOptions {
  /** Forged tokens allowed per client per minute; 0 turns the guard off. */
  readonly limit: number;
  readonly blockMs: number;
  /** Clients tracked at most (a flood of spoofed-looking addresses cannot grow it without bound). */
  readonly maxClients?: number;
}

/** Counting window: a minute, so the limit reads as "per minute". */
const WINDOW_MS = 60_000;

/**
 * "Deal with a cheater with the full severity of HTTP": a client address that
 * presents more than `limit` forged or tampered tokens within a minute is refused
 * on every route for `blockMs`. Per replica, in memory (no Redis call on any
 * path): a forger spread over N replicas gets N times the budget before each
 * blocks it, which still ends guessing at signatures. The clock is passed in.
 */
export class ForgeryGuard {
  private readonly seen = new Map<string, { since: number; count: number }>();
  private readonly blocked = new Map<string, number>();
  private readonly maxClients: number;

  constructor(private readonly o: ForgeryGuardOptions) {
    this.maxClients = o.maxClients ?? 50_000;
  }

  /** Ms the client stays blocked, or 0. */
  blockedFor(client: string, nowMs: number): number {
    if (this.blocked.size === 0) return 0;
    const until = this.blocked.get(client);
    if (until === undefined) return 0;
    if (until <= nowMs) {
      this.blocked.delete(client);
      return 0;
    }
    return until - nowMs;
  }

  /** Records a refusal with `code`; returns true when this one blocked the client. */
  note(client: string, code: string, nowMs: number): boolean {
    if (this.o.limit <= 0 || !FORGERY_CODES.has(code)) return false;
    let e = this.seen.get(client);
    if (!e || nowMs - e.since >= WINDOW_MS) {
      if (!e && this.seen.size >= this.maxClients) this.prune(nowMs);
      e = { since: nowMs, count: 0 };
      this.seen.set(client, e);
    }
    e.count++;
    if (e.count <= this.o.limit) return false;
    this.seen.delete(client);
    if (this.blocked.size >= this.maxClients) this.blocked.delete(this.blocked.keys().next().value as string);
    this.blocked.set(client, nowMs + this.o.blockMs);
    return true;
  }

  blockedCount(): number {
    return this.blocked.size;
  }

  private prune(nowMs: number): void {
    for (const [k, v] of this.seen) if (nowMs - v.since >= WINDOW_MS) this.seen.delete(k);
    while (this.seen.size >= this.maxClients) this.seen.delete(this.seen.keys().next().value as string);
  }
}
