import { JoinLimitRefusal, type BucketTake, type LimitVerdict } from '../abuse/token-bucket';
import { ForbiddenError, QueueResetError, UnavailableError } from '../errors/errors';
import { pollAfterMs, viewTicket, type TicketView, type WindowView } from '../queue/arithmetic';
import type { QueueMode, QueueSnapshot } from '../queue/queue-state';
import type { QueueStore } from '../store/store';
import type { QueueStateCache } from '../queue/state-cache';
import type { TicketClaims, TicketTokens } from '../tokens/ticket-token';
import type { TicketBatcher } from './ticket-batcher';
import type { PublicWindow } from './visitor-schemas';

/** What a visitor sees of the queue itself, besides their ticket. */
export interface QueueNotice {
  /** open, paused, passthrough or closed. */
  readonly state: QueueMode;
  /** The operator's broadcast message, or null. */
  readonly message: string | null;
  /** ISO time a pre-queue opens at, or null. */
  readonly opensAt: string | null;
  /** True while admissions are held because the site is unhealthy: "the site is busy, your place is kept". */
  readonly siteBusy: boolean;
}

export interface JoinResult extends TicketView, QueueNotice {
  /** The join-limit verdict, when its token was taken with the ticket (join(take)). */
  readonly limit?: LimitVerdict;
  readonly token: string;
  readonly queue: string;
  readonly ticket: number;
  readonly windowEnd: number;
  readonly expiresAt: number;
}

/** POST /leave: whether the ticket is now marked gone, and its status. */
export interface LeaveResult {
  readonly queue: string;
  readonly ticket: number;
  /** True when the ticket is marked gone (now or before); false when its turn had come (nothing to leave). */
  readonly left: boolean;
}

export interface StatusResult extends TicketView, QueueNotice {
  readonly queue: string;
  readonly ticket: number;
  readonly windowEnd: number;
  /** Suggested delay before the next poll, in seconds (also sent as Retry-After). */
  readonly pollAfterSeconds: number;
}

/** GET /window's body: its schema (visitor-schemas.ts) is what the OpenAPI document shows. */
export type { PublicWindow } from './visitor-schemas';

export interface QueueServiceDeps {
  readonly queueId: string;
  readonly cache: QueueStateCache;
  readonly tokens: TicketTokens;
  readonly batcher: TicketBatcher;
  /** The queue's descriptive settings now (the broadcast message, the config version, no-show compensation). */
  readonly describe?: () => { readonly message: string | null; readonly configVersion: number };
  /** The queue compensates no-shows now (its stored settings): the waiting ETA is an upper bound. */
  readonly compensating?: () => boolean;
  /** The store calls of leaving and coming back (docs/system.md, "No-shows"); absent: 503. */
  readonly store?: Pick<QueueStore, 'markGone' | 'unmarkGone'>;
  /** Told of every ticket marked gone now, and of every one that came back and kept its place (metrics). */
  readonly onPresence?: (change: 'left' | 'returned', count: number) => void;
  /**
   * The replica's copy of the tickets skipped while gone, in the ranges it saw admitted (absent:
   * none known): /status says "skipped" without a store call.
   */
  readonly wasSkipped?: (epoch: string, ticket: number) => boolean;
  /** A waiting ticket was heard from (a poll, a stream event): the presence sweep's last contact. */
  readonly onContact?: (epoch: string, ticket: number) => void;
  readonly onIssued?: (ticket: number, view: TicketView) => void;
  /** Admissions per second this replica measured (for the ETA estimate of a capped queue); 0 if unknown. */
  readonly admittedPerSecond?: () => number;
  /** A valid ticket above the counter the replica confirmed after it was issued (for metrics). */
  readonly onTicketAboveCounter?: () => void;
}

function windowOf(s: QueueSnapshot): WindowView {
  return s;
}

/**
 * The waiting room's use cases, independent of any HTTP framework: both the
 * Express app and the hot-path dispatcher call these.
 */
export class QueueService {
  constructor(private readonly d: QueueServiceDeps) {}

  get queueId(): string {
    return this.d.queueId;
  }

