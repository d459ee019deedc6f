import { nextPlannedMs, stepLagMs } from '../../internal/leader/tick-lag';
import type { AdvanceOutcome, AdvanceResult } from '../../internal/queue/queue-state';

const T0 = 1_700_000_000_000;
const I = 10_000;
const POLL = 100;

/** A step that ran at store time `now` against a due time `due` (the script's lagMs = now - due). */
function step(outcome: AdvanceOutcome, now: number, due: number, nextDue = due): AdvanceResult {
  if (outcome === 'not_leader' || outcome === 'missing' || outcome === 'rolled_back') return { outcome, lagMs: 0 };
  const lagMs = outcome === 'not_due' ? 0 : now - due;
  return {
    outcome,
    lagMs,
    snapshot: {
      epoch: 'e',
      windowEnd: 10,
      nextDueMs: outcome === 'advanced' ? now + I : nextDue,
      windowSize: 10,
      intervalMs: I,
      activeWindowCount: 1,
      version: 1,
      counter: 11,
      storeNowMs: now,
      mode: 'open',
      opensAtMs: 0,
    },
  };
}

describe('stepLagMs: late only against the later of the due time and the planned time', () => {
  test.each<[string, number | undefined, AdvanceResult, number | undefined]>([
    // Steady ticking: planned at the due time, lateness is now - due.
    ['advance on time', T0, step('advanced', T0, T0), 0],
    ['advance 3 ms late (a Redis round trip)', T0, step('advanced', T0 + 3, T0), 3],
    ['advance 2.5 s late (a stalled event loop)', T0, step('advanced', T0 + 2500, T0), 2500],
    // The reported bug: due 15 s ago, nobody waited, the ticker polled every 100 ms
    // and the first ticket arrived. The step is late against its poll, not the due time.
    ['first advance after a 15 s idle spell', T0 + 15_000, step('advanced', T0 + 15_004, T0), 4],
    ['first advance after idle, poll fired exactly', T0 + 15_000, step('advanced', T0 + 15_000, T0), 0],
    ['first advance after idle, the loop stalled 3 s', T0 + 15_000, step('advanced', T0 + 18_000, T0), 3000],
    // Idle polls report their own lateness, so an idle leader's gauge stays live.
    ['skip at its poll', T0 + 500, step('skipped', T0 + 502, T0), 2],
    ['skip 1 s after its poll', T0 + 500, step('skipped', T0 + 1500, T0), 1000],
    ['first skip after an advance, on time', T0, step('skipped', T0 + 1, T0), 1],
    // A timer that fires before the planned time never reports negative lag.
    ['step before the plan', T0 + 100, step('advanced', T0 + 50, T0), 0],
    // No plan: the first step after gaining the lease reports nothing (its lagMs
    // would include the previous leader's idle time or the handover).
    ['no plan (just acquired), advance 15 s after due', undefined, step('advanced', T0 + 15_000, T0), undefined],
    ['no plan (just acquired), skip', undefined, step('skipped', T0 + 15_000, T0), undefined],
    // Steps that did nothing due report nothing.
    ['not due yet', T0, step('not_due', T0 - 10, T0), undefined],
    ['not leader', T0, step('not_leader', T0, T0), undefined],
    ['queue missing', T0, step('missing', T0, T0), undefined],
  ])('%s', (_name, planned, r, expected) => {
    expect(stepLagMs(planned, r)).toBe(expected);
  });
});

describe('nextPlannedMs: when the ticker means to run next', () => {
  test.each<[string, AdvanceResult, number | undefined]>([
    ['after an advance: the new due time', step('advanced', T0 + 7, T0), T0 + 7 + I],
    ['after an early check: the due time', step('not_due', T0 - 40, T0), T0],
    ['after a skip: one idle poll later', step('skipped', T0 + 900, T0), T0 + 900 + POLL],
    ['after a refused advance: no plan', step('not_leader', T0, T0), undefined],
    ['after the queue went missing: no plan', step('missing', T0, T0), undefined],
  ])('%s', (_name, r, expected) => {
    expect(nextPlannedMs(r, POLL)).toBe(expected);
  });
});

describe('a leader that idles 15 s and then admits a ticket', () => {
  test('reports milliseconds of lag throughout, never the idle time', () => {
    // Replays the step sequence the ticker runs, with the plan carried between steps.
    let planned = nextPlannedMs(step('advanced', T0, T0 - I), POLL);
    const lags: number[] = [];
    let now = T0 + I + 2;
    const due = T0 + I; // stays put while skipping
    for (; now < T0 + I + 15_000; now += POLL + 2) {
      const r = step('skipped', now, due);
      const lag = stepLagMs(planned, r);
      if (lag !== undefined) lags.push(lag);
      planned = nextPlannedMs(r, POLL);
    }
    const r = step('advanced', now, due);
    expect(r.lagMs).toBeGreaterThan(14_000); // what the script reports
    lags.push(stepLagMs(planned, r)!);
    expect(Math.max(...lags)).toBe(2);
  });
});
