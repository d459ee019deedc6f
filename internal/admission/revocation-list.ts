import type { Logger } from 'pino';
import type { PassStore } from '../store/pass-store';
import type { Subscription } from '../store/store';

export interface RevocationListOptions {
  readonly store: PassStore;
  /** Full re-read period; covers messages lost while the subscription was down. */
  readonly refreshMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

/**
 * Each replica's in-memory set of passes marked done, so the gate checks
 * revocation with a Map lookup instead of a Redis call. Revocations arrive by
 * pub/sub within milliseconds (pass-done.lua publishes them) and a periodic
 * pass-sweep.lua read replaces the whole set (it also retires expired passes,
 * which keeps the counters current). The set only holds unexpired passes marked
 * done, so it is at most the number of sessions ended within one PASS_TTL.
 *
 * If Redis is unreachable the last known set stays in use: the gate keeps
 * admitting valid passes (the protected site stays up) and the failure is logged
 * and counted; a pass marked done during the outage is refused once Redis is back.
 */
export class RevocationList {
  private revoked = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sub: Subscription | undefined;
  private subscribing: Promise<void> | undefined;
  private refreshing: Promise<void> | undefined;
  private confirmedAt = -Infinity;
  private readonly now: () => number;
  private closed = false;
  private started = false;

  constructor(private readonly o: RevocationListOptions) {
    this.now = o.now ?? Date.now;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.timer = setInterval(() => void this.refresh(), this.o.refreshMs);
    await Promise.all([this.trySubscribe(), this.refresh()]);
  }

  /** Subscribes once; a call while a subscription is being set up joins it instead of opening a second one. */
  private trySubscribe(): Promise<void> {
    if (this.sub || this.closed) return Promise.resolve();
    this.subscribing ??= (async () => {
      try {
        const sub = await this.o.store.subscribeRevocations((jti, expMs) => this.add(jti, expMs));
        if (this.closed) await sub.close();
        else this.sub = sub;
      } catch (err) {
        this.o.logger.warn({ err: (err as Error).message }, 'revocation subscription failed; will retry');
      } finally {
        this.subscribing = undefined;
      }
    })();
    return this.subscribing;
  }


  /** One full read; concurrent calls share it. */
  refresh(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.refreshing ??= (async () => {
      try {
        const r = await this.o.store.sweep(true);
        const next = new Map<string, number>(r.revoked);
        // A revocation published while the sweep was in flight is in Redis too, unless it
        // landed after the read; keep local entries the read did not know yet.
        for (const [jti, exp] of this.revoked) if (!next.has(jti) && exp > r.storeNowMs) next.set(jti, exp);
        this.revoked = next;
        this.confirmedAt = this.now();
        if (!this.sub) void this.trySubscribe();
      } catch (err) {
        this.o.logger.warn({ err: (err as Error).message }, 'revoked passes not refreshed; using the last known set');
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  add(jti: string, expMs: number): void {
    this.revoked.set(jti, expMs);
  }

  isRevoked(jti: string): boolean {
    return this.revoked.has(jti);
  }

  size(): number {
    return this.revoked.size;
  }

  /** Milliseconds since the set was last read in full from Redis. */
  ageMs(): number {
    return this.now() - this.confirmedAt;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.refreshing;
    // A subscription still being set up closes itself when it sees `closed`.
    await this.subscribing;
    const sub = this.sub;
    this.sub = undefined;
    if (sub) await sub.close();
  }
}
