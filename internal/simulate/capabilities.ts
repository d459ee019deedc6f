import type { QueueSettings } from '../queue/queue-state';
import type { Scenario } from './scenario';

/** A scenario asks for admission behaviour that this build's store does not have. */
export class UnsupportedScenarioError extends Error {
  constructor(readonly field: string, why: string) {
    super(`${field}: ${why}`);
    this.name = 'UnsupportedScenarioError';
  }
}

/**
 * The queue settings the simulated store runs with, made from the scenario exactly as the
 * admin API would store them (S, I in ms, K, state, opening time in the store clock).
 *
 * The capacity cap (`maxActive`) is a setting of the store's scripts: it is passed on as the
 * admin API stores it, and the simulated visitors' claims, `done` reports and expiring passes
 * (simulation.ts) drive the store's own occupancy accounting. No-show compensation
 * (`compensateNoShows`) is not in this build's store yet; the simulator never imitates a
 * behaviour outside the store (a second implementation could disagree with the server), so a
 * scenario that sets it is refused with this error until the store has it.
 */
export function admissionSettings(s: Scenario, epochMs: number): QueueSettings {
  if (s.queue.compensateNoShows) {
    throw new UnsupportedScenarioError('queue.compensateNoShows', 'this build has no no-show compensation in its admission code yet, so it cannot be simulated; set it to false');
  }
  return {
    windowSize: s.queue.windowSize,
    intervalMs: Math.round(s.queue.intervalSeconds * 1000),
    activeWindowCount: s.queue.activeWindowCount,
    mode: 'open',
    opensAtMs: s.queue.opensAtSecond > 0 ? epochMs + Math.round(s.queue.opensAtSecond * 1000) : 0,
    ...(s.queue.maxActive !== undefined ? { maxActive: s.queue.maxActive } : {}),
  };
}