  /**
   * Issues a ticket (one INCR shared with concurrent joins) and signs it. With `take`, the
   * join's limit token is taken in the same store call: the result carries its verdict, and a
   * refused join rejects with JoinLimitRefusal (no ticket).
   */
  async join(take?: BucketTake): Promise<JoinResult> {
    let issued;
    try {
      issued = await this.d.batcher.issue(take);
    } catch (err) {
      if (!(err instanceof JoinLimitRefusal)) this.d.cache.noteStoreError(err);
      throw err;
    }
    const { ticket, snapshot } = issued;
    this.d.cache.apply(snapshot, 'join');
    const view = viewTicket(ticket, windowOf(snapshot), snapshot.storeNowMs, this.rate(snapshot), this.d.compensating?.() === true);
    const { token, claims } = this.d.tokens.sign(this.d.queueId, ticket, snapshot.epoch);
    this.d.onIssued?.(ticket, view);
    const notice = this.notice(snapshot);
    // Field by field rather than `...view`: this runs on every join.
    return {
      token,
      queue: this.d.queueId,
      ticket,
      windowEnd: snapshot.windowEnd,
      expiresAt: claims.exp,
      status: view.status,
      position: view.position,
      ahead: view.ahead,
      etaSeconds: view.etaSeconds,
      etaKind: view.etaKind,
      activeForSeconds: view.activeForSeconds,
      state: notice.state,
      message: notice.message,
      opensAt: notice.opensAt,
      siteBusy: notice.siteBusy,
      ...(issued.verdict ? { limit: issued.verdict } : {}),
    };
  }

  /** The measured rate, asked for only when the queue has a cap (the ETA of others is exact). */
  private rate(s: QueueSnapshot): number {
    return s.maxActive ? (this.d.admittedPerSecond?.() ?? 0) : 0;
  }

  /** The queue's state, message and opening time as visitors see them. */
  notice(s: QueueSnapshot): QueueNotice {
    return {
      state: s.mode,
      message: this.d.describe?.().message ?? null,
      opensAt: s.opensAtMs > 0 ? new Date(s.opensAtMs).toISOString() : null,
      siteBusy: s.originHold === 1,
    };
  }

  /** Config version of the queue's descriptive settings (0 when not known): part of SSE event ids. */
  configVersion(): number {
    return this.d.describe?.().configVersion ?? 0;
  }

  /** Verifies a ticket token and checks it belongs to this queue and its current epoch. */
  verifyTicket(token: string): TicketClaims {
    const claims = this.d.tokens.verify(token);
    if (claims.queue !== this.d.queueId) {
      throw new ForbiddenError('wrong_queue', `this ticket is for queue "${claims.queue}", not "${this.d.queueId}"`);
    }
    return claims;
  }

  /** Status by pure arithmetic over the cached window: no store call. */
  status(token: string): StatusResult {
    const claims = this.verifyTicket(token);
    return this.statusOf(claims);
  }

  /**
   * A valid ticket above the counter this replica holds. Usually the ticket is just newer
   * than the replica's copy (another replica issued it since the last read): it is noted as
   * seen, and the next read checks the store against it. But if the replica confirmed the
   * counter by a read sent after the ticket was issued (iat has whole seconds; the extra
   * second covers the rounding), the counter went backwards below a number a visitor holds:
   * 503 state_corrupt now, and a read at once, which starts a new epoch (then 409 queue_reset).
   */
  private aboveCounter(claims: TicketClaims): void {
    this.d.cache.witness(claims.ticket);
    if (this.d.cache.readSentAtMs() < (claims.iat + 1) * 1000) return;
    this.d.onTicketAboveCounter?.();
    void this.d.cache.refresh();
    throw new UnavailableError(
      'state_corrupt',
      `ticket ${claims.ticket} is above the queue's ticket counter (${this.d.cache.peek()?.counter}): the counter went backwards; the queue is being restarted`,
      1,
    );
  }

  /** The public window: everything a client needs to compute its own status from its ticket. */
  window(): PublicWindow {
    const s = this.d.cache.current();
    return {
      queue: this.d.queueId,
      epoch: s.epoch,
      windowEnd: s.windowEnd,
      windowSize: s.windowSize,
      activeWindowCount: s.activeWindowCount,
      intervalSeconds: s.intervalMs / 1000,
      // Whole milliseconds: the store clock offset makes the difference fractional.
      nextTickInMs: Math.max(0, Math.round(s.nextDueMs - this.d.cache.storeNow())),
      state: s.mode,
      opensAt: s.opensAtMs > 0 ? new Date(s.opensAtMs).toISOString() : null,
    };
  }

