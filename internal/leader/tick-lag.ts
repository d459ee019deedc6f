import type { AdvanceResult } from '../queue/queue-state';

/**
 * How late the ticker runs, measured so that it means "the leader is slow"
 * and nothing else. The advance script reports lagMs = now − nextDue, but
 * nextDue stays put while nobody waits (so that the first ticket over W is
 * admitted at the next check), and after an idle spell of 15 s the first
 * advance reported 15 s of "lag" from a healthy leader. Here a step is late
 * only against the later of its due time and the time the ticker itself
 * planned to run it; a step whose plan is unknown (the first one after
 * gaining the lease, or after the queue was re-created) reports nothing.
 *
 * All times are in the store's clock (Redis TIME), like nextDueMs. Pure: the
 * ticker keeps the plan and passes it in.
 */

/** The time the ticker plans to run its next step, or undefined when it has no plan. */
export type PlannedStepMs = number | undefined;

/**
 * Lateness of one step in ms, or undefined when there is nothing to report:
 * no plan, or a step that found nothing due (not_due) or could not run
 * (not_leader, missing).
 */
export function stepLagMs(plannedMs: PlannedStepMs, r: AdvanceResult): number | undefined {
  if (plannedMs === undefined || (r.outcome !== 'advanced' && r.outcome !== 'skipped') || !r.snapshot) return undefined;
  const now = r.snapshot.storeNowMs;
  const due = now - r.lagMs;
  return Math.max(0, now - Math.max(plannedMs, due));
}

/**
 * When the ticker plans its next step after this one: at the new due time
 * after an advance or an early check, one idle poll later after a skip, and
 * with no plan after losing the lease or the queue.
 */
export function nextPlannedMs(r: AdvanceResult, idlePollMs: number): PlannedStepMs {
  const s = r.snapshot;
  if (!s) return undefined;
  switch (r.outcome) {
    case 'advanced':
    case 'not_due':
      return s.nextDueMs;
    case 'skipped':
      return s.storeNowMs + idlePollMs;
    default:
      return undefined;
  }
}
