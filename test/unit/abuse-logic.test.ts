import { addressPrefix, clientIdentity } from '../../internal/abuse/address-prefix';
import { ForgeryGuard } from '../../internal/abuse/forgery-guard';
import { JoinRateMeter } from '../../internal/abuse/join-rate';
import { rateLimitHeaders } from '../../internal/abuse/rate-limit-headers';
import { takeToken, type BucketState } from '../../internal/abuse/token-bucket';

describe('takeToken (the arithmetic of rate-limit.lua)', () => {
  const limits = { burst: 3, ratePerSecond: 2 };
  it.each<[string, BucketState | undefined, number, boolean, number, number, number]>([
    // name, previous state, now, allowed, remaining, retryAfterMs, fullInMs
    ['a new client gets a full bucket', undefined, 1000, true, 2, 0, 500],
    ['the last token', { tokens: 1, ts: 1000 }, 1000, true, 0, 0, 1500],
    ['an empty bucket refuses and says when one token is back', { tokens: 0, ts: 1000 }, 1000, false, 0, 500, 1500],
    ['half a token is not a token', { tokens: 0.5, ts: 1000 }, 1000, false, 0, 250, 1250],
    ['refills at the rate: 500 ms = 1 token', { tokens: 0, ts: 1000 }, 1500, true, 0, 0, 1500],
    ['never above the burst', { tokens: 0, ts: 0 }, 100_000, true, 2, 0, 500],
    ['a state from the future is unreadable: full bucket', { tokens: 0, ts: 5000 }, 1000, true, 2, 0, 500],
    ['NaN tokens: full bucket', { tokens: Number.NaN, ts: 1000 }, 1000, true, 2, 0, 500],
    ['Infinity tokens: full bucket', { tokens: Number.POSITIVE_INFINITY, ts: 1000 }, 1000, true, 2, 0, 500],
    ['negative tokens: full bucket', { tokens: -5, ts: 1000 }, 1000, true, 2, 0, 500],
  ])('%s', (_name, prev, now, allowed, remaining, retry, fullIn) => {
    const { verdict } = takeToken(prev, limits, now);
    expect(verdict).toEqual({ allowed, remaining, retryAfterMs: retry, fullInMs: fullIn });
  });

  it('a burst of 200 at 2/s: 200 at once, then one every 500 ms', () => {
    const l = { burst: 200, ratePerSecond: 2 };
    let s: BucketState | undefined;
    let allowed = 0;
    for (let i = 0; i < 250; i++) {
      const r = takeToken(s, l, 0);
      s = r.next;
      if (r.verdict.allowed) allowed++;
    }
    expect(allowed).toBe(200);
    expect(takeToken(s, l, 499).verdict.allowed).toBe(false);
    expect(takeToken(s, l, 500).verdict.allowed).toBe(true);
  });
});

describe('rateLimitHeaders', () => {
  it('emits the draft-8 RateLimit and RateLimit-Policy fields, and Retry-After when refused', () => {
    const l = { burst: 200, ratePerSecond: 2 };
    expect(rateLimitHeaders('join', l, { allowed: true, remaining: 199, retryAfterMs: 0, fullInMs: 500 })).toEqual({
      'RateLimit-Policy': '"join"; q=200; w=100',
      RateLimit: '"join"; r=199; t=1',
    });
    expect(rateLimitHeaders('join', l, { allowed: false, remaining: 0, retryAfterMs: 1200, fullInMs: 100_000 })).toEqual({
      'RateLimit-Policy': '"join"; q=200; w=100',
      RateLimit: '"join"; r=0; t=100',
      'Retry-After': '2',
    });
  });
});

