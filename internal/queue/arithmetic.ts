/**
 * The queue arithmetic: pure functions of a ticket, the shared window and a clock
 * value that the caller passes in. No I/O, no Date.now(): every boundary is
 * tested with tables (test/unit/arithmetic.test.ts).
 *
 * Notation (docs/system.md): S = window size, K = active window count,
 * W = window end (highest admitted ticket), I = window interval, t = ticket.
 */

import type { QueueMode } from './queue-state';

/**
 * skipped: the ticket left the line (marked gone) and a compensating advance passed it; never
 * computed here (the arithmetic cannot know who left): the service sets it from the replica's
 * copy of the skipped tickets or the store's answer (docs/system.md, "No-shows").
 */
export type TicketStatus = 'waiting' | 'active' | 'expired' | 'skipped';

/**
 * How far a waiting ticket's etaSeconds can be trusted (docs/system.md, "ETA kinds"):
 * - exact: admission by rate only; the ticket is admitted at that time (to the second);
 * - estimate: the queue has a capacity cap, so admissions follow the site's pace: computed
 *   from the measured rate at which places free up;
 * - upperBound: no-show compensation is on (and no cap): every advance moves W by at least S
 *   (S present visitors, plus the gone ones it skips), so the ticket is admitted no later than
 *   that time, and sooner when visitors ahead of it leave;
 * - unknown: nothing is scheduled (paused, closed); etaSeconds is null.
 */
export type EtaKind = 'exact' | 'estimate' | 'upperBound' | 'unknown';

/** The part of the shared queue state the arithmetic needs. */
export interface WindowView {
  /** W: highest admitted ticket number. */
  readonly windowEnd: number;
  /** Redis-clock epoch milliseconds at which the next advance is due. */
  readonly nextDueMs: number;
  /** S */
  readonly windowSize: number;
  /** K */
  readonly activeWindowCount: number;
  /** I in milliseconds. */
  readonly intervalMs: number;
  /** The capacity cap; 0 or absent for none. */
  readonly maxActive?: number;
  /** 1 while admissions are held because the site is unhealthy: no ETA holds then. */
  readonly originHold?: number;
  /**
   * The queue's state: paused and closed hold the window (a waiting ticket has no
   * ETA that could hold); passthrough admits every ticket at once. Absent means open.
   */
  readonly mode?: QueueMode;
}

export interface TicketView {
  readonly status: TicketStatus;
  /** Place in line counted from 1 while waiting; 0 once admitted or expired. */
  readonly position: number;
  /** Waiting tickets before this one. */
  readonly ahead: number;
  /**
   * Seconds until this ticket becomes active; 0 unless waiting; null while the
   * queue is paused or closed (no advance is scheduled, so no number would hold).
   */
  readonly etaSeconds: number | null;
  /** How etaSeconds was computed (exact for every ticket not waiting). */
  readonly etaKind: EtaKind;
  /**
   * Seconds the ticket stays active at least (advances are skipped while nobody
   * waits, so it can stay longer); 0 unless active.
   */
  readonly activeForSeconds: number;
}

/** waiting if t > W; active if W − S·K < t ≤ W; expired if t ≤ W − S·K. */
export function classify(ticket: number, windowEnd: number, windowSize: number, activeWindowCount: number): 'waiting' | 'active' | 'expired' {
  if (ticket > windowEnd) return 'waiting';
  if (ticket > windowEnd - windowSize * activeWindowCount) return 'active';
  return 'expired';
}

/** Milliseconds until the next advance may run, never negative. */
export function msUntilNextTick(nextDueMs: number, nowMs: number): number {
  return Math.max(0, nextDueMs - nowMs);
}

/**
 * Advances needed before ticket t is admitted: ceil((t − W) / S), 0 if admitted.
 */
export function windowsUntilAdmitted(ticket: number, windowEnd: number, windowSize: number): number {
  if (ticket <= windowEnd) return 0;
  return Math.ceil((ticket - windowEnd) / windowSize);
}

/**
 * Advances after which an admitted ticket expires: the least m with t ≤ W + m·S − S·K,
 * i.e. ceil((t − W + S·K) / S). At least 1 for an active ticket.
 */
export function windowsUntilExpired(ticket: number, windowEnd: number, windowSize: number, activeWindowCount: number): number {
  const m = Math.ceil((ticket - windowEnd + windowSize * activeWindowCount) / windowSize);
  return Math.max(0, m);
}

/**
 * Wall time for n more advances, given that the first can run no earlier than
 * nextDue and each later one exactly one interval after the previous (the ticker
 * sets nextDue = now + I on every advance and never catches up in bursts).
 */
export function msForAdvances(n: number, nextDueMs: number, intervalMs: number, nowMs: number): number {
  if (n <= 0) return 0;
  return msUntilNextTick(nextDueMs, nowMs) + (n - 1) * intervalMs;
}

/** Rounds milliseconds up to whole seconds for display and Retry-After values. */
export function ceilSeconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000));
}

/**
 * With a capacity cap: ms until a ticket `position` places from the front is admitted, if
 * admissions go on at `admittedPerSecond` (measured: with a full site the window moves when a
 * place frees, so this is the rate at which places free up). Never below `rateBoundMs`, the
 * time the rate S/I alone needs; without a measured rate (0) that bound is the estimate.
 */
export function estimateEtaMs(position: number, rateBoundMs: number, admittedPerSecond: number): number {
  if (!(admittedPerSecond > 0) || !Number.isFinite(admittedPerSecond)) return rateBoundMs;
  return Math.max(rateBoundMs, Math.ceil((position / admittedPerSecond) * 1000));
}

