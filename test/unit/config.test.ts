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
    // The bounds the queue state's validation enforces (internal/queue/state-check.ts).
    ['WINDOW_SIZE', '1000000001'],
    ['WINDOW_INTERVAL', '604801'],
    ['ACTIVE_WINDOW_COUNT', '1000001'],
    ['JOIN_DURABILITY', 'disk'],
    ['JOIN_DURABILITY_TIMEOUT_MS', '1000'],
    ['JOIN_DURABILITY_TIMEOUT_MS', '0'],
  ])('rejects %s=%s, naming the variable', (name, value) => {
    expect(Object.keys(problems({ [name]: value }))).toContain(name);
  });

  describe('JOIN_DURABILITY', () => {
    const redis = { REDIS_URL: 'redis://127.0.0.1:6390' };
    test('none by default', () => expect(loadConfig({}).joinDurability).toBeUndefined());
    test('replica waits for 1 replica by default', () => {
      expect(loadConfig({ ...redis, JOIN_DURABILITY: 'replica' }).joinDurability).toEqual({ mode: 'replica', replicas: 1, timeoutMs: 200 });
    });
    test("aof waits for the primary's own AOF by default", () => {
      expect(loadConfig({ ...redis, JOIN_DURABILITY: 'aof', JOIN_DURABILITY_TIMEOUT_MS: '50' }).joinDurability).toEqual({ mode: 'aof', replicas: 0, timeoutMs: 50 });
    });
    test.each([
      ['replica', '0'],
      ['replica', 'two'],
      ['aof', '-1'],
    ])('%s with JOIN_DURABILITY_REPLICAS=%s is refused', (mode, replicas) => {
      expect(problems({ ...redis, JOIN_DURABILITY: mode, JOIN_DURABILITY_REPLICAS: replicas }).JOIN_DURABILITY_REPLICAS).toMatch(/integer/);
    });
    test('needs REDIS_URL', () => expect(problems({ JOIN_DURABILITY: 'replica' }).JOIN_DURABILITY).toMatch(/REDIS_URL/));
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

  describe('METRICS_PORT and LOG_FORMAT', () => {
    test.each([
      ['0', 0],
      ['9464', 9464],
    ])('METRICS_PORT=%s is accepted', (v, n) => expect(loadConfig({ METRICS_PORT: v }).metricsPort).toBe(n));
    test.each(['-1', '65536', '1.5', 'x'])('METRICS_PORT=%s is refused', (v) => expect(problems({ METRICS_PORT: v }).METRICS_PORT).toBeDefined());
    test('METRICS_PORT must differ from PORT', () => expect(problems({ PORT: '9000', METRICS_PORT: '9000' }).METRICS_PORT).toMatch(/differ from PORT/));
    test('LOG_FORMAT is json by default, pretty on request, nothing else', () => {
      expect(loadConfig({}).logFormat).toBe('json');
      expect(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
      expect(problems({ LOG_FORMAT: 'text' }).LOG_FORMAT).toBeDefined();
    });
  });

  describe('start-up warnings', () => {
    const has = (env: Record<string, string>, text: string) => loadConfig(env).warnings.some((w) => w.includes(text));
    test.each([
      ['http://shop.example.com/', true, true],
      ['http://10.0.0.5:3000/', true, true],
      ['http://shop.example.com/', false, false], // PASS_COOKIE_SECURE=false: the cookie is not Secure
      ['https://shop.example.com/', true, false],
      ['http://localhost:3000/', true, false], // browsers treat loopback http as secure
      ['http://127.0.0.1:3000/', true, false],
      ['http://app.localhost:3000/', true, false],
    ])('TARGET_URL=%s with PASS_COOKIE_SECURE=%s warns of a redirect loop: %s', (url, secure, warns) => {
      expect(has({ TARGET_URL: url, PASS_COOKIE_SECURE: String(secure), WAITING_PAGE_URL: 'https://q.example.com/' }, 'plain http while PASS_COOKIE_SECURE=true')).toBe(warns);
    });
    test('an unset JWT_SECRET is called unset, a short one short', () => {
      expect(has({}, 'JWT_SECRET is not set')).toBe(true);
      expect(has({}, 'sample or short')).toBe(false);
      expect(has({ JWT_SECRET: 'short' }, 'sample or short')).toBe(true);
      expect(has({ JWT_SECRET: STRONG }, 'JWT_SECRET')).toBe(false);
    });
  });
});