  /**
   * POST /leave, DELETE /status: a waiting visitor leaves the line (mark-gone.lua). Idempotent;
   * a ticket whose turn came is not marked (left: false). The bitmap lives as long as the ticket
   * could still be presented, plus K+1 intervals.
   */
  async leave(claims: TicketClaims): Promise<LeaveResult> {
    const st = this.statusOf(claims);
    const snap = this.d.cache.current();
    if (st.status !== 'waiting') return { queue: this.d.queueId, ticket: claims.ticket, left: false };
    const store = this.presenceStore();
    const lifetimeMs = Math.max(1000, claims.exp * 1000 - Date.now()) + (snap.activeWindowCount + 1) * snap.intervalMs;
    const r = await store.markGone(claims.epoch, [claims.ticket], lifetimeMs);
    if (r.outcome === 'reset') throw new QueueResetError();
    if (r.marked > 0) this.d.onPresence?.('left', r.marked);
    return { queue: this.d.queueId, ticket: claims.ticket, left: r.admitted === 0 };
  }

  /**
   * POST /stay: a visitor who left is back (unmark-gone.lua). Before its turn the ticket keeps its
   * place; after its turn was skipped the answer says so (status "skipped"). The body is /status's.
   */
  async stay(claims: TicketClaims): Promise<StatusResult> {
    this.statusOf(claims);
    const r = await this.presenceStore().unmarkGone(claims.epoch, claims.ticket);
    if (r.outcome === 'reset') throw new QueueResetError();
    if (r.outcome === 'unmarked') this.d.onPresence?.('returned', 1);
    const st = this.statusOf(claims);
    return r.outcome === 'skipped' ? skippedView(st) : st;
  }

  private presenceStore(): Pick<QueueStore, 'markGone' | 'unmarkGone'> {
    if (!this.d.store) throw new UnavailableError('store_unavailable', 'leaving the line is not available on this replica', 1);
    return this.d.store;
  }

  statusOf(claims: TicketClaims): StatusResult {
    const snap = this.d.cache.current();
    if (claims.epoch !== snap.epoch) {
      // An epoch this replica saw replaced is certainly reset. An epoch it never saw may
      // be newer: right after Redis lost the queue, the replica that re-created it issues
      // tickets of the new epoch while the others hold the old one for up to
      // STATE_REFRESH_MS. Unless this replica's last confirmed read is newer than the
      // token, re-read and ask the client to retry in a second (iat has whole seconds;
      // the extra second covers the rounding).
      if (!this.d.cache.wasReplaced(claims.epoch) && this.d.cache.confirmedAtMs() < (claims.iat + 1) * 1000) {
        void this.d.cache.refresh();
        throw new UnavailableError('not_ready', 'the queue state is being re-read; retry shortly', 1);
      }
      throw new QueueResetError();
    }
    if (claims.ticket > snap.counter) this.aboveCounter(claims);
    const now = this.d.cache.storeNow();
    const view = viewTicket(claims.ticket, windowOf(snap), now, this.rate(snap), this.d.compensating?.() === true);
    const notice = this.notice(snap);
    if (view.status !== 'waiting' && this.d.wasSkipped?.(claims.epoch, claims.ticket)) {
      return skippedView({ queue: this.d.queueId, ticket: claims.ticket, windowEnd: snap.windowEnd, pollAfterSeconds: 30, ...view, ...notice });
    }
    if (view.status === 'waiting') this.d.onContact?.(claims.epoch, claims.ticket);
    // Field by field rather than `...view`: this runs on every /status and every SSE push.
    return {
      queue: this.d.queueId,
      ticket: claims.ticket,
      windowEnd: snap.windowEnd,
      pollAfterSeconds: Math.ceil(pollAfterMs(view, snap, now) / 1000),
      status: view.status,
      position: view.position,
      ahead: view.ahead,
      etaSeconds: view.etaSeconds,
      etaKind: view.etaKind,
      activeForSeconds: view.activeForSeconds,
      state: notice.state,
      message: notice.message,
      opensAt: notice.opensAt,
      siteBusy: notice.siteBusy,
    };
  }
}

/**
 * A ticket whose turn was skipped while it was marked gone: final, nothing to wait for or claim
 * (the page offers to join again).
 */
function skippedView(st: StatusResult): StatusResult {
  return { ...st, status: 'skipped', position: 0, ahead: 0, etaSeconds: 0, etaKind: 'exact', activeForSeconds: 0, pollAfterSeconds: 30 };
}
