/**
 * The queue arithmetic: pure functions of a ticket, the shared window and a clock
 * value that the caller passes in. No I/O, no Date.now(): every boundary is
 * tested with tables (test/unit/arithmetic.test.ts).
 *
 * Notation (docs/system.md): S = window size, K = active window count,
 * W = window end (highest admitted ticket), I = window interval, t = ticket.
 */

import type { QueueMode } from './queue-state';

export type TicketStatus = 'waiting' | 'active' | 'expired';

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
  /**
   * Seconds the ticket stays active at least (advances are skipped while nobody
   * waits, so it can stay longer); 0 unless active.
   */
  readonly activeForSeconds: number;
}

/** waiting if t > W; active if W − S·K < t ≤ W; expired if t ≤ W − S·K. */
export function classify(ticket: number, windowEnd: number, windowSize: number, activeWindowCount: number): TicketStatus {
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

/** The full view of one ticket against the window at clock value nowMs. */
export function viewTicket(ticket: number, w: WindowView, nowMs: number): TicketView {
  // Passthrough admits every ticket issued: a ticket over W counts as admitted by itself
  // (W catches up with the counter when passthrough ends, see update-queue.lua).
  const windowEnd = w.mode === 'passthrough' ? Math.max(w.windowEnd, ticket) : w.windowEnd;
  const status = classify(ticket, windowEnd, w.windowSize, w.activeWindowCount);
  if (status === 'waiting') {
    const ahead = ticket - windowEnd - 1;
    if (w.mode === 'paused' || w.mode === 'closed') return { status, position: ahead + 1, ahead, etaSeconds: null, activeForSeconds: 0 };
    const etaMs = msForAdvances(windowsUntilAdmitted(ticket, windowEnd, w.windowSize), w.nextDueMs, w.intervalMs, nowMs);
    return { status, position: ahead + 1, ahead, etaSeconds: ceilSeconds(etaMs), activeForSeconds: 0 };
  }
  if (status === 'active') {
    const m = windowsUntilExpired(ticket, windowEnd, w.windowSize, w.activeWindowCount);
    // Flooring keeps this a lower bound ("at least").
    const activeMs = msForAdvances(m, w.nextDueMs, w.intervalMs, nowMs);
    return { status, position: 0, ahead: 0, etaSeconds: 0, activeForSeconds: Math.floor(activeMs / 1000) };
  }
  return { status, position: 0, ahead: 0, etaSeconds: 0, activeForSeconds: 0 };
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
  if (w.mode === 'paused' || w.mode === 'closed') return Math.min(maxMs, Math.max(minMs, 5000));
  const untilTick = msUntilNextTick(w.nextDueMs, nowMs);
  const base = untilTick > 0 ? untilTick : w.intervalMs;
  return Math.min(maxMs, Math.max(minMs, base));
}
