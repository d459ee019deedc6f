import {
  classify,
  msForAdvances,
  pollAfterMs,
  viewTicket,
  waitingCount,
  windowsUntilAdmitted,
  windowsUntilExpired,
  type WindowView,
} from '../../internal/queue/arithmetic';

describe('classify: waiting if t > W; active if W - S*K < t <= W; expired if t <= W - S*K', () => {
  test.each([
    // The original design's cases.
    [1, 20, 10, 1, 'expired'],
    [15, 20, 10, 1, 'active'],
    [30, 20, 10, 1, 'waiting'],
    // Boundaries with K = 1.
    [10, 20, 10, 1, 'expired'], // t = W - S*K
    [11, 20, 10, 1, 'active'], // first active
    [20, 20, 10, 1, 'active'], // t = W
    [21, 20, 10, 1, 'waiting'], // first waiting
    // K = 2 keeps two windows active.
    [1, 20, 10, 2, 'active'], // W - S*K = 0 < 1
    [0, 20, 10, 2, 'expired'],
    [5, 30, 10, 2, 'expired'],
    [10, 30, 10, 2, 'expired'],
    [11, 30, 10, 2, 'active'],
    // A fresh queue: W = S, every ticket up to S active at once.
    [1, 10, 10, 1, 'active'],
    [10, 10, 10, 1, 'active'],
    [11, 10, 10, 1, 'waiting'],
    // S = 1.
    [5, 5, 1, 1, 'active'],
    [4, 5, 1, 1, 'expired'],
    [6, 5, 1, 1, 'waiting'],
  ])('t=%i W=%i S=%i K=%i -> %s', (t, w, s, k, expected) => {
    expect(classify(t, w, s, k)).toBe(expected);
  });
});

describe('windowsUntilAdmitted = ceil((t - W) / S)', () => {
  test.each([
    [20, 20, 10, 0],
    [5, 20, 10, 0],
    [21, 20, 10, 1],
    [30, 20, 10, 1],
    [31, 20, 10, 2],
    [120, 20, 10, 10],
    [121, 20, 10, 11],
    [21, 20, 1, 1],
    [25, 20, 1, 5],
  ])('t=%i W=%i S=%i -> %i', (t, w, s, n) => expect(windowsUntilAdmitted(t, w, s)).toBe(n));
});

describe('windowsUntilExpired = ceil((t - W + S*K) / S)', () => {
  test.each([
    [20, 20, 10, 1, 1], // admitted in the last advance: expires at the next one
    [11, 20, 10, 1, 1],
    [20, 20, 10, 2, 2],
    [11, 20, 10, 2, 2],
    [10, 20, 10, 2, 1],
    [1, 20, 10, 2, 1],
    [5, 5, 1, 3, 3],
  ])('t=%i W=%i S=%i K=%i -> %i', (t, w, s, k, m) => expect(windowsUntilExpired(t, w, s, k)).toBe(m));
});

describe('msForAdvances: the first at nextDue, then one interval each, no catch-up', () => {
  test.each([
    // n, nextDue, interval, now, expected
    [0, 5000, 1000, 0, 0],
    [1, 5000, 1000, 0, 5000],
    [2, 5000, 1000, 0, 6000],
    [1, 5000, 1000, 5000, 0],
    [1, 5000, 1000, 9000, 0], // overdue (idle leader): the next check admits at once
    [3, 5000, 1000, 9000, 2000],
    [3, 5000, 1000, 4500, 2500],
  ])('n=%i due=%i I=%i now=%i -> %i ms', (n, due, i, now, ms) => expect(msForAdvances(n, due, i, now)).toBe(ms));
});

describe('viewTicket', () => {
  const w: WindowView = { windowEnd: 20, nextDueMs: 10_000, windowSize: 10, activeWindowCount: 2, intervalMs: 5000 };

  test.each([
    // t, now, status, position, ahead, etaSeconds, activeForSeconds
    [21, 10_000, 'waiting', 1, 0, 0, 0],
    [21, 7_500, 'waiting', 1, 0, 3, 0], // 2.5 s rounds up
    [30, 7_500, 'waiting', 10, 9, 3, 0],
    [31, 7_500, 'waiting', 11, 10, 8, 0], // a second window: +5 s
    [121, 0, 'waiting', 101, 100, 10 + 10 * 5, 0], // 11 windows: 10 s + 10 * 5 s
    [20, 7_500, 'active', 0, 0, 0, 7], // 2 advances: 2.5 s + 5 s, floored
    [11, 7_500, 'active', 0, 0, 0, 7],
    [10, 7_500, 'active', 0, 0, 0, 2], // 1 advance: 2.5 s floored
    [1, 7_500, 'active', 0, 0, 0, 2],
    [0, 7_500, 'expired', 0, 0, 0, 0],
  ])('t=%i now=%i -> %s pos=%i ahead=%i eta=%i active=%i', (t, now, status, position, ahead, eta, active) => {
    expect(viewTicket(t, w, now)).toEqual({ status, position, ahead, etaSeconds: eta, activeForSeconds: active });
  });

  test('an expired ticket reports no wait and no active time', () => {
    expect(viewTicket(5, { ...w, windowEnd: 40 }, 0)).toEqual({
      status: 'expired',
      position: 0,
      ahead: 0,
      etaSeconds: 0,
      activeForSeconds: 0,
    });
  });
});