describe('JoinRateMeter', () => {
  it.each<[string, Array<[string, number, number]>, number, number]>([
    ['no reading', [], 0, 0],
    ['one reading', [['e', 10, 0]], 0, 0],
    ['100 joins over 1 s', [['e', 0, 0], ['e', 100, 1000]], 1000, 100],
    ['over the last 5 s only', [['e', 0, 0], ['e', 1000, 1000], ['e', 1000, 7000], ['e', 1600, 8000]], 8000, 600],
    ['readings 10 ms apart count over at least 500 ms', [['e', 0, 0], ['e', 50, 10]], 10, 100],
    ['a new epoch restarts the count', [['e', 0, 0], ['f', 5, 1000], ['f', 15, 2000]], 2000, 10],
    ['a quiet queue reads 0 after the span', [['e', 0, 0], ['e', 100, 1000]], 7000, 0],
    ['a counter that went down restarts the count', [['e', 50, 0], ['e', 10, 1000], ['e', 20, 2000]], 2000, 10],
    ['a counter that went down starts the count again from that reading', [['e', 50, 0], ['e', 100, 1000], ['e', 10, 1000], ['e', 20, 1500]], 1500, 20],
    ['readings at one time keep the highest counter', [['e', 0, 0], ['e', 100, 1000], ['e', 150, 1000], ['e', 150, 900]], 1000, 150],
  ])('%s', (_name, samples, now, expected) => {
    const m = new JoinRateMeter(5000, 500);
    for (const [epoch, counter, atMs] of samples) m.add(epoch, counter, atMs);
    expect(m.perSecond(now)).toBeCloseTo(expected, 6);
  });

  it('a reading every millisecond: a bounded number of readings, and the rate of the last span', () => {
    const m = new JoinRateMeter(5000, 500);
    let counter = 0;
    let most = 0;
    for (let t = 0; t <= 20_000; t++) {
      // 1 join per ms for 10 s, then 3 per ms.
      counter += t < 10_000 ? 1 : 3;
      m.add('e', counter, t);
      most = Math.max(most, m.readings);
    }
    // A reading a granule (100 ms) after the one before the newest is kept: about one per
    // granule over the 5 s span, far under the ring's 112 (a ring that filled would have
    // dropped the oldest, and still passed a bound of 112).
    expect(most).toBeLessThanOrEqual(53);
    // Exactly 3,000/s over the last 5 s; the window's start is coarser by at most a granule.
    expect(m.perSecond(20_000)).toBeGreaterThan(2999);
    expect(m.perSecond(20_000)).toBeLessThan(3001);
    // Halfway through the change: 2,000/s give or take a granule's worth (2%).
    const half = new JoinRateMeter(5000, 500);
    counter = 0;
    for (let t = 0; t <= 12_500; t++) {
      counter += t < 10_000 ? 1 : 3;
      half.add('e', counter, t);
    }
    // Within a granule's worth of the span (2%).
    expect(Math.abs(half.perSecond(12_500) / 2000 - 1)).toBeLessThan(0.02);
  });

  it('the worst spacing, pairs of readings 1 ms apart every 100 ms, stays within the ring', () => {
    const m = new JoinRateMeter(5000, 500);
    let most = 0;
    for (let g = 0; g < 200; g++) {
      m.add('e', 2 * g, g * 100);
      m.add('e', 2 * g + 1, g * 100 + 1);
      most = Math.max(most, m.readings);
    }
    expect(most).toBeLessThanOrEqual(102);
    // 2 joins per 100 ms.
    expect(m.perSecond(19_901)).toBeCloseTo(20, 0);
  });
});

describe('ForgeryGuard', () => {
  it('blocks a client after more than `limit` forged tokens in a minute, for blockMs, and no one else', () => {
    const g = new ForgeryGuard({ limit: 3, blockMs: 10_000 });
    for (let i = 0; i < 3; i++) expect(g.note('a', 'invalid_token', 1000 + i)).toBe(false);
    expect(g.note('a', 'token_expired', 1010)).toBe(false); // an expired token is no forgery
    expect(g.blockedFor('a', 1010)).toBe(0);
    expect(g.note('a', 'pass_invalid', 1020)).toBe(true);
    expect(g.blockedFor('a', 1020)).toBe(10_000);
    expect(g.blockedFor('b', 1020)).toBe(0);
    expect(g.blockedFor('a', 11_019)).toBe(1);
    expect(g.blockedFor('a', 11_020)).toBe(0);
  });

  it('counts per minute: forged tokens spread over minutes never block', () => {
    const g = new ForgeryGuard({ limit: 3, blockMs: 10_000 });
    for (let i = 0; i < 30; i++) expect(g.note('a', 'invalid_token', i * 20_000)).toBe(false);
  });

  it('limit 0 turns it off', () => {
    const g = new ForgeryGuard({ limit: 0, blockMs: 10_000 });
    for (let i = 0; i < 100; i++) expect(g.note('a', 'invalid_token', i)).toBe(false);
  });
});

describe('addressPrefix and clientIdentity', () => {
  it.each([
    ['203.0.113.77', '203.0.113.0/24', '203.0.113.77'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64', '2001:db8:0:0::/64'],
    ['2001:0DB8:0001:0002::9', '2001:db8:1:2::/64', '2001:db8:1:2::/64'],
    ['::ffff:198.51.100.7', '198.51.100.0/24', '198.51.100.7'],
    ['::1', '0:0:0:0::/64', '0:0:0:0::/64'],
    ['unknown', 'unknown', 'unknown'],
  ])('%s is in %s and counted as %s', (ip, prefix, identity) => {
    expect(addressPrefix(ip)).toBe(prefix);
    expect(clientIdentity(ip)).toBe(identity);
  });
});
