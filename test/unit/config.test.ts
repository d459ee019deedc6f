import { ConfigError, DEV_JWT_SECRET, describeConfig, loadConfig } from '../../internal/config/config';

const STRONG = 'x'.repeat(24) + 'production-secret-48-bytes-long!';

function problems(env: Record<string, string>): Record<string, string> {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return { ...err.problems };
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  test('development defaults work with no environment at all', () => {
    const c = loadConfig({});
    expect(c.nodeEnv).toBe('development');
    expect(c.jwtSecret).toBe(DEV_JWT_SECRET);
    expect(c.port).toBe(8080);
    expect(c.queueId).toBe('default');
    expect(c.windowSize).toBe(10);
    expect(c.windowIntervalMs).toBe(10_000);
    expect(c.leaseRenewMs).toBe(Math.floor(5000 / 3));
    expect(c.warnings.join('\n')).toMatch(/JWT_SECRET/);
    expect(Object.isFrozen(c)).toBe(true);
  });

  test('WINDOW_INTERVAL is seconds and accepts fractions', () => {
    expect(loadConfig({ WINDOW_INTERVAL: '0.05' }).windowIntervalMs).toBe(50);
    expect(loadConfig({ WINDOW_INTERVAL: '2.5' }).windowIntervalMs).toBe(2500);
  });

  test('ACTIVE_WINDOW_COUNT=1 warns, as the original design does', () => {
    expect(loadConfig({ ACTIVE_WINDOW_COUNT: '1' }).warnings.join('\n')).toMatch(/ACTIVE_WINDOW_COUNT=1/);
    expect(loadConfig({ ACTIVE_WINDOW_COUNT: '2', JWT_SECRET: STRONG }).warnings).toEqual([]);
  });

  test.each([
    ['WINDOW_SIZE', '0'],
    ['WINDOW_SIZE', '-3'],
    ['WINDOW_SIZE', '1.5'],
    ['WINDOW_SIZE', 'ten'],
    ['WINDOW_INTERVAL', '0'],
    ['WINDOW_INTERVAL', 'soon'],
    ['ACTIVE_WINDOW_COUNT', '0'],
    ['TICKET_TTL', '-1'],
    ['PORT', '70000'],
    ['QUEUE_ID', 'has space'],
    ['QUEUE_ID', '{tag}'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_SAMPLE_RATE', '2'],
    ['REDIS_URL', 'http://localhost'],
    ['TARGET_URL', 'not a url'],
    ['LEASE_RENEW_MS', '6000'],
  ])('rejects %s=%s, naming the variable', (name, value) => {
    expect(Object.keys(problems({ [name]: value }))).toContain(name);
  });

  test('every bad variable is named in one error', () => {
    const p = problems({ WINDOW_SIZE: '0', PORT: 'x', LOG_LEVEL: 'loud' });
    expect(Object.keys(p).sort()).toEqual(['LOG_LEVEL', 'PORT', 'WINDOW_SIZE']);
    try {
      loadConfig({ WINDOW_SIZE: '0', PORT: 'x' });
    } catch (err) {
      expect((err as Error).message).toMatch(/WINDOW_SIZE/);
      expect((err as Error).message).toMatch(/PORT/);
    }
  });

  describe('production', () => {
    const base = { NODE_ENV: 'production', REDIS_URL: 'redis://redis:6379', PASS_KEYS_DIR: '/run/secrets/waitroom-pass-keys' };
    test('requires JWT_SECRET', () => expect(problems(base).JWT_SECRET).toMatch(/required/));
    test('refuses a secret shorter than 32 bytes', () => expect(problems({ ...base, JWT_SECRET: 'short-secret' }).JWT_SECRET).toMatch(/32 bytes/));
    test('refuses a published sample secret', () => expect(problems({ ...base, JWT_SECRET: DEV_JWT_SECRET }).JWT_SECRET).toMatch(/sample/));
    test('requires REDIS_URL', () => expect(problems({ NODE_ENV: 'production', JWT_SECRET: STRONG }).REDIS_URL).toMatch(/required/));
    test('requires PASS_KEYS_DIR (generated development keys are neither shared nor secret)', () => {
      expect(problems({ NODE_ENV: 'production', JWT_SECRET: STRONG, REDIS_URL: 'redis://redis:6379' }).PASS_KEYS_DIR).toMatch(/required/);
    });
    test('accepts a strong secret and a Redis URL', () => {
      const c = loadConfig({ ...base, JWT_SECRET: STRONG });
      expect(c.nodeEnv).toBe('production');
      expect(c.redisUrl).toBe('redis://redis:6379');
    });
  });

  test('every variable has a description and an example', () => {
    for (const v of describeConfig()) {
      expect(v.desc.length).toBeGreaterThan(10);
      expect(v.example.length).toBeGreaterThan(0);
    }
  });
});
