import { countsPerSecond, parseCountsCsv } from '../../internal/simulate/arrivals';
import { parseScenario, ScenarioError, type ScenarioInput } from '../../internal/simulate/scenario';
import { simulate } from '../../internal/simulate/simulation';
import { quantile, summarize } from '../../internal/simulate/summary';
import { better, defaultGrid } from '../../internal/simulate/sweep';
import { runWhatIf, WHAT_IF_LIMITS } from '../../internal/simulate/what-if';

/** A scenario of exact arrival instants with the given queue and behaviour. */
function scenario(seconds: number[], queue: ScenarioInput['queue'], visitors: Partial<ScenarioInput['visitors']> = {}, capacity = 1000): ScenarioInput {
  return {
    arrivals: { kind: 'times', seconds },
    queue,
    visitors: { timeOnSite: { distribution: 'fixed', minutes: 0.1 }, ...visitors },
    site: { capacity },
  };
}

const waitsOf = async (s: ScenarioInput) => {
  const r = await simulate(parseScenario(s));
  return { r, waits: Array.from(r.visitors.admittedMs, (a, i) => (a - r.visitors.arrivedMs[i]!) / 1000), admitted: Array.from(r.visitors.admittedMs, (a) => a / 1000) };
};

describe('simulator on hand-computable scenarios (the real ticker and embedded store)', () => {
  // The queue is created at t = 0 with W = S and the first advance due at I. A join is issued
  // on the batcher's next turn (setImmediate), which the virtual clock, like Node's timers,
  // runs 1 ms later: a visitor admitted at once is admitted 1 ms after arriving.
  test.each([
    {
      name: 'a queue forms: tickets 1-2 in at once (W = S), 3-4 at the first advance (1 s), 5 at the second (2 s)',
      s: scenario([0.1, 0.2, 0.3, 0.4, 0.5], { windowSize: 2, intervalSeconds: 1 }),
      admitted: [0.101, 0.201, 1, 1, 2],
      advances: 2,
    },
    {
      name: 'an idle queue: the advance due at 1 s is skipped (nobody waits); ticket 3 at 5 s wakes the ticker and is admitted at once',
      s: scenario([0.1, 0.2, 5], { windowSize: 2, intervalSeconds: 1 }),
      admitted: [0.101, 0.201, 5.001],
      advances: 1,
    },
    {
      name: 'after a wake-up the next advance is due one interval later (5.001 s, then 6.001 s)',
      s: scenario([0.1, 0.2, 5, 5.1, 5.2], { windowSize: 2, intervalSeconds: 1 }),
      admitted: [0.101, 0.201, 5.001, 5.101, 6.001],
      advances: 2,
    },
    {
      name: 'a pre-queue: W = 0 until opensAt (2 s), then S per interval',
      s: scenario([0.5, 0.6, 0.7], { windowSize: 2, intervalSeconds: 1, opensAtSecond: 2 }),
      admitted: [2, 2, 3],
      advances: 2,
    },
    {
      name: 'a short interval: S = 1 every 0.25 s',
      s: scenario([0, 0, 0, 0], { windowSize: 1, intervalSeconds: 0.25 }),
      admitted: [0.001, 0.25, 0.5, 0.75],
      advances: 3,
    },
  ])('$name', async ({ s, admitted, advances }) => {
    const { r, admitted: got } = await waitsOf(s);
    expect(got).toEqual(admitted);
    expect(r.advances.atMs).toHaveLength(advances);
    expect(r.cutShort).toBe(false);
  });

  test('without compensation, visitors who give up (and leave) keep their place: their admissions are places lost', async () => {
    // S = 1 every 1 s, four arrive at 0; patience 1.5 s: tickets 3 and 4 give up at 1.5 s and are admitted at 2 s and 3 s anyway.
    const { r } = await waitsOf(scenario([0, 0, 0, 0], { windowSize: 1, intervalSeconds: 1 }, { giveUp: { share: 1, afterMinutes: 1.5 / 60 } }));
    const s = summarize(r);
    expect(s.gaveUp).toBe(2);
    expect(s.admitted).toBe(2);
    expect(s.admittedAfterGivingUp).toBe(2);
    expect(Array.from(r.visitors.gaveUpMs)).toEqual([NaN, NaN, 1500, 1500]);
    expect(r.advances.atMs).toEqual([1000, 2000, 3000]);
  });

  test('occupancy: fixed 6 s on the site, S = 2 every 1 s: at most 2 per second × 6 s + the first 2 = 14 at once', async () => {
    const arrivals = Array.from({ length: 40 }, () => 0);
    const { r } = await waitsOf(scenario(arrivals, { windowSize: 2, intervalSeconds: 1 }, {}, 10));
    const s = summarize(r);
    // Admitted at 0 (2), 1 s, 2 s, ... each batch stays 6 s: at 6 s the first batch leaves as the seventh comes (same ms: the departure runs first or after).
    expect(s.peakOnSite).toBeGreaterThanOrEqual(12);
    expect(s.peakOnSite).toBeLessThanOrEqual(14);
    expect(s.capacityExceeded).toBe(true);
    expect(s.waitMax).toBe(19);
    expect(s.lastAdmissionSecond).toBe(19);
  });

  test('no-shows are admitted but never reach the site', async () => {
    const { r } = await waitsOf(scenario([0, 0, 0, 0], { windowSize: 4, intervalSeconds: 1 }, { noShowShare: 1 }));
    const s = summarize(r);
    expect(s.admitted).toBe(4);
    expect(s.noShows).toBe(4);
    expect(s.peakOnSite).toBe(0);
  });

  test('one seed, one run: the same scenario twice gives the same admissions', async () => {
    const s = parseScenario({
      seed: 3,
      arrivals: { kind: 'burst', visitors: 3000, overSeconds: 30 },
      queue: { windowSize: 20, intervalSeconds: 0.5 },
      visitors: { giveUp: { share: 0.3, afterMinutes: 0.5 }, noShowShare: 0.1, timeOnSite: { minutes: 1 } },
      site: { capacity: 500 },
    });
    const a = await simulate(s);
    const b = await simulate(s);
    expect(Array.from(b.visitors.admittedMs)).toEqual(Array.from(a.visitors.admittedMs));
    expect(summarize(b)).toEqual({ ...summarize(a), wallMs: summarize(b).wallMs });
  });

  test.each([
    { compensateNoShows: true, admitted: [0.001, 0.001, 1, 1, NaN, NaN, NaN, NaN, 2, 2, NaN, NaN], lost: 0, skipped: 6 },
    { compensateNoShows: false, admitted: [0.001, 0.001, 1, 1, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN], lost: 8, skipped: 0 },
  ])('no-show compensation $compensateNoShows: the leave of a visitor who gives up is the store\'s markGone, and a compensating advance skips them', async ({ compensateNoShows, admitted, lost, skipped }) => {
    // S = 2 every 1 s. Eight arrive at 0 (tickets 1-8), four at 1.4 s (9-12); everybody still
    // waiting 1.5 s after arriving gives up. At 0: 1-2 in (W = S). At 1 s: 3-4. At 1.5 s 5-8 leave.
    // With compensation: at 2 s the advance moves over 5-8 and admits 9-10 (W = 10); 11-12 leave
    // at 2.9 s and the 3 s advance moves over them. Without: 5-6 at 2 s, 7-8 at 3 s, 9-12 (gone
    // at 2.9 s) at 4 s and 5 s: eight places given to visitors who had left.
    const arrivals = [...Array(8).fill(0), ...Array(4).fill(1.4)] as number[];
    const { r, admitted: got } = await waitsOf(scenario(arrivals, { windowSize: 2, intervalSeconds: 1, compensateNoShows }, { giveUp: { share: 1, afterMinutes: 1.5 / 60 } }));
    const present = got.map((a, i) => (Number.isNaN(r.visitors.gaveUpMs[i]!) ? a : NaN));
    expect(present).toEqual(admitted);
    const s = summarize(r);
    expect(s.admittedAfterGivingUp).toBe(lost);
    expect(s.skippedNoShows).toBe(skipped);
    expect(s.gaveUp).toBe(admitted.filter((a) => Number.isNaN(a)).length);
  });
});

