import { describeRedisTarget, parseRedisUrl } from '../../internal/store/redis-url';
import { ConfigError, loadConfig } from '../../internal/config/config';

function problems(env: Record<string, string>): Record<string, string> {
  try {
    loadConfig(env);
    return {};
  } catch (err) {
    if (err instanceof ConfigError) return { ...err.problems };
    throw err;
  }
}

describe('parseRedisUrl: one URL form per topology', () => {
  test.each([
    ['redis://127.0.0.1:6379', { topology: 'single', tls: false, nodes: [{ host: '127.0.0.1', port: 6379 }], database: 0 }],
    ['redis://redis', { topology: 'single', nodes: [{ host: 'redis', port: 6379 }] }],
    ['redis://redis:6380/3', { topology: 'single', database: 3 }],
    ['rediss://u:p%40ss@cache.example.com:6380/0', { topology: 'single', tls: true, username: 'u', password: 'p@ss' }],
    ['redis://:onlypass@h:1', { username: undefined, password: 'onlypass' }],
    ['redis://[::1]:7000', { nodes: [{ host: '::1', port: 7000 }] }],
    ['redis-cluster://h1:7000,h2:7001,h3', { topology: 'cluster', tls: false, nodes: [{ host: 'h1', port: 7000 }, { host: 'h2', port: 7001 }, { host: 'h3', port: 6379 }] }],
    ['rediss-cluster://app:s3cret@h1:7000', { topology: 'cluster', tls: true, username: 'app', password: 's3cret' }],
    ['redis-sentinel://s1:26379,s2/mymaster', { topology: 'sentinel', masterName: 'mymaster', nodes: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], database: 0 }],
    ['rediss-sentinel://w:pw@s1:26379/main/2', { topology: 'sentinel', tls: true, masterName: 'main', database: 2, username: 'w', password: 'pw' }],
    ['redis-sentinel://s1/m?sentinelUsername=sen&sentinelPassword=x%2Fy', { sentinelUsername: 'sen', sentinelPassword: 'x/y' }],
    ['REDIS-CLUSTER://h1:1', { topology: 'cluster' }],
  ])('%s', (url, expected) => {
    expect(parseRedisUrl(url)).toMatchObject(expected);
  });

  test.each([
    ['http://redis:6379', /must start with/],
    ['redis+sentinel://s1/m', /must/],
    ['redis:/nohost', /must be a URL/],
    ['redis://', /no host/],
    ['redis://h1:1,h2:2', /redis-cluster:\/\/ or redis-sentinel/],
    ['redis://h:0', /invalid port/],
    ['redis://h:70000', /invalid port/],
    ['redis://h:x', /unreadable node address/],
    ['redis://h/db', /invalid database/],
    ['redis://h/1/2', /path beyond/],
    ['redis-cluster://h1:1/0', /only database 0/],
    ['redis-sentinel://s1:26379', /master name/],
    ['redis-sentinel://s1/m/1/2', /path beyond/],
    ['redis://user@h', /user without a password/],
    ['redis://h?sentinelPassword=x', /redis-sentinel:\/\/ URLs only/],
    ['redis-sentinel://s/m?foo=1', /unknown parameter "foo"/],
    ['redis://u:%E0%A4%A@h', /percent-encoded password/],
  ])('refuses %s', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(message);
  });

  test('errors and log descriptions never contain the password', () => {
    expect(describeRedisTarget(parseRedisUrl('rediss-sentinel://w:topsecret@s1:26379,s2:26380/main'))).toBe('rediss-sentinel://w:***@s1:26379,s2:26380/main');
    expect(describeRedisTarget(parseRedisUrl('redis-cluster://h1:1,[::1]:2'))).toBe('redis-cluster://h1:1,[::1]:2');
    expect(() => parseRedisUrl('redis://u:topsecret@h:99999')).toThrow(/^(?!.*topsecret)/);
  });

  test('config accepts every scheme and names a bad one', () => {
    for (const url of ['redis://h', 'rediss://h', 'redis-cluster://a:1,b:2', 'rediss-cluster://a:1', 'redis-sentinel://a:1/m', 'rediss-sentinel://a:1/m']) {
      expect(problems({ REDIS_URL: url }).REDIS_URL).toBeUndefined();
    }
    expect(problems({ REDIS_URL: 'redis+sentinel://s1/m' }).REDIS_URL).toMatch(/must start with one of redis:\/\//);
  });
});
