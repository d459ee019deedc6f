import type { QueueSettings } from './queue-state';

/** The parts of a queue's state a settings change moves. */
export interface ChangeableState extends QueueSettings {
  readonly windowEnd: number;
  readonly nextDueMs: number;
  readonly counter: number;
}

/**
 * What a settings change does to a queue's window: the transitions of
 * update-queue.lua as a pure function of the state, the new settings and the
 * store's clock. The embedded store applies its changes with it (so the store
 * contract suite checks it against the script), and the console's preview of a
 * rate change computes the newest ticket's ETA after the change with it.
 *
 *   into or out of passthrough       W = max(W, counter)
 *   paused/closed/passthrough → open the first advance is due one interval after the resume
 *   open, I changed                  a shorter I pulls the next advance in to now + I
 *   opensAt in the future            the next advance is at opensAt exactly
 *   opensAt moved to now or before while not yet open   it opens now
 */
export function applySettingsChange<T extends ChangeableState>(state: T, next: QueueSettings, nowMs: number): T {
  let windowEnd = state.windowEnd;
  let nextDueMs = state.nextDueMs;
  if (next.mode === 'passthrough' || state.mode === 'passthrough') windowEnd = Math.max(windowEnd, state.counter);
  if (next.mode === 'open') {
    if (state.mode !== 'open') nextDueMs = nowMs + next.intervalMs;
    else if (next.intervalMs < state.intervalMs && nextDueMs > nowMs + next.intervalMs) nextDueMs = nowMs + next.intervalMs;
  }
  if (next.opensAtMs > nowMs) nextDueMs = next.opensAtMs;
  else if (state.opensAtMs > nowMs && next.mode === 'open') nextDueMs = nowMs;
  return {
    ...state,
    windowEnd,
    nextDueMs,
    windowSize: next.windowSize,
    intervalMs: next.intervalMs,
    activeWindowCount: next.activeWindowCount,
    mode: next.mode,
    opensAtMs: next.opensAtMs,
  };
}
