import { LogThrottle } from '../../internal/observability/log-throttle';

describe('LogThrottle', () => {
  test.each([
    // [ms offsets of calls for one key, expected results]
    [[0], [0]],
    [[0, 10, 999], [0, -1, -1]],
    [[0, 10, 999, 1000], [0, -1, -1, 2]],
    [[0, 1000, 2000], [0, 0, 0]],
    [[0, 500, 1500, 1600, 2600], [0, -1, 1, -1, 1]],
  ])('calls at %j -> %j', (times, expected) => {
    const t = new LogThrottle(1000);
    expect(times.map((ms) => t.admit('k', ms))).toEqual(expected);
  });

  test('keys are independent', () => {
    const t = new LogThrottle(1000);
    expect(t.admit('/status invalid_token', 0)).toBe(0);
    expect(t.admit('/verify pass_missing', 1)).toBe(0);
    expect(t.admit('/status invalid_token', 2)).toBe(-1);
  });

  test('the key table is bounded', () => {
    const t = new LogThrottle(1000, 2);
    t.admit('a', 0);
    t.admit('b', 0);
    expect(t.admit('c', 0)).toBe(0);
    expect((t as unknown as { last: Map<string, unknown> }).last.size).toBeLessThanOrEqual(2);
  });
});