describe('waitingCount and pollAfterMs', () => {
  test.each([
    [0, 10, 0],
    [10, 10, 0],
    [11, 10, 1],
    [1000, 10, 990],
  ])('counter=%i W=%i -> %i waiting', (c, w, n) => expect(waitingCount(c, w)).toBe(n));

  const w: WindowView = { windowEnd: 20, nextDueMs: 10_000, windowSize: 10, activeWindowCount: 1, intervalMs: 5000 };
  test.each([
    [25, 7_000, 3000], // until the next tick
    [25, 9_900, 1000], // never sooner than 1 s
    [25, 12_000, 5000], // overdue: one interval
    [25, -100_000, 30_000], // capped at 30 s
    [1, 0, 30_000], // expired: nothing will change
  ])('t=%i now=%i -> poll after %i ms', (t, now, ms) => {
    expect(pollAfterMs(viewTicket(t, w, now), w, now)).toBe(ms);
  });
});

describe('queue states in the arithmetic: paused and closed hold, passthrough admits', () => {
  const base = { windowEnd: 20, nextDueMs: 10_000, windowSize: 10, activeWindowCount: 1, intervalMs: 5000 } as const;
  // [mode, ticket, status, position, etaSeconds]
  test.each<[WindowView['mode'], number, string, number, number | null]>([
    ['open', 35, 'waiting', 15, 10], // 2 advances: 5 s to the first, 5 s more
    ['paused', 35, 'waiting', 15, null], // no advance is scheduled: no number that could hold
    ['closed', 35, 'waiting', 15, null],
    ['passthrough', 35, 'active', 0, 0], // admitted at once
    ['paused', 15, 'active', 0, 0], // admitted tickets stay admitted
    ['closed', 5, 'expired', 0, 0],
    [undefined, 35, 'waiting', 15, 10], // absent = open
  ])('%s: ticket %i is %s, position %i, ETA %p', (mode, t, status, position, eta) => {
    const v = viewTicket(t, { ...base, mode }, 5000);
    expect(v).toMatchObject({ status, position, etaSeconds: eta });
  });

  test('a held queue is polled every 5 s (the event stream tells of a resume at once)', () => {
    const w = { ...base, mode: 'paused' as const };
    expect(pollAfterMs(viewTicket(35, w, 5000), w, 5000)).toBe(5000);
  });
});

describe('a rate change: the ETA before and after, exact from the next advance on', () => {
  // The state as update-queue.lua leaves it: S, I changed; a shorter I pulls nextDue in to
  // now + I; a longer I leaves an advance already due where it is. Ticket 50, W = 20, now = 0.
  // [case, S, I ms, nextDueMs, ETA s]
  test.each<[string, number, number, number, number]>([
    ['before: S 10, I 5 s, next advance in 5 s', 10, 5000, 5000, 15], // 3 advances: 5 + 5 + 5
    ['S doubled to 20: two advances', 20, 5000, 5000, 10],
    ['S to 30: one advance', 30, 5000, 5000, 5],
    ['I halved to 2.5 s: nextDue pulled in to now + 2.5 s', 10, 2500, 2500, 8], // 2.5 + 2.5 + 2.5 = 7.5 -> 8
    ['I doubled to 10 s: the advance due in 5 s stays, later ones 10 s apart', 10, 10_000, 5000, 25],
    ['S 1, I 0.05 s (fastest bound)', 1, 50, 50, 2], // 30 advances: 0.05 + 29 * 0.05 = 1.5 -> 2
  ])('%s', (_case, S, I, nextDueMs, eta) => {
    const w: WindowView = { windowEnd: 20, nextDueMs, windowSize: S, activeWindowCount: 1, intervalMs: I, mode: 'open' };
    expect(viewTicket(50, w, 0).etaSeconds).toBe(eta);
  });

  test('after the first advance at the new rate the ETA counts down exactly', () => {
    // S 20, I 2 s from t = 0: W 20 -> 40 at 2 s; ticket 50 then needs one more advance at 4 s.
    const after: WindowView = { windowEnd: 40, nextDueMs: 4000, windowSize: 20, activeWindowCount: 1, intervalMs: 2000, mode: 'open' };
    expect(viewTicket(50, after, 2000).etaSeconds).toBe(2);
    expect(viewTicket(50, after, 3500).etaSeconds).toBe(1);
    expect(viewTicket(50, { ...after, windowEnd: 60, nextDueMs: 6000 }, 4000).status).toBe('active');
  });
});
