import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { defaultRevocationsUrl, EdgeConfigError, ENV_NAMES, parseEdgeConfig, type Env } from '../../deploy/edge/src/config';
import { parseQueueRoutes, PUBLIC, queueFor } from '../../deploy/edge/src/route-queues';

const WRANGLER = join(__dirname, '..', '..', 'deploy', 'edge', 'wrangler.toml');

describe('QUEUE: which queue a location belongs to', () => {
  const multi = parseQueueRoutes('/concerts/=concerts, /concerts/vip/=vip\n shop.example.com/drops/=drops, /static/=-, /=general');
  test.each([
    ['https://shop.example.com/', 'general'],
    ['https://shop.example.com/concerts', 'general'],
    ['https://shop.example.com/concerts/', 'concerts'],
    ['https://shop.example.com/concerts/tonight?x=1', 'concerts'],
    ['https://shop.example.com/concerts/vip/box', 'vip'],
    ['https://shop.example.com/drops/shoes', 'drops'],
    ['https://SHOP.example.com/drops/shoes', 'drops'],
    ['https://other.example.com/drops/shoes', 'general'],
    ['https://shop.example.com/static/app.css', PUBLIC],
    ['https://shop.example.com/Static/app.css', 'general'],
  ])('%s → %s', (url, queue) => {
    expect(queueFor(multi, new URL(url))).toBe(queue);
  });

  test('a single queue id covers every location', () => {
    const one = parseQueueRoutes(' default ');
    expect(queueFor(one, new URL('https://a.example/any/path'))).toBe('default');
  });

  test.each([
    ['', /empty/],
    ['a:b', /not a queue id/],
    ['-', /not a queue id/],
    ['/concerts/=concerts', /catch-all/],
    ['/=general, concerts=concerts', /needs a path/],
    ['/=general, /x/=bad:queue', /not a queue id/],
    ['/=general, /=other', /twice/],
    ['/=general, =x', /not pattern=queue/],
  ])('refused: %j', (spec, why) => {
    expect(() => parseQueueRoutes(spec)).toThrow(why);
  });
});

describe('the worker bindings', () => {
  const base: Env = { JWKS_URL: 'https://queue.example.com/.well-known/jwks.json', ORIGIN_URL: 'https://origin.example.com', PASS_AUDIENCE: 'https://shop.example.com', QUEUE: 'default' };

  test('defaults', () => {
    const c = parseEdgeConfig(base);
    expect(c).toMatchObject({
      cookieName: 'waitroom_pass',
      headerName: 'x-waitroom-pass',
      issuer: 'waitroom',
      failOpen: false,
      waitingRoomUrl: '',
      jwksMaxAgeSeconds: 300,
      revocationsUrl: 'https://queue.example.com/passes/revoked?queue={queue}',
      revocationsMaxAgeSeconds: 2,
      verifyCacheSize: 10_000,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  test.each([
    ['https://q.example.com/.well-known/jwks.json', 'https://q.example.com/passes/revoked?queue={queue}'],
    ['https://example.com/waitroom/.well-known/jwks.json', 'https://example.com/waitroom/passes/revoked?queue={queue}'],
    ['https://example.com/keys?x=1', 'https://example.com/keys/passes/revoked?queue={queue}'],
  ])('revocations beside the JWKS: %s → %s', (jwks, want) => {
    expect(defaultRevocationsUrl(jwks)).toBe(want);
  });

  test('TOML booleans and numbers are read like strings', () => {
    expect(parseEdgeConfig({ ...base, FAIL_OPEN: true, PASS_JWKS_MAX_AGE: 60 })).toMatchObject({ failOpen: true, jwksMaxAgeSeconds: 60 });
  });

  test('every problem is listed at once', () => {
    let err: unknown;
    try {
      parseEdgeConfig({ ORIGIN_URL: 'ftp://x', QUEUE: '/a/=a', FAIL_OPEN: 'yes', PASS_JWKS_MAX_AGE: '1e400', PASS_COOKIE: 'a b', WAITING_ROOM_URL: 'nope' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EdgeConfigError);
    const problems = (err as EdgeConfigError).problems.join('\n');
    for (const name of ['JWKS_URL is required', 'ORIGIN_URL', 'PASS_AUDIENCE is required', 'catch-all', 'FAIL_OPEN', 'PASS_JWKS_MAX_AGE', 'PASS_COOKIE', 'WAITING_ROOM_URL']) {
      expect(problems).toContain(name);
    }
  });

  test('deploy/edge/wrangler.toml: its vars are the worker\'s names and make a valid configuration', () => {
    const toml = parseToml(readFileSync(WRANGLER, 'utf8')) as { main: string; vars: Record<string, unknown> };
    expect(toml.main).toBe('src/worker.ts');
    for (const name of Object.keys(toml.vars)) expect(ENV_NAMES).toContain(name);
    for (const name of ['JWKS_URL', 'ORIGIN_URL', 'WAITING_ROOM_URL', 'PASS_COOKIE', 'PASS_AUDIENCE', 'PASS_ISSUER', 'QUEUE', 'FAIL_OPEN']) {
      expect(Object.keys(toml.vars)).toContain(name);
    }
    expect(() => parseEdgeConfig(toml.vars as Env)).not.toThrow();
  });
});