describe('the capacity cap (maxActive) through the store\'s own occupancy accounting', () => {
  // A capped queue is created with W = 0 and its first advance due at once; nobody waits yet,
  // so it is skipped and the first join wakes the ticker (join.lua announces it). Joins at 0 are
  // issued 1 ms later (the batcher's next turn). A place frees when a pass is reported done
  // (pass-done.lua's message wakes the ticker on its next turn, and the ticker's timer runs the
  // top-up a turn later: 2 ms after the report on the virtual clock), when a
  // pass expires, or when a claim window closes with tickets unclaimed.
  test.each([
    {
      name: 'six at once, cap 2, 3 s on the site, every departure reported: two in at once, two more each time two leave',
      s: scenario([0, 0, 0, 0, 0, 0], { windowSize: 10, intervalSeconds: 1, maxActive: 2 }, { timeOnSite: { distribution: 'fixed', minutes: 0.05 } }),
      admitted: [0.001, 0.001, 3.003, 3.003, 6.005, 6.005],
      peakOccupancy: 2,
      peakOnSite: 2,
      expired: 0,
    },
    {
      name: 'no-shows never claim: their places stay taken until their claim window closes (K·I = 2 s after the advance)',
      s: scenario([0, 0, 0, 0], { windowSize: 10, intervalSeconds: 1, activeWindowCount: 2, maxActive: 2 }, { noShowShare: 1 }),
      admitted: [0.001, 0.001, 2.001, 2.001],
      peakOccupancy: 2,
      peakOnSite: 0,
      expired: 0,
    },
    {
      name: 'departures never reported: each place frees when its pass expires (3 s after the claim), not when the visitor left (1 s)',
      s: scenario([0, 0, 0], { windowSize: 10, intervalSeconds: 1, maxActive: 1 }, { timeOnSite: { distribution: 'fixed', minutes: 1 / 60 }, reportedDoneShare: 0 }, 1000),
      passTtlMinutes: 0.05,
      admitted: [0.001, 3.001, 6.001],
      peakOccupancy: 1,
      peakOnSite: 1,
      expired: 2,
    },
    {
      name: 'the rate still rules when the cap does not bind: S = 2 every 1 s with a cap of 100',
      s: scenario([0, 0, 0, 0, 0], { windowSize: 2, intervalSeconds: 1, maxActive: 100 }),
      admitted: [0.001, 0.001, 1.001, 1.001, 2.001],
      peakOccupancy: 5,
      peakOnSite: 5,
      expired: 0,
    },
  ])('$name', async ({ s, admitted, peakOccupancy, peakOnSite, expired, passTtlMinutes }) => {
    const input = passTtlMinutes === undefined ? s : { ...s, site: { ...s.site, passTtlMinutes } };
    const { r, admitted: got } = await waitsOf(input);
    expect(got).toEqual(admitted);
    const sum = summarize(r);
    expect(sum.peakOccupancy).toBe(peakOccupancy);
    expect(sum.peakOnSite).toBe(peakOnSite);
    expect(sum.maxActiveExceeded).toBe(false);
    expect(sum.passesExpired).toBe(expired);
    expect(r.cutShort).toBe(false);
  });

  test('a crowd against a cap, with late claims, no-shows and unreported departures: the store never counts more than maxActive', async () => {
    const s = parseScenario({
      seed: 7,
      arrivals: { kind: 'burst', visitors: 2000, overSeconds: 20 },
      queue: { windowSize: 30, intervalSeconds: 1, activeWindowCount: 2, maxActive: 50 },
      visitors: { noShowShare: 0.1, claimWithinSeconds: 3, reportedDoneShare: 0.8, timeOnSite: { distribution: 'exponential', minutes: 0.5 } },
      site: { capacity: 60, passTtlMinutes: 1.5 },
    });
    const r = await simulate(s);
    const sum = summarize(r);
    expect(sum.maxActive).toBe(50);
    expect(sum.peakOccupancy).toBe(50);
    expect(sum.maxActiveExceeded).toBe(false);
    // Visitors on the site hold live passes, so they are at most the store's count.
    expect(sum.peakOnSite).toBeLessThanOrEqual(50);
    expect(sum.capacityExceeded).toBe(false);
    expect(sum.passesExpired).toBeGreaterThan(0);
    expect(sum.admitted + sum.gaveUp).toBe(2000);
    expect(r.cutShort).toBe(false);
    for (const x of r.perSecond.occupancyMax) expect(x).toBeLessThanOrEqual(50);
  });

  test('without a cap the summary says none, and the store still counts places', async () => {
    const { r } = await waitsOf(scenario([0, 0, 0], { windowSize: 3, intervalSeconds: 1 }));
    const sum = summarize(r);
    expect(sum.maxActive).toBeNull();
    expect(sum.maxActiveExceeded).toBeNull();
    expect(sum.peakOccupancy).toBe(3);
  });
});

