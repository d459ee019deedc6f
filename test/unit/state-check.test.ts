import { NOTHING_SEEN, type HighWater } from '../../internal/queue/queue-state';
import { checkState, FIELD_RANGES, MAX_EXACT, rollbackReason, strictInt } from '../../internal/queue/state-check';

describe('strictInt: only plain decimal integers in range', () => {
  test.each<[unknown, number | undefined]>([
    ['0', 0],
    ['42', 42],
    ['-1', undefined], // below lo = 0
    [String(MAX_EXACT), MAX_EXACT],
    [String(MAX_EXACT + 1), undefined],
    ['99999999999999999999', undefined],
    ['nan', undefined],
    ['NaN', undefined],
    ['inf', undefined],
    ['-inf', undefined],
    ['Infinity', undefined],
    ['1e400', undefined],
    ['1e3', undefined],
    ['1.5', undefined],
    ['1.0', undefined],
    ['0x10', undefined],
    [' 7', undefined],
    ['7 ', undefined],
    ['', undefined],
    ['+7', undefined],
    [7, 7],
    [7.5, undefined],
    [Number.NaN, undefined],
    [Number.POSITIVE_INFINITY, undefined],
    [null, undefined],
    [undefined, undefined],
    [false, undefined],
  ])('%p -> %p', (v, want) => {
    expect(strictInt(v, 0, MAX_EXACT)).toBe(want);
  });

  test('range bounds are inclusive', () => {
    expect(strictInt('1', 1, 3)).toBe(1);
    expect(strictInt('3', 1, 3)).toBe(3);
    expect(strictInt('0', 1, 3)).toBeUndefined();
    expect(strictInt('4', 1, 3)).toBeUndefined();
    expect(strictInt('-5', -10, 0)).toBe(-5);
  });
});

const GOOD = { epoch: 'e1', windowEnd: '20', nextDueMs: '1795513367000', windowSize: '10', intervalMs: '1000', activeWindowCount: '2', version: '3', counter: '25' };

describe('checkState: every field validated, the first bad one named', () => {
  test('a sound state passes with numbers', () => {
    const c = checkState(GOOD);
    expect(c).toEqual({ ok: true, state: { epoch: 'e1', windowEnd: 20, nextDueMs: 1795513367000, windowSize: 10, intervalMs: 1000, activeWindowCount: 2, version: 3, counter: 25, opensAtMs: 0, mode: 'open' } });
  });

  test('a state with a queue mode and an opening time passes', () => {
    const c = checkState({ ...GOOD, mode: 'paused', opensAtMs: '1795513368000' });
    expect(c.ok && c.state.mode).toBe('paused');
    expect(c.ok && c.state.opensAtMs).toBe(1795513368000);
  });

  const cases: Array<[string, unknown]> = [
    ['epoch', ''],
    ['epoch', undefined],
    ['epoch', 'x'.repeat(65)],
    ['windowSize', '0'],
    ['windowSize', String(FIELD_RANGES.windowSize[1] + 1)],
    ['intervalMs', '0'],
    ['intervalMs', String(FIELD_RANGES.intervalMs[1] + 1)],
    ['activeWindowCount', '0'],
    ['activeWindowCount', String(FIELD_RANGES.activeWindowCount[1] + 1)],
    ['version', '0'],
    ['counter', '-100'],
    ['windowEnd', '-1'],
    ['nextDueMs', '-1'],
    ['opensAtMs', '-1'],
    ['mode', 'ajar'],
    ['mode', ''],
    ['mode', 7],
  ];
  for (const field of ['windowEnd', 'nextDueMs', 'windowSize', 'intervalMs', 'activeWindowCount', 'version', 'counter']) {
    for (const v of ['nan', 'inf', '1e400', '1.5', 'abc', undefined]) cases.push([field, v]);
  }
  // opensAtMs and mode may be absent (a state from before queue states: open, no opening time), never damaged.
  for (const v of ['nan', 'inf', '1e400', '1.5', 'abc', null]) cases.push(['opensAtMs', v]);
  test.each(cases)('%s = %p is refused', (field, value) => {
    expect(checkState({ ...GOOD, [field]: value })).toEqual({ ok: false, field, value });
  });
});

describe('rollbackReason: the same tests as the scripts', () => {
  const state = { epoch: 'e2', counter: 100, windowEnd: 50, windowSize: 10, version: 7 };
  const seen = (over: Partial<HighWater>): HighWater => ({ epoch: 'e2', counter: 100, windowEnd: 50, version: 7, retired: ['e1'], ...over });

  test.each<[string, Partial<typeof state>, HighWater, string | null]>([
    ['nothing seen, sound state', {}, NOTHING_SEEN, null],
    ['exactly what was seen', {}, seen({}), null],
    ['ahead of what was seen', { counter: 150, windowEnd: 60, version: 8 }, seen({}), null],
    ['counter one below', { counter: 99 }, seen({}), 'counter_below_seen'],
    ['W one below', { windowEnd: 40 }, seen({}), 'window_below_seen'],
    ['version one below', { version: 6 }, seen({}), 'version_below_seen'],
    ['a retired epoch came back', { epoch: 'e1' }, seen({}), 'retired_epoch'],
    ['another epoch (created elsewhere): not compared', { epoch: 'e3', counter: 0, windowEnd: 10, version: 1 }, seen({}), null],
    ['W = counter + S (a fresh queue) is sound', { counter: 0, windowEnd: 10 }, NOTHING_SEEN, null],
    ['W = counter + S + 1: the counter was set back', { counter: 0, windowEnd: 11 }, NOTHING_SEEN, 'window_above_counter'],
    ['a hand SET of the counter far below W, with no memory', { counter: 5 }, NOTHING_SEEN, 'window_above_counter'],
  ])('%s', (_name, over, hw, want) => {
    expect(rollbackReason({ ...state, ...over }, hw)).toBe(want);
  });
});
