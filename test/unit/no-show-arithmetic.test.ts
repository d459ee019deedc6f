import { compensatedMove, NO_SHOW_MAX_MOVE, viewTicket, windowsUntilAdmitted, type WindowView } from '../../internal/queue/arithmetic';

/** A gone pattern as a string: one character per ticket from W+1 on, 'x' = gone, '.' = present. */
const goneFrom = (pattern: string) => (i: number) => pattern[i - 1] === 'x';

describe('compensatedMove: W moves to the n-th present ticket, never past the limit', () => {
  test.each<[string, number, number, number, number]>([
    // pattern, want, limit, move, present
    ['.....', 3, 24, 3, 3], // nobody left: W += n, as without compensation
    ['x.x.x.', 3, 24, 6, 3], // every other one gone: the move doubles
    ['xx...', 3, 24, 5, 3], // gone ones at the head are skipped
    ['...xx.', 3, 24, 3, 3], // gone ones after the n-th present wait for the next advance
    ['..x', 3, 24, 4, 3], // past the pattern: tickets not yet issued, never gone
    ['xxxxxxxxxx', 2, 8, 8, 0], // all gone up to the bound: W moves 8 = B·n, admits none
    ['xxxxxx..', 2, 8, 8, 2], // the n-th present exactly at the bound
    ['xxxxxxx..', 2, 8, 8, 1], // the bound cuts: one admitted
    ['x', 0, 8, 0, 0], // nothing wanted (a full site): W stays
    ['x.', 1, 1, 1, 0], // a cap's limit (the counter) of one ticket, gone
  ])('%s want=%i limit=%i -> move %i, present %i', (pattern, want, limit, move, present) => {
    expect(compensatedMove(want, limit, goneFrom(pattern))).toEqual({ move, present });
  });

  test('the bound is 8 moves per admitted ticket', () => expect(NO_SHOW_MAX_MOVE).toBe(8));
});

describe('the ETA of a compensating queue is an upper bound (etaKind upperBound)', () => {
  const w: WindowView = { windowEnd: 20, nextDueMs: 10_000, windowSize: 10, activeWindowCount: 1, intervalMs: 5_000 };
  test.each<[string, number, boolean, number, string]>([
    // what, ticket, compensating, etaSeconds, etaKind
    ['compensation off: exact', 30, false, 10, 'exact'],
    ['compensation on: the same number, an upper bound', 30, true, 10, 'upperBound'],
    ['two advances away', 31, true, 15, 'upperBound'],
    ['admitted tickets are exact whatever the setting', 15, true, 0, 'exact'],
  ])('%s', (_what, t, compensating, eta, kind) => {
    const v = viewTicket(t, w, 0, 0, compensating);
    expect(v.etaSeconds).toBe(eta);
    expect(v.etaKind).toBe(kind);
  });

  test('with a cap the ETA stays an estimate', () => {
    expect(viewTicket(30, { ...w, maxActive: 5 }, 0, 0, true).etaKind).toBe('estimate');
  });

  test('paused: unknown, whatever the setting', () => {
    expect(viewTicket(30, { ...w, mode: 'paused' }, 0, 0, true)).toMatchObject({ etaSeconds: null, etaKind: 'unknown' });
  });

  // Why it holds: every advance moves W by at least S (S present tickets among at least S), so a
  // ticket t that needs ceil((t − W)/S) advances at some W is admitted within that many. Checked
  // here for every present ticket at every step of hand-written leave patterns.
  test.each<[string, number, string]>([
    ['half gone, alternating', 4, '.x'.repeat(30)],
    ['a block gone at the head', 3, 'xxxxxxxxx' + '.'.repeat(40)],
    ['nobody gone', 5, '.'.repeat(50)],
    ['most gone', 2, 'xxx.'.repeat(20)],
    ['everyone gone in a stretch longer than the bound', 2, 'x'.repeat(30) + '.'.repeat(10)],
  ])('%s (S=%i): no present ticket is admitted later than any ETA it was given', (_what, S, pattern) => {
    const gone = (t: number) => pattern[t - 1] === 'x';
    const ws = [0];
    while (ws[ws.length - 1]! < pattern.length) {
      const W = ws[ws.length - 1]!;
      const m = compensatedMove(S, NO_SHOW_MAX_MOVE * S, (i) => gone(W + i));
      expect(m.move).toBeGreaterThanOrEqual(S);
      expect(m.present === S || m.move === NO_SHOW_MAX_MOVE * S).toBe(true);
      ws.push(W + m.move);
    }
    for (let t = 1; t <= pattern.length; t++) {
      if (gone(t)) continue;
      const admittedAt = ws.findIndex((W) => W >= t);
      for (let k = 0; k < admittedAt; k++) {
        expect(admittedAt - k).toBeLessThanOrEqual(windowsUntilAdmitted(t, ws[k]!, S));
      }
    }
  });
});
