import type { QueueMode } from './queue-state';

/**
 * The queue-length alert of one queue (docs/events.md, "Queue length alert"), as pure
 * functions. The Lua scripts that move the waiting count (join.lua raises it,
 * advance-window.lua lowers it, update-queue.lua, create-queue.lua and ensure-queue.lua can
 * move it or the thresholds) apply the same rule to the `lengthAlert*` fields of the queue's
 * state hash; the embedded store applies these. Tested by a boundary table in
 * test/unit/length-alert.test.ts.
 *
 * Hysteresis: the alert fires once when the waiting count rises to `threshold` or above, and
 * re-arms only after it has fallen below `clearBelow` (< threshold). With threshold 1,000 and
 * clearBelow 800 a line hovering at 990..1,010 (joins and advances alternating) fires once,
 * not once per join: it has to drain by 200 before another crossing counts.
 */
export interface LengthAlertSettings {
  /** Fire when waiting >= threshold; 0 for no alert. */
  readonly threshold: number;
  /** Re-arm when waiting < clearBelow; 1 <= clearBelow < threshold. */
  readonly clearBelow: number;
}

/** What a change does to the alert: nothing, fire (queue.length_exceeded) or re-arm (queue.length_recovered). */
export type LengthAlertStep = 'none' | 'exceeded' | 'recovered';

/**
 * Visitors waiting, as the alert counts them: counter − W, and 0 in passthrough (every ticket
 * is admitted as it joins there, although W only catches up when passthrough ends).
 */
export function alertWaiting(counter: number, windowEnd: number, mode: QueueMode): number {
  if (mode === 'passthrough') return 0;
  return Math.max(0, counter - windowEnd);
}

/**
 * The alert's next step after a change, from whether it has fired, the waiting count after
 * the change and the thresholds after it. A removed alert (threshold 0) that had fired re-arms
 * (recovered), so every queue.length_exceeded is followed by exactly one queue.length_recovered
 * while the state lasts.
 */
export function lengthAlertStep(fired: boolean, waiting: number, a: LengthAlertSettings): LengthAlertStep {
  if (a.threshold <= 0) return fired ? 'recovered' : 'none';
  if (!fired) return waiting >= a.threshold ? 'exceeded' : 'none';
  return waiting < a.clearBelow ? 'recovered' : 'none';
}

/** Why an alert re-armed (the `reason` of queue.length_recovered). */
export type LengthRecoveredReason = 'below_clear' | 'alert_removed' | 'new_epoch';

export function recoveredReason(threshold: number): LengthRecoveredReason {
  return threshold > 0 ? 'below_clear' : 'alert_removed';
}