describe('arrival curves', () => {
  test.each([
    { name: 'steps', a: { kind: 'steps' as const, steps: [{ fromSecond: 0, perSecond: 2 }, { fromSecond: 2, perSecond: 0.5 }], untilSecond: 6 }, counts: [2, 2, 0, 1, 0, 1] },
    { name: 'flat burst', a: { kind: 'burst' as const, atSecond: 1, visitors: 10, overSeconds: 5, shape: 'flat' as const, backgroundPerSecond: 0 }, counts: [0, 2, 2, 2, 2, 2] },
    // falling: V·(1 − (1 − u)²) at u = 1/4, 2/4, 3/4, 1 of 16 visitors: 7, 12, 15, 16.
    { name: 'falling burst', a: { kind: 'burst' as const, atSecond: 0, visitors: 16, overSeconds: 4, shape: 'falling' as const, backgroundPerSecond: 0 }, counts: [7, 5, 3, 1] },
    { name: 'times', a: { kind: 'times' as const, seconds: [0.5, 0.7, 2.1] }, counts: [2, 0, 1] },
  ])('$name', ({ a, counts }) => {
    expect(countsPerSecond(a)).toEqual(counts);
  });

  test('CSV: counts, second,count pairs and a header; bad lines are named', () => {
    expect(parseCountsCsv('count\n3\n0\n5\n')).toEqual([3, 0, 5]);
    expect(parseCountsCsv('second,count\n0,4\n3,1\n')).toEqual([4, 0, 0, 1]);
    expect(() => parseCountsCsv('1\nx\n')).toThrow(/line 2/);
    expect(() => parseCountsCsv('1.5\n')).toThrow(/whole number/);
    expect(() => parseCountsCsv('')).toThrow(/no counts/);
  });
});

