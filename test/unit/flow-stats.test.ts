import { normalise, perMinute, queueLength, resample, waitStats, type FlowPoint } from '../../internal/analytics/flow-stats';

const s = (sec: number, issued: number, admitted: number): FlowPoint => ({ t: sec * 1000, issued, admitted });

/*
 * An exact small queue (times in seconds):
 *   t=0  nothing yet; W = 2 free places (the queue starts with W = S)
 *   t=1  tickets 1-3 join: 1 and 2 are admitted at once (W = 2), 3 waits
 *   t=2  tickets 4-5 join
 *   t=4  W = 4: tickets 3, 4 admitted (3 waited 3 s, 4 waited 2 s)
 *   t=7  W = 6, counter 6: ticket 5 admitted (waited 5 s); ticket 6 joins and is admitted at once (0 s)
 * Waits sorted: 0, 0, 0, 2, 3, 5 (tickets 1, 2, 6, 4, 3, 5).
 */
const queue = [s(0, 0, 2), s(1, 3, 2), s(2, 5, 2), s(4, 5, 4), s(7, 6, 6)];

describe('waitStats: time in queue from the two step curves', () => {
  it.each([
    // [from s, to s, visitors, withoutJoinTime, p50, p90, p99, max]
    ['the whole queue', -1, 10, 6, 0, 0, 5, 5, 5],
    ['only admissions at t=4', 3, 4, 2, 0, 2, 3, 3, 3],
    ['only admissions at t=7', 4, 7, 2, 0, 0, 5, 5, 5],
    ['admissions at t=1 only (two at once)', 0, 1, 2, 0, 0, 0, 0, 0],
    ['a range without admissions', 4, 6, 0, 0, null, null, null, null],
  ])('%s', (_what, from, to, visitors, without, p50, p90, p99, max) => {
    expect(waitStats(queue, (from as number) * 1000, (to as number) * 1000)).toEqual({ visitors, withoutJoinTime: without, p50, p90, p99, max });
  });

  it('nearest rank over many visitors: 100 visitors who waited 1..100 s', () => {
    // One visitor joins each second t = 1..100 and all are admitted together at t = 101.
    const samples: FlowPoint[] = [s(0, 0, 0)];
    for (let t = 1; t <= 100; t++) samples.push(s(t, t, 0));
    samples.push(s(101, 100, 100));
    expect(waitStats(samples, 0, 200_000)).toEqual({ visitors: 100, withoutJoinTime: 0, p50: 50, p90: 90, p99: 99, max: 100 });
  });

  it('visitors who joined before the first sample are counted apart, not guessed', () => {
    // 10 already waiting at the first sample; 5 more join at t=1; all 15 admitted at t=3.
    expect(waitStats([s(0, 10, 0), s(1, 15, 0), s(3, 15, 15)], 0, 10_000)).toEqual({ visitors: 5, withoutJoinTime: 10, p50: 2, p90: 2, p99: 2, max: 2 });
  });

  it('a counter that goes down (a new epoch) starts the figures over', () => {
    const samples = [s(0, 0, 0), s(1, 50, 0), s(2, 50, 50), s(3, 2, 0), s(5, 2, 2)];
    expect(normalise(samples)[0]).toEqual(s(3, 2, 0));
    expect(waitStats(samples, 0, 10_000)).toEqual({ visitors: 0, withoutJoinTime: 2, p50: null, p90: null, p99: null, max: null });
  });

  it('no samples: no figures', () => {
    expect(waitStats([], 0, 1000).visitors).toBe(0);
  });
});

describe('queueLength: the vertical gap', () => {
  it.each([
    // [from s, to s, current, max]
    [0, 10, 0, 3], // A − D: 0, 1, 3, 1, 0
    [2, 3, 3, 3], // value at t=2 holds until t=4
    [4, 6, 1, 1],
    [-5, -1, 0, 0], // before any sample
  ])('from %d s to %d s: current %d, max %d', (from, to, current, max) => {
    expect(queueLength(queue, from * 1000, to * 1000)).toEqual({ current, max });
  });
});

describe('resample: the curves on a grid, filled forward', () => {
  it('takes the last sample at or before each point; null before the first', () => {
    expect(resample(queue, -1000, 8000, 2000)).toEqual({
      t: [-1000, 1000, 3000, 5000, 7000],
      issued: [null, 3, 5, 5, 6],
      admitted: [null, 2, 2, 4, 6],
    });
  });
});

describe('perMinute: joins and admissions per minute', () => {
  it('counts what each curve rose by in each minute', () => {
    const m = (min: number, sec: number, i: number, a: number) => s(min * 60 + sec, i, a);
    const samples = [m(0, 0, 0, 0), m(0, 30, 40, 10), m(1, 10, 100, 50), m(2, 0, 100, 100)];
    expect(perMinute(samples, 0, 180_000)).toEqual({ t: [0, 60_000, 120_000], joins: [40, 60, 0], admissions: [10, 90, 0] });
    expect(perMinute(samples, -60_000, 60_000)).toEqual({ t: [-60_000, 0], joins: [null, 40], admissions: [null, 10] });
  });
});