/**
 * The full view of one ticket against the window at clock value nowMs. `admittedPerSecond`
 * is the replica's measured admission rate (QueueRuntime), used only when the queue has a cap.
 * `compensating`: the queue skips visitors who left (compensateNoShows), so the rate ETA is an
 * upper bound (W moves at least S per advance).
 */
export function viewTicket(ticket: number, w: WindowView, nowMs: number, admittedPerSecond = 0, compensating = false): TicketView {
  // Passthrough admits every ticket issued: a ticket over W counts as admitted by itself
  // (W catches up with the counter when passthrough ends, see update-queue.lua).
  const windowEnd = w.mode === 'passthrough' ? Math.max(w.windowEnd, ticket) : w.windowEnd;
  const status = classify(ticket, windowEnd, w.windowSize, w.activeWindowCount);
  if (status === 'waiting') {
    const ahead = ticket - windowEnd - 1;
    if (w.mode === 'paused' || w.mode === 'closed' || w.originHold === 1) return { status, position: ahead + 1, ahead, etaSeconds: null, etaKind: 'unknown', activeForSeconds: 0 };
    const etaMs = msForAdvances(windowsUntilAdmitted(ticket, windowEnd, w.windowSize), w.nextDueMs, w.intervalMs, nowMs);
    if (w.maxActive && w.maxActive > 0) {
      return { status, position: ahead + 1, ahead, etaSeconds: ceilSeconds(estimateEtaMs(ahead + 1, etaMs, admittedPerSecond)), etaKind: 'estimate', activeForSeconds: 0 };
    }
    return { status, position: ahead + 1, ahead, etaSeconds: ceilSeconds(etaMs), etaKind: compensating ? 'upperBound' : 'exact', activeForSeconds: 0 };
  }
  if (status === 'active') {
    const m = windowsUntilExpired(ticket, windowEnd, w.windowSize, w.activeWindowCount);
    // Flooring keeps this a lower bound ("at least").
    const activeMs = msForAdvances(m, w.nextDueMs, w.intervalMs, nowMs);
    return { status, position: 0, ahead: 0, etaSeconds: 0, etaKind: 'exact', activeForSeconds: Math.floor(activeMs / 1000) };
  }
  return { status, position: 0, ahead: 0, etaSeconds: 0, etaKind: 'exact', activeForSeconds: 0 };
}

/**
 * Admissions per second over the samples (window moves seen: when and how many) of the last
 * `spanMs` before nowMs; 0 with fewer than two moves (no rate can be measured from one).
 * Measured from the first move in the span, so a queue that started 10 s ago is not diluted
 * over a whole minute.
 */
export function admissionRate(samples: ReadonlyArray<{ readonly atMs: number; readonly count: number }>, nowMs: number, spanMs = 60_000): number {
  let first = -1;
  let moves = 0;
  let count = 0;
  for (const s of samples) {
    if (s.atMs < nowMs - spanMs || s.atMs > nowMs) continue;
    if (first < 0) first = s.atMs;
    else count += s.count; // the first move opens the span; what came after it is the flow
    moves++;
  }
  if (moves < 2 || nowMs <= first) return 0;
  return (count * 1000) / (nowMs - first);
}

/** Tickets issued but not yet admitted: max(0, counter − W). */
export function waitingCount(counter: number, windowEnd: number): number {
  return Math.max(0, counter - windowEnd);
}

/**
 * Suggested wait before polling /status again, in ms: soon after the next
 * advance that could change this ticket, clamped to [minMs, maxMs] so a crowd
 * does not poll in lockstep at exactly the tick.
 */
export function pollAfterMs(view: TicketView, w: WindowView, nowMs: number, minMs = 1000, maxMs = 30000): number {
  if (view.status === 'expired') return maxMs;
  // Held: nothing moves until an operator resumes; the event stream tells at once, pollers every 5 s.
  if (w.mode === 'paused' || w.mode === 'closed' || w.originHold === 1) return Math.min(maxMs, Math.max(minMs, 5000));
  const untilTick = msUntilNextTick(w.nextDueMs, nowMs);
  const base = untilTick > 0 ? untilTick : w.intervalMs;
  return Math.min(maxMs, Math.max(minMs, base));
}

/**
 * No-show compensation's bound: an advance that admits n present visitors moves W over at most
 * NO_SHOW_MAX_MOVE·n tickets, so its work (one bit per ticket looked at) is bounded, and a queue
 * where up to 7 in 8 waiting visitors left still delivers n per advance (docs/system.md, "No-shows").
 */
export const NO_SHOW_MAX_MOVE = 8;

/**
 * How far W moves to admit `want` present tickets, looking at no more than `limit` tickets after
 * W: the least m such that tickets W+1 .. W+m hold `want` that are not gone (isGone(i) tells
 * whether ticket W+i left), or `limit` when fewer are there. `present` is how many the move
 * admits; move − present were skipped. advance-window.lua computes the same with BITCOUNT.
 */
export function compensatedMove(want: number, limit: number, isGone: (offset: number) => boolean): { move: number; present: number } {
  let present = 0;
  if (want <= 0) return { move: 0, present: 0 };
  for (let i = 1; i <= limit; i++) {
    if (!isGone(i)) present++;
    if (present === want) return { move: i, present };
  }
  return { move: Math.max(0, limit), present };
}