describe('scenario validation and the sweep', () => {
  test('unknown fields and bad values are refused with their paths', () => {
    const ok = scenario([0], { windowSize: 1, intervalSeconds: 1 });
    expect(() => parseScenario({ ...ok, queue: { windowsize: 1, intervalSeconds: 1 } })).toThrow(ScenarioError);
    expect(() => parseScenario({ ...ok, queue: { windowSize: 0, intervalSeconds: 1 } })).toThrow(/queue.windowSize/);
    expect(() => parseScenario({ ...ok, queue: { windowSize: 1, intervalSeconds: 0.01 } })).toThrow(/queue.intervalSeconds/);
    expect(() => parseScenario({ ...ok, visitors: { timeOnSite: { distribution: 'uniform', minutes: 2 } } })).toThrow(/maxMinutes/);
    expect(() => parseScenario({ ...ok, site: { capacity: -1 } })).toThrow(/site.capacity/);
  });

  test('quantiles are nearest-rank', () => {
    const xs = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect([quantile(xs, 0.5), quantile(xs, 0.9), quantile(xs, 0.99), quantile(xs, 1)]).toEqual([5, 9, 10, 10]);
  });

  test('the sweep prefers within capacity, then the shortest P90 wait', () => {
    const row = (p90: number, exceeded: boolean) => ({ windowSize: 1, intervalSeconds: 1, summary: { waitP90: p90, capacityExceeded: exceeded, gaveUp: 0, peakOnSite: 0 } as never });
    const rows = [row(5, true), row(30, false), row(10, false)].sort(better);
    expect(rows.map((r) => (r.summary as { waitP90: number }).waitP90)).toEqual([10, 30, 5]);
    const g = defaultGrid(parseScenario(scenario([0], { windowSize: 100, intervalSeconds: 1 })));
    expect(g).toEqual({ sizes: [25, 50, 75, 100, 150, 200], intervals: [0.5, 1, 2] });
  });
});

describe('the console\'s what-if run', () => {
  test('the same summary as the command line for the same scenario; too many visitors are refused', async () => {
    const input = {
      arrivals: { kind: 'steps', steps: [{ fromSecond: 0, perSecond: 6 }, { fromSecond: 30, perSecond: 2 }], untilSecond: 60 },
      queue: { windowSize: 5, intervalSeconds: 1, maxActive: 8 },
      visitors: { giveUp: { share: 0.1, afterMinutes: 1 }, timeOnSite: { distribution: 'exponential', minutes: 0.5 } },
      site: { capacity: 10 },
    };
    const w = await runWhatIf(input);
    const cli = summarize(await simulate(parseScenario({ ...input, horizonSeconds: WHAT_IF_LIMITS.horizonSeconds })));
    expect({ ...w.summary, wallMs: 0 }).toEqual({ ...cli, wallMs: 0 });
    expect(w.summary.visitors).toBe(240);
    expect(w.series.arrived.at(-1)).toBe(240);
    expect(Math.max(...w.series.occupancy)).toBeLessThanOrEqual(8);
    expect(w.series.t.length).toBeLessThanOrEqual(WHAT_IF_LIMITS.points + 1);
    await expect(runWhatIf({ ...input, arrivals: { kind: 'steps', steps: [{ fromSecond: 0, perSecond: 10_000 }], untilSecond: 60 } })).rejects.toThrow(/600000 visitors, more than the 200000/);
  });
});
