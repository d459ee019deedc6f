import { NO_SHOW_MAX_MOVE } from '../queue/arithmetic';
import type { QueueSettings } from '../queue/queue-state';
import type { Scenario } from './scenario';

/**
 * The queue settings the simulated store runs with, made from the scenario exactly as the
 * admin API would store them (S, I in ms, K, state, opening time in the store clock).
 *
 * The capacity cap (`maxActive`) is a setting of the store's scripts: it is passed on as the
 * admin API stores it, and the simulated visitors' claims, `done` reports and expiring passes
 * (simulation.ts) drive the store's own occupancy accounting.
 */
export function admissionSettings(s: Scenario, epochMs: number): QueueSettings {
  return {
    windowSize: s.queue.windowSize,
    intervalMs: Math.round(s.queue.intervalSeconds * 1000),
    activeWindowCount: s.queue.activeWindowCount,
    mode: 'open',
    opensAtMs: s.queue.opensAtSecond > 0 ? epochMs + Math.round(s.queue.opensAtSecond * 1000) : 0,
    ...(s.queue.maxActive !== undefined ? { maxActive: s.queue.maxActive } : {}),
  };
}

/**
 * No-show compensation (`compensateNoShows`) as each replica hands it to its ticker
 * (queue-runtime.ts): the bound on W's move per advance, 0 when off. The advance itself,
 * skipping the tickets marked gone, is the store's (advance-window.lua's embedded mirror);
 * the simulated visitors who give up are marked gone through the store's markGone, as the
 * waiting page's leave on closing is.
 */
export function maxMoveOf(s: Scenario): number {
  return s.queue.compensateNoShows ? NO_SHOW_MAX_MOVE : 0;
}
