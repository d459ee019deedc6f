import type { QueueMode } from '../queue/queue-state';

/** What the console's list knows of one queue, enough to rank it. */
export interface AttentionInput {
  readonly id: string;
  readonly state: QueueMode;
  readonly waiting: number;
  /** ETA a visitor joining now would be given; null while held. */
  readonly lastTicketEtaSeconds: number | null;
  /** False when this replica has no fresh copy of the queue's state. */
  readonly stateFresh: boolean;
  /** A pre-queue (opensAt in the future): its long ETA is counted from the opening, as planned. */
  readonly scheduled: boolean;
}

export type AttentionReason = 'state_unavailable' | 'paused_with_visitors' | 'long_wait';

/** A wait this long for a visitor joining now is flagged (30 min). */
export const LONG_WAIT_SECONDS = 30 * 60;

const WEIGHT: Record<AttentionReason, number> = { state_unavailable: 4, paused_with_visitors: 2, long_wait: 1 };

/** Why a queue needs an operator's eye, most urgent first (empty: nothing to do). */
export function attentionReasons(q: AttentionInput): AttentionReason[] {
  const out: AttentionReason[] = [];
  if (!q.stateFresh) out.push('state_unavailable');
  if (q.state === 'paused' && q.waiting > 0) out.push('paused_with_visitors');
  if (!q.scheduled && q.lastTicketEtaSeconds !== null && q.lastTicketEtaSeconds >= LONG_WAIT_SECONDS) out.push('long_wait');
  return out;
}

/**
 * The console's order: queues needing attention first (by the weight of their
 * reasons), then the longest lines, then by id so the order is stable.
 */
export function byAttention<T extends AttentionInput>(rows: readonly T[]): T[] {
  const score = (q: T) => attentionReasons(q).reduce((n, r) => n + WEIGHT[r], 0);
  return [...rows].sort((a, b) => score(b) - score(a) || b.waiting - a.waiting || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
