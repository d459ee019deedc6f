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
 * The capacity cap (`maxActive`) and no-show compensation (`compensateNoShows`) belong to
 * the issue "Fill the site, never flood it": they are settings of the store's scripts, and
 * the store this build ships has neither. The simulator never imitates them outside the
 * store (that would be a second implementation that could disagree with the server), so a
 * scenario that sets them is refused with this error until the store has them; then they
 * are passed on here, and the visitors' `done` and `leave` calls (simulation.ts) drive them.
 */
export function admissionSettings(s: Scenario, epochMs: number): QueueSettings {
  if (s.queue.maxActive !== undefined) {
    throw new UnsupportedScenarioError('queue.maxActive', 'this build has no capacity cap in its admission code yet, so it cannot be simulated; leave it out and compare the peak on the site with site.capacity');
  }
  if (s.queue.compensateNoShows) {
    throw new UnsupportedScenarioError('queue.compensateNoShows', 'this build has no no-show compensation in its admission code yet, so it cannot be simulated; set it to false');
  }
  return {
    windowSize: s.queue.windowSize,
    intervalMs: Math.round(s.queue.intervalSeconds * 1000),
    activeWindowCount: s.queue.activeWindowCount,
    mode: 'open',
    opensAtMs: s.queue.opensAtSecond > 0 ? epochMs + Math.round(s.queue.opensAtSecond * 1000) : 0,
  };
}
