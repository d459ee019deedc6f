import type { Logger } from 'pino';
import type { PassStats, PassStore } from '../store/pass-store';
import { LiveSync } from '../sync/live-sync';

export interface RevocationListOptions {
  readonly store: PassStore;
  /** Full re-read period (STATE_RESYNC_MS); covers messages lost while the subscription was down. */
  readonly refreshMs: number;
  /** Shortest time between two re-reads asked for by the change log (PASS_REVOCATION_REFRESH_MS). */
  readonly minRereadMs?: number;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Called for every revocation message (a place on the site freed): wakes a capped queue's ticker. */
  readonly onRevoked?: () => void;
}

/**
 * Each replica's in-memory set of passes marked done, so the gate checks
 * revocation with a Map lookup instead of a Redis call. Revocations arrive by
 * pub/sub within milliseconds (pass-done.lua publishes them), and a pass-sweep.lua
 * read replaces the whole set (it also retires expired passes, which keeps the
 * counters current): when the change log lists the queue (refreshSoon, at most every
 * minRereadMs), and every refreshMs as the fallback. The set only holds unexpired passes marked
 * done, so it is at most the number of sessions ended within one PASS_TTL.
 *
 * If Redis is unreachable the last known set stays in use: the gate keeps
 * admitting valid passes (the protected site stays up) and the failure is logged
 * and counted; a pass marked done during the outage is refused once Redis is back.
 */
export class RevocationList {
  private revoked = new Map<string, number>();
  private confirmedAt = -Infinity;
  private changes = 0;
  private stats: PassStats | undefined;
  private readonly now: () => number;
  private readonly sync: LiveSync;
  private soonTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: RevocationListOptions) {
    this.now = o.now ?? Date.now;
    this.sync = new LiveSync({
      subscribe: () =>
        o.store.subscribeRevocations((jti, expMs) => {
          this.add(jti, expMs);
          o.onRevoked?.();
        }),
      read: () => this.read(),
      refreshMs: o.refreshMs,
      logger: o.logger,
      what: 'revoked passes',
      spread: true,
    });
  }

  start(): Promise<void> {
    return this.sync.start();
  }

  /** One full read now; concurrent calls share it. */
  refresh(): Promise<void> {
    return this.sync.refresh();
  }

  /**
   * The change log listed this queue (a revocation, or any other change): re-read now, or as
   * soon as minRereadMs has passed since the last read, so a busy queue's revocations cost at
   * most one read per period while a quiet queue's cost none.
   */
  refreshSoon(): void {
    if (this.closed || this.soonTimer) return;
    const wait = (this.o.minRereadMs ?? 0) - this.ageMs();
    if (wait <= 0) {
      void this.refresh();
      return;
    }
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      void this.refresh();
    }, wait);
  }

  private async read(): Promise<void> {
    const r = await this.o.store.sweep(true);
    const next = new Map<string, number>(r.revoked);
    // A revocation published while the sweep was in flight is in Redis too, unless it
    // landed after the read; keep local entries the read did not know yet.
    for (const [jti, exp] of this.revoked) if (!next.has(jti) && exp > r.storeNowMs) next.set(jti, exp);
    this.revoked = next;
    this.stats = r.stats;
    this.confirmedAt = this.now();
    this.changes++;
  }

  /** The pass counters of the last full read (the sweep returns them at no extra cost), for the console's list. */
  lastStats(): PassStats | undefined {
    return this.stats;
  }

  add(jti: string, expMs: number): void {
    this.revoked.set(jti, expMs);
    this.changes++;
  }

  /** Grows whenever the set may have changed, so a derived copy knows when to be rebuilt. */
  version(): number {
    return this.changes;
  }

  /** The revoked pass ids that have not expired at nowMs (what the signed list publishes). */
  unexpired(nowMs: number = this.now()): string[] {
    const out: string[] = [];
    for (const [jti, expMs] of this.revoked) if (expMs > nowMs) out.push(jti);
    return out;
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

  close(): Promise<void> {
    this.closed = true;
    if (this.soonTimer) clearTimeout(this.soonTimer);
    this.soonTimer = undefined;
    return this.sync.close();
  }
}
