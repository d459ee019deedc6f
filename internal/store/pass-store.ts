import type { Logger } from 'pino';
import { queueKeys, type QueueKeys } from './keys';
import type { RedisQueueStore } from './redis-store';
import type { Subscription } from './store';

/** Counters for capacity reports (docs/admission.md, "Counting"). */
export interface PassStats {
  /** Passes issued (one per claimed ticket). */
  readonly claimed: number;
  /** Passes the site reported done with outcome "completed". */
  readonly completed: number;
  /** Passes the site reported "abandoned", plus those that expired unreported. */
  readonly abandoned: number;
  /** The part of `abandoned` that expired without a report. */
  readonly timedOut: number;
  /** Passes issued, unexpired and not done: visitors presumably on the site now. */
  readonly active: number;
}

export interface SweepResult {
  readonly stats: PassStats;
  /** Redis TIME when the sweep ran, ms since the Unix epoch. */
  readonly storeNowMs: number;
  /** Revoked, unexpired passes: jti and exp in ms (empty unless asked for). */
  readonly revoked: ReadonlyArray<readonly [string, number]>;
}

/**
 * refused: claimed before under the "refuse" policy; full: the queue's cap is reached and this
 * ticket's claim window had closed, so it would take a new place (claim-pass.lua); skipped: the
 * ticket was marked gone when its turn came, and the window passed it (docs/system.md, "No-shows").
 */
export type ClaimOutcome = { readonly outcome: 'issued' | 'same'; readonly pass: string } | { readonly outcome: 'refused' }
  | { readonly outcome: 'full' } | { readonly outcome: 'skipped' };
export type DoneOutcome = { readonly outcome: 'done' | 'already_done'; readonly expMs: number } | { readonly outcome: 'unknown' };

/** What the store knows of one ticket's pass (the console's ticket lookup). */
export interface PassRecord {
  /** Whether a claim is on record; claims are kept for the ticket's remaining lifetime only. */
  readonly claimed: boolean;
  readonly jti: string | null;
  /** The pass's exp, ms since the Unix epoch. */
  readonly expMs: number | null;
  /** Issued, not done and not yet swept. */
  readonly live: boolean;
  /** Reported done by the site (completed or abandoned), so refused by the gate until it expires. */
  readonly revoked: boolean;
}

const NO_PASS: PassRecord = Object.freeze({ claimed: false, jti: null, expMs: null, live: false, revoked: false });

/** jti and exp (ms) read from a stored pass (a compact JWT this service signed); nulls if unreadable. */
export function passIdentity(token: string): { jti: string | null; expMs: number | null } {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { jti?: unknown; exp?: unknown };
    return {
      jti: typeof payload.jti === 'string' ? payload.jti : null,
      expMs: typeof payload.exp === 'number' && Number.isFinite(payload.exp) ? payload.exp * 1000 : null,
    };
  } catch {
    return { jti: null, expMs: null };
  }
}

/** The shared state behind passes: one claim per ticket, revocations, counters. */
export interface PassStore {
  /** The pass claimed for a ticket of `epoch`, if its claim is still on record (read only). */
  lookup(epoch: string, ticket: number): Promise<PassRecord>;
  claim(epoch: string, ticket: number, pass: { jti: string; token: string; expMs: number }, claimTtlMs: number, policy: 'same' | 'refuse'): Promise<ClaimOutcome>;
  done(jti: string, outcome: 'completed' | 'abandoned'): Promise<DoneOutcome>;
  sweep(withRevoked: boolean): Promise<SweepResult>;
  /** Delivers every revocation announced by pass-done.lua, from any replica. */
  subscribeRevocations(onRevoked: (jti: string, expMs: number) => void): Promise<Subscription>;
}

/**
 * Passes on the queue's Redis, with the same client (and so the same error
 * mapping and script registration) as the queue store. Keys: internal/store/keys.ts;
 * scripts: claim-pass.lua, pass-done.lua, pass-sweep.lua.
 */
export class RedisPassStore implements PassStore {
  private readonly keys: QueueKeys;

