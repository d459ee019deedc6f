import { UnavailableError } from '../errors/errors';
import { passIdentity, type ClaimOutcome, type DoneOutcome, type PassRecord, type PassStats, type PassStore, type SweepResult } from './pass-store';
import type { MemoryQueueStore } from './memory-store';
import type { Subscription } from './store';

/**
 * The embedded counterpart of RedisPassStore, for single-process runs without
 * REDIS_URL. Each method does what its Lua script does (claim-pass.lua,
 * pass-done.lua, pass-sweep.lua), step for step and on the queue store's
 * clock; test/store/pass-store-contract.test.ts runs one suite against both.
 */
export class MemoryPassStore implements PassStore {
  /** claim key "epoch:ticket" -> the pass and when the claim lapses. */
  private readonly claims = new Map<string, { pass: string; untilMs: number }>();
  /** Revoked passes: jti -> exp ms. */
  private readonly revoked = new Map<string, number>();
  private readonly counters = { claimed: 0, completed: 0, abandoned: 0, timedOut: 0 };
  private shared = 0;
  private readonly listeners = new Set<(jti: string, expMs: number) => void>();

  constructor(private readonly queue: MemoryQueueStore) {
    // The advance retires expired passes too (advance-window.lua): they count as sweep counts them.
    queue.data.onPassesTimedOut = (n) => {
      this.counters.abandoned += n;
      this.counters.timedOut += n;
    };
  }

  /** Live passes (jti -> exp ms), in the queue's data: the advance counts them as occupied places. */
  private get live(): Map<string, number> {
    return this.queue.data.passes;
  }

  private now(): number {
    // A closed queue store makes the pass store unavailable too, as one Redis would be.
    if (!this.queue.isReady()) throw new UnavailableError('store_unavailable', 'the embedded store is closed', 1);
    return this.queue.clock();
  }

  async claim(epoch: string, ticket: number, pass: { jti: string; token: string; expMs: number }, claimTtlMs: number, policy: 'same' | 'refuse'): Promise<ClaimOutcome> {
    const now = this.now();
    const key = `${epoch}:${ticket}`;
    const existing = this.claims.get(key);
    if (existing && existing.untilMs > now) {
      return policy === 'same' ? { outcome: 'same', pass: existing.pass } : { outcome: 'refused' };
    }
    // claim-pass.lua's occupancy step: a claim inside its open window moves its place to the
    // live passes; any other claim takes a new place, which a cap grants only while one is free.
    const cell = this.queue.data;
    const st = cell.state;
    const acc = cell.occupancy;
    // claim-pass.lua: a ticket whose turn was skipped while it was gone has no place to claim.
    const gone = cell.gone.get(epoch);
    if (st && st.epoch === epoch && ticket <= st.windowEnd && gone && gone.expiresAtMs > now && gone.tickets.has(ticket)) return { outcome: 'skipped' };
    const tracked = st !== undefined && acc !== undefined && st.epoch === epoch && acc.epoch === epoch;
    if (tracked && ticket >= acc.openFrom && ticket <= st.windowEnd && !acc.claimed.has(ticket)) {
      if (acc.pending < 1) throw new UnavailableError('state_corrupt', 'the occupancy count is damaged (a claim in an open window found none)', 5);
      acc.claimed.add(ticket);
      acc.pending -= 1;
    } else if (st && st.maxActive > 0 && st.mode !== 'passthrough') {
      let live = 0;
      for (const exp of this.live.values()) if (exp > now) live++;
      if (live + (tracked ? acc.pending : 0) >= st.maxActive) return { outcome: 'full' };
    }
    this.claims.set(key, { pass: pass.token, untilMs: now + Math.max(1, Math.ceil(claimTtlMs)) });
    this.live.set(pass.jti, pass.expMs);
    this.counters.claimed++;
    this.queue.appendEvent('pass.claimed', now, { queue: this.queue.queueId, jti: pass.jti, epoch, ticket, expMs: pass.expMs });
    return { outcome: 'issued', pass: pass.token };
  }

  async lookup(epoch: string, ticket: number): Promise<PassRecord> {
    const now = this.now();
    const c = this.claims.get(`${epoch}:${ticket}`);
    if (!c || c.untilMs <= now) return { claimed: false, jti: null, expMs: null, live: false, revoked: false };
    const { jti, expMs } = passIdentity(c.pass);
    return { claimed: true, jti, expMs, live: jti !== null && this.live.has(jti), revoked: jti !== null && this.revoked.has(jti) };
  }

  async done(jti: string, outcome: 'completed' | 'abandoned'): Promise<DoneOutcome> {
    const now = this.now();
    const exp = this.live.get(jti);
    if (exp === undefined) {
      const done = this.revoked.get(jti);
      return done === undefined ? { outcome: 'unknown' } : { outcome: 'already_done', expMs: done };
    }
    this.live.delete(jti);
    this.revoked.set(jti, exp);
    this.counters[outcome]++;
    // Delivered on a later turn, as a Redis pub/sub message would be.
    for (const l of this.listeners) setImmediate(() => l(jti, exp));
    this.queue.data.onChanged?.();
    const body = { queue: this.queue.queueId, jti, expMs: exp, reason: 'reported' };
    this.queue.appendEvent(`pass.${outcome}`, now, body);
    this.queue.appendEvent('pass.revoked', now, body);
    return { outcome: 'done', expMs: exp };
  }

  /**
   * Revokes a live pass found shared (pass-clients.lua's revoke step): counted under
   * "shared" and announced like a pass marked done. Returns false if it is not live.
   */
  revokeShared(jti: string): boolean {
    const exp = this.live.get(jti);
    if (exp === undefined || exp <= this.now()) return false;
    this.live.delete(jti);
    this.revoked.set(jti, exp);
    this.shared++;
    for (const l of this.listeners) setImmediate(() => l(jti, exp));
    this.queue.data.onChanged?.();
    return true;
  }

  /** Passes revoked for being shared (the "shared" field of pass-stats in Redis). */
  sharedCount(): number {
    return this.shared;
  }

  async sweep(withRevoked: boolean): Promise<SweepResult> {
    const now = this.now();
    // In pass-sweep.lua's order: by exp, then by jti (ZRANGE BYSCORE).
    const expired = [...this.live].filter(([, exp]) => exp <= now).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [jti, exp] of expired) {
      this.live.delete(jti);
      this.queue.appendEvent('pass.abandoned', now, { queue: this.queue.queueId, jti, expMs: exp, reason: 'timed_out' });
    }
    const timedOut = expired.length;
    this.counters.abandoned += timedOut;
    this.counters.timedOut += timedOut;
    for (const [jti, exp] of this.revoked) if (exp <= now) this.revoked.delete(jti);
    for (const [key, c] of this.claims) if (c.untilMs <= now) this.claims.delete(key);
    const stats: PassStats = { ...this.counters, active: this.live.size };
    return { stats, storeNowMs: now, revoked: withRevoked ? [...this.revoked].sort((a, b) => a[1] - b[1]) : [] };
  }

  async subscribeRevocations(onRevoked: (jti: string, expMs: number) => void): Promise<Subscription> {
    this.now();
    this.listeners.add(onRevoked);
    return {
      close: async () => {
        this.listeners.delete(onRevoked);
      },
    };
  }
}
