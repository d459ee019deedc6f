import { presenceBatch } from '../../internal/queues/presence-sweeper';

describe('presenceBatch: what a replica reports in one presence sweep', () => {
  test.each<[string, Array<[number, number]>, Array<[number, number]>, number, number, number, number[], number[], number[]]>([
    // what, last contact [ticket, ms], recorded [ticket, period], W, now, grace, seen, quiet, still tracked
    ['heard from: reported seen once per period', [[10, 900]], [], 5, 1000, 300, [10], [], [10]],
    ['already recorded this period: not again', [[10, 900]], [[10, 7]], 5, 1000, 300, [], [], [10]],
    ['recorded in an earlier period: again', [[10, 900]], [[10, 6]], 5, 1000, 300, [10], [], [10]],
    ['quiet for exactly the grace: quiet, still tracked', [[10, 700]], [], 5, 1000, 300, [], [10], [10]],
    ['quiet for twice the grace: forgotten', [[10, 400]], [], 5, 1000, 300, [], [], []],
    ['quiet just under the grace: still seen', [[10, 701]], [], 5, 1000, 300, [10], [], [10]],
    ['admitted meanwhile: forgotten', [[4, 100], [5, 999]], [], 5, 1000, 300, [], [], []],
  ])('%s', (_what, contact, rec, w, now, grace, seen, quiet, tracked) => {
    const last = new Map(contact);
    const recorded = new Map(rec);
    expect(presenceBatch(last, recorded, w, now, grace, 7)).toEqual({ seen, quiet });
    expect([...last.keys()]).toEqual(tracked);
  });
});