  constructor(
    private readonly store: RedisQueueStore,
    private readonly logger: Logger,
  ) {
    this.keys = queueKeys(store.queueId);
  }

  async claim(epoch: string, ticket: number, pass: { jti: string; token: string; expMs: number }, claimTtlMs: number, policy: 'same' | 'refuse'): Promise<ClaimOutcome> {
    const k = this.keys;
    const r = await this.store.call('claimPass', () =>
      this.store.redis.claimPass(
        k.passClaim(epoch, ticket), k.passes, k.passStats, k.eventStream, k.state, k.occupancy, k.claimedTickets, k.gone(epoch),
        pass.jti, pass.token, pass.expMs, Math.max(1, Math.ceil(claimTtlMs)), policy,
        this.store.eventStreamMaxLength, this.store.queueId, epoch, ticket,
      ),
    );
    const code = Number(r[0]);
    if (code === 1) return { outcome: 'issued', pass: String(r[1]) };
    if (code === 2) return { outcome: 'same', pass: String(r[1]) };
    if (code === 0) return { outcome: 'refused' };
    if (code === 3) return { outcome: 'full' };
    if (code === 4) return { outcome: 'skipped' };
    throw new Error(`claim-pass.lua returned unknown code ${String(r[0])}`);
  }

  async lookup(epoch: string, ticket: number): Promise<PassRecord> {
    const k = this.keys;
    const token = await this.store.call('passLookup', () => this.store.redis.get(k.passClaim(epoch, ticket)));
    if (token === null) return NO_PASS;
    const { jti, expMs } = passIdentity(token);
    if (jti === null) return { ...NO_PASS, claimed: true, expMs };
    // Two reads of one slot, no write: a pass that changes in between shows either state, both true once.
    const [live, revoked] = await this.store.call('passLookup', () =>
      Promise.all([this.store.redis.zScore(k.passes, jti), this.store.redis.zScore(k.revokedPasses, jti)]),
    );
    return { claimed: true, jti, expMs, live: live !== null, revoked: revoked !== null };
  }

  async done(jti: string, outcome: 'completed' | 'abandoned'): Promise<DoneOutcome> {
    const k = this.keys;
    const r = await this.store.call('passDone', () => this.store.redis.passDone(k.passes, k.revokedPasses, k.passStats, k.eventStream, jti, outcome, k.passRevocations, this.store.eventStreamMaxLength, this.store.queueId));
    const code = Number(r[0]);
    if (code === 1) this.store.noteChanged();
    if (code === 1) return { outcome: 'done', expMs: Number(r[1]) };
    if (code === 2) return { outcome: 'already_done', expMs: Number(r[1]) };
    if (code === 0) return { outcome: 'unknown' };
    throw new Error(`pass-done.lua returned unknown code ${String(r[0])}`);
  }

  async sweep(withRevoked: boolean): Promise<SweepResult> {
    const k = this.keys;
    const r = await this.store.call('passSweep', () => this.store.redis.passSweep(k.passes, k.revokedPasses, k.passStats, k.eventStream, withRevoked ? '1' : '0', this.store.eventStreamMaxLength, this.store.queueId));
    const revoked: Array<readonly [string, number]> = [];
    for (let i = 6; i + 1 < r.length; i += 2) revoked.push([String(r[i]), Number(r[i + 1])]);
    return {
      stats: { claimed: Number(r[0]), completed: Number(r[1]), abandoned: Number(r[2]), timedOut: Number(r[3]), active: Number(r[4]) },
      storeNowMs: Number(r[5]),
      revoked,
    };
  }

  subscribeRevocations(onRevoked: (jti: string, expMs: number) => void): Promise<Subscription> {
    return this.store.subscribeChannel(this.keys.passRevocations, (message) => {
      const [jti, exp] = message.split(' ');
      const expMs = Number(exp);
      if (!jti || !Number.isFinite(expMs)) {
        this.logger.error({ message }, 'unreadable revocation message ignored');
        return;
      }
      onRevoked(jti, expMs);
    });
  }

}
