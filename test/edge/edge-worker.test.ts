import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { REVOCATIONS_TYP, verifyRevocationList } from '../../internal/admission/pass-check';
import { EchoOrigin, type Echo } from '../helpers/echo-origin';
import { bundleEdgeWorker, EdgeWorker, httpGet, type HttpAnswer } from '../helpers/edge-worker';
import { TestKeyDir } from '../helpers/pass-keys';
import { freePort, waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

const SITE_KEY = 'site-key-0123456789abcdef0123456789abcdef';
const AUDIENCE = 'https://shop.example.test';
const QUEUE = 'edge';
// A browser navigation sends Sec-Fetch-Mode: navigate; an API call asks for JSON.
const PAGE = { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8', 'Sec-Fetch-Mode': 'navigate' };
const API = { Accept: 'application/json' };
/** The worker's REVOCATIONS_MAX_AGE here; the documented bound is this plus 1 s. */
const REVOCATIONS_MAX_AGE = 1;

/**
 * The edge gate (deploy/edge) in the real runtime: the bundled worker runs in
 * workerd through Miniflare, in front of an origin process, and checks passes
 * that a waitroom server process (with its own redis-server) issued, against
 * that server's JWKS and signed revocation list, all over loopback.
 */
describe('the edge gate in workerd', () => {
  let bundle: { file: string; close(): void };
  let redis: TestRedis;
  let keys: TestKeyDir;
  let rogue: TestKeyDir;
  let waitroom: ServerProcess;
  let origin: EchoOrigin;
  let edge: EdgeWorker;
  const started: EdgeWorker[] = [];

  const vars = (over: Record<string, string> = {}): Record<string, string> => ({
    JWKS_URL: `${waitroom.url}/.well-known/jwks.json`,
    ORIGIN_URL: origin.url,
    WAITING_ROOM_URL: 'https://queue.example.test/',
    PASS_COOKIE: 'waitroom_pass',
    PASS_AUDIENCE: AUDIENCE,
    PASS_ISSUER: 'waitroom',
    QUEUE,
    FAIL_OPEN: 'false',
    PASS_JWKS_MAX_AGE: '1',
    REVOCATIONS_MAX_AGE: String(REVOCATIONS_MAX_AGE),
    ...over,
  });
  const startEdge = async (over: Record<string, string> = {}) => {
    const w = await EdgeWorker.start(bundle.file, vars(over));
    started.push(w);
    return w;
  };

  beforeAll(async () => {
    bundle = await bundleEdgeWorker();
    redis = await TestRedis.start();
    keys = new TestKeyDir().add('2026-01-a', 'ES256');
    rogue = new TestKeyDir().add('2026-01-a', 'ES256').add('rogue', 'ES256');
    waitroom = await ServerProcess.start({
      REDIS_URL: redis.url,
      QUEUE_ID: QUEUE,
      PASS_KEYS_DIR: keys.dir,
      PASS_KEYS_RELOAD_MS: '100',
      PASS_AUDIENCE: AUDIENCE,
      WINDOW_SIZE: '1000',
      WINDOW_INTERVAL: '0.2',
      ACTIVE_WINDOW_COUNT: '1000',
      TARGET_URL: `${AUDIENCE}/`,
      SITE_API_KEYS: SITE_KEY,
      PASS_COOKIE_SECURE: 'false',
    });
    origin = await EchoOrigin.start();
    edge = await startEdge();
  }, 60_000);

  afterAll(async () => {
    for (const w of started) await w.stop();
    await origin?.stop();
    await waitroom?.stop();
    await redis?.close();
    keys?.close();
    rogue?.close();
    bundle?.close();
  });

  /** A real pass: join the queue, wait for the window, claim. */
  const claimPass = async (): Promise<string> => {
    const joined = (await (await waitroom.fetch('/join', { method: 'POST' })).json()) as { token: string };
    return waitFor(
      async () => {
        const r = await waitroom.fetch('/claim', { method: 'POST', headers: { Authorization: `Bearer ${joined.token}` } });
        return r.status === 200 ? ((await r.json()) as { pass: string }).pass : undefined;
      },
      { timeoutMs: 10_000, what: 'an admitted ticket to claim' },
    );
  };
  const claims = (over: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return { iss: 'waitroom', aud: AUDIENCE, sub: `${QUEUE}:1`, iat: now, nbf: now, exp: now + 600, jti: `test-${Math.random()}`, ...over };
  };
  const cookie = (pass: string) => ({ Cookie: `other=1; waitroom_pass=${pass}` });
  const code = (a: HttpAnswer) => a.json<{ error: { code: string } }>().error.code;
  /** What /verify says about the same pass, for the same kind of request. */
  const verifyAnswer = (pass: string) => httpGet(`${waitroom.url}/verify`, { ...API, ...cookie(pass) });

  test('no pass: a page is sent to the waiting room with return_to; an API call gets the JSON 401 of /verify', async () => {
    const page = await edge.get('/shop/item?id=5&token=a.b.c', PAGE);
    expect(page.status).toBe(302);
    const loc = new URL(page.header('location') ?? '');
    expect(`${loc.origin}${loc.pathname}`).toBe('https://queue.example.test/');
    // The page asked for, minus the credential in its query.
    expect(loc.searchParams.get('return_to')).toBe(`${edge.url}/shop/item?id=5`);
    expect(page.header('x-waitroom-error')).toBe('pass_missing');

    const api = await edge.get('/api/orders', API);
    expect(api.status).toBe(401);
    expect(api.header('content-type')).toMatch(/application\/json/);
    expect(api.header('cache-control')).toBe('no-store');
    expect(api.header('www-authenticate')).toBe('Bearer realm="waitroom-pass"');
    const fromVerify = await httpGet(`${waitroom.url}/verify`, API);
    expect(api.json()).toEqual(fromVerify.json());
    // Not navigations: a fetch from a page, an XHR, a POST.
    expect((await edge.get('/', { ...PAGE, 'Sec-Fetch-Mode': 'cors' })).status).toBe(401);
    expect((await edge.get('/', { ...PAGE, 'X-Requested-With': 'XMLHttpRequest' })).status).toBe(401);
    expect((await edge.get('/', PAGE, { method: 'POST', body: 'a=1' })).status).toBe(401);
  });

  test('a valid pass: the request reaches the origin unchanged, with the X-Waitroom-* headers /verify sets', async () => {
    const pass = await claimPass();
    const page = await edge.get('/shop/item?id=5', { ...PAGE, ...cookie(pass), 'X-Waitroom-Queue': 'forged', 'X-Waitroom-Ticket': '1' });
    expect(page.status).toBe(200);
    expect(page.header('x-origin')).toBe('echo');
    const seen = page.json<Echo>();
    expect(seen).toMatchObject({ method: 'GET', url: '/shop/item?id=5' });

    const v = await verifyAnswer(pass);
    expect(v.status).toBe(204);
    for (const h of ['x-waitroom-queue', 'x-waitroom-ticket', 'x-waitroom-pass-id', 'x-waitroom-pass-expires']) {
      expect(seen.headers[h]).toBe(v.header(h));
    }
    const c = decodeJwt(pass);
    expect(seen.headers['x-waitroom-queue']).toBe(QUEUE);
    expect(seen.headers['x-waitroom-pass-id']).toBe(c.jti);
    expect(seen.headers['x-waitroom-pass-expires']).toBe(String(c.exp));
    expect(seen.headers['x-waitroom-ticket']).toBe(String(c.sub).split(':')[1]);
    // The visitor's own headers and cookies pass through.
    expect(seen.headers.cookie).toBe(`other=1; waitroom_pass=${pass}`);
    expect(seen.headers.accept).toBe(PAGE.Accept);
    expect(seen.headers['x-forwarded-host']).toBe(new URL(edge.url).host);

    // The pass header works as the cookie does; a POST body is forwarded.
    const post = await edge.get('/api/orders', { ...API, 'X-Waitroom-Pass': pass, 'Content-Type': 'application/json' }, { method: 'POST', body: '{"item":5}' });
    expect(post.status).toBe(200);
    expect(post.json<Echo>()).toMatchObject({ method: 'POST', url: '/api/orders', body: '{"item":5}' });
    // Again: the verified-pass cache answers, with the same result.
    expect((await edge.get('/', { ...API, ...cookie(pass) })).json<Echo>().headers['x-waitroom-pass-id']).toBe(c.jti);
  });

  test('expired, wrong audience, wrong queue, tampered, unknown key, a ticket, a revocation list: refused with the codes of /verify', async () => {
    const pass = await claimPass();
    const [h, p, s] = pass.split('.') as [string, string, string];
    const body = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...body, sub: `${QUEUE}:999999` })).toString('base64url')}.${s}`;
    const ticket = ((await (await waitroom.fetch('/join', { method: 'POST' })).json()) as { token: string }).token;
    const list = await (await waitroom.fetch('/passes/revoked')).text();
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, string, string, number]> = [
      ['expired', await keys.sign('2026-01-a', claims({ iat: now - 1000, nbf: now - 1000, exp: now - 60 })), 'pass_expired', 401],
      ['not yet valid', await keys.sign('2026-01-a', claims({ nbf: now + 600 })), 'pass_invalid', 401],
      ['wrong audience', await keys.sign('2026-01-a', claims({ aud: 'https://elsewhere.example' })), 'pass_wrong_audience', 401],
      ['wrong issuer', await keys.sign('2026-01-a', claims({ iss: 'someone-else' })), 'pass_invalid', 401],
      ['tampered', tampered, 'pass_invalid', 401],
      ['same kid, other key', await rogue.sign('2026-01-a', claims()), 'pass_invalid', 401],
      ['unknown key', await rogue.sign('rogue', claims()), 'pass_unknown_key', 401],
      ['a ticket (HS256)', ticket, 'pass_invalid', 401],
      ['the revocation list', list, 'pass_invalid', 401],
      ['garbage', 'not-a-jwt', 'pass_invalid', 401],
    ];
    for (const [what, token, want, status] of cases) {
      const api = await edge.get('/api/orders', { ...API, ...cookie(token) });
      expect([what, api.status, code(api), api.header('x-waitroom-error')]).toEqual([what, status, want, want]);
      const v = await verifyAnswer(token);
      expect([what, v.status, code(v)]).toEqual([what, status, want]);
      const page = await edge.get('/', { ...PAGE, ...cookie(token) });
      expect([what, page.status]).toEqual([what, 302]);
    }
    // A valid pass of another queue: 403, and a page goes to the waiting room.
    const other = await keys.sign('2026-01-a', claims({ sub: 'other:1' }));
    const api = await edge.get('/api/orders', { ...API, ...cookie(other) });
    expect([api.status, code(api)]).toEqual([403, 'pass_wrong_queue']);
    expect((await edge.get('/', { ...PAGE, ...cookie(other) })).status).toBe(302);
    // A queue claim that contradicts sub is no pass at all.
    const twoWays = await keys.sign('2026-01-a', claims({ queue: 'other' }));
    expect(code(await edge.get('/api/orders', { ...API, ...cookie(twoWays) }))).toBe('pass_invalid');
    expect(code(await verifyAnswer(twoWays))).toBe('pass_invalid');
  });

  test('GET /passes/revoked?queue= is a list signed with the pass key, verifiable against the JWKS', async () => {
    const r = await waitroom.fetch(`/passes/revoked?queue=${QUEUE}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/jwt/);
    expect(r.headers.get('cache-control')).toBe('public, max-age=1');
    const jws = await r.text();
    expect(decodeProtectedHeader(jws)).toMatchObject({ typ: REVOCATIONS_TYP, kid: '2026-01-a', alg: 'ES256' });
    const jwks = createLocalJWKSet((await (await waitroom.fetch('/.well-known/jwks.json')).json()) as JSONWebKeySet);
    const list = await verifyRevocationList(jws, (_kid, _alg) => jwks({ alg: 'ES256', kid: '2026-01-a' }), 'waitroom', Date.now());
    expect(list.queue).toBe(QUEUE);
    expect(Array.isArray(list.revoked)).toBe(true);
    // Without ?queue=, the server's own queue; a queue it does not serve is a 404.
    expect(decodeJwt(await (await waitroom.fetch('/passes/revoked')).text()).queue).toBe(QUEUE);
    const other = await waitroom.fetch('/passes/revoked?queue=nope');
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('not_found');
    // A pass is not a revocation list.
    const pass = await claimPass();
    await expect(verifyRevocationList(pass, () => jwks({ alg: 'ES256', kid: '2026-01-a' }), 'waitroom', Date.now())).rejects.toThrow();
  });

  test(`a revoked pass is refused within REVOCATIONS_MAX_AGE + 1 s (${REVOCATIONS_MAX_AGE + 1} s here)`, async () => {
    const pass = await claimPass();
    expect((await edge.get('/', { ...API, ...cookie(pass) })).status).toBe(200);
    const done = await waitroom.fetch('/passes/done', {
      method: 'POST',
      headers: { Authorization: `Bearer ${SITE_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ jti: decodeJwt(pass).jti, outcome: 'completed' }),
    });
    expect(done.status).toBe(200);
    const t0 = Date.now();
    // The deadline has headroom over the bound for a busy machine; the elapsed time is checked below.
    const refused = await waitFor(
      async () => {
        const a = await edge.get('/api/orders', { ...API, ...cookie(pass) });
        return a.status === 403 ? a : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: 'the edge to refuse a revoked pass' },
    );
    const elapsedMs = Date.now() - t0;
    expect(code(refused)).toBe('pass_revoked');
    expect(elapsedMs).toBeLessThan((REVOCATIONS_MAX_AGE + 1) * 1000 + 3000);
    expect((await edge.get('/', { ...PAGE, ...cookie(pass) })).status).toBe(302);
    expect(code(await verifyAnswer(pass))).toBe('pass_revoked');
  });

  test('key rotation on the waiting room: the worker follows without a restart, to an EdDSA key and back off the old one', async () => {
    const before = await claimPass();
    expect(decodeProtectedHeader(before).kid).toBe('2026-01-a');
    // A new key whose kid sorts last: the waiting room signs with it from its next reload.
    keys.add('2026-02-b', 'EdDSA');
    const after = await waitFor(
      async () => {
        const p = await claimPass();
        return decodeProtectedHeader(p).kid === '2026-02-b' ? p : undefined;
      },
      { timeoutMs: 10_000, what: 'a pass signed with the new key' },
    );
    // An unknown kid makes the worker refetch the JWKS at once, unless it did so for another unknown kid
    // (the forged one of an earlier test) within the last 5 s; then its PASS_JWKS_MAX_AGE (1 s) refresh finds the key.
    const a = await waitFor(
      async () => {
        const r = await edge.get('/api/orders', { ...API, ...cookie(after) });
        return r.status === 200 ? r : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'the worker to accept a pass signed with the new key' },
    );
    expect(a.json<Echo>().headers['x-waitroom-pass-id']).toBe(decodeJwt(after).jti);
    expect((await edge.get('/api/orders', { ...API, ...cookie(before) })).status).toBe(200);
    // Retire the old key: once the worker's copy is older than PASS_JWKS_MAX_AGE (1 s), its passes stop.
    keys.remove('2026-01-a');
    const gone = await waitFor(
      async () => {
        const r = await edge.get('/api/orders', { ...API, ...cookie(before) });
        return r.status === 401 ? r : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: 'the old key to be dropped at the edge' },
    );
    expect(code(gone)).toBe('pass_unknown_key');
    expect((await edge.get('/api/orders', { ...API, ...cookie(after) })).status).toBe(200);
    // Revocations signed with the new key still verify at the edge.
    await waitroom.fetch('/passes/done', {
      method: 'POST',
      headers: { Authorization: `Bearer ${SITE_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ jti: decodeJwt(after).jti, outcome: 'completed' }),
    });
    await waitFor(async () => (await edge.get('/api/orders', { ...API, ...cookie(after) })).status === 403, { timeoutMs: 15_000, intervalMs: 100, what: 'revocation after rotation' });
    expect(decodeProtectedHeader(await (await waitroom.fetch('/passes/revoked')).text()).kid).toBe('2026-02-b');
  });

  test('JWKS unreachable: FAIL_OPEN=false answers 503, FAIL_OPEN=true forwards marked unverified; no pass is still no pass', async () => {
    const pass = await claimPass();
    const dead = `http://127.0.0.1:${await freePort()}`;
    const closed = await startEdge({ JWKS_URL: `${dead}/.well-known/jwks.json` });
    const c = await closed.get('/api/orders', { ...API, ...cookie(pass) });
    expect([c.status, code(c), c.header('retry-after')]).toEqual([503, 'gate_unavailable', '5']);
    expect((await closed.get('/', { ...PAGE, ...cookie(pass) })).status).toBe(503);
    expect((await closed.get('/', PAGE)).status).toBe(302);
    await waitFor(() => closed.logs.some((l) => l.includes('failing closed')), { what: 'the failure in the worker log' });

    const open = await startEdge({ JWKS_URL: `${dead}/.well-known/jwks.json`, FAIL_OPEN: 'true' });
    const o = await open.get('/api/orders', { ...API, ...cookie(pass), 'X-Waitroom-Queue': 'forged' });
    expect(o.status).toBe(200);
    const seen = o.json<Echo>();
    expect(seen.headers['x-waitroom-unverified']).toBe('waitroom_unreachable');
    expect(seen.headers['x-waitroom-queue']).toBeUndefined();
    expect(seen.headers['x-waitroom-pass-id']).toBeUndefined();
    expect((await open.get('/', PAGE)).status).toBe(302);

    // Keys reachable but the revocation list not: the same rule (the list cannot be confirmed).
    const noList = await startEdge({ REVOCATIONS_URL: `${dead}/passes/revoked` });
    expect(code(await noList.get('/api/orders', { ...API, ...cookie(pass) }))).toBe('gate_unavailable');
  });

  test('waitroom gone after the worker fetched keys and list: held copies keep admitting; an unknown kid cannot be judged', async () => {
    const standby = await ServerProcess.start({
      REDIS_URL: redis.url,
      QUEUE_ID: QUEUE,
      PASS_KEYS_DIR: keys.dir,
      PASS_AUDIENCE: AUDIENCE,
      TARGET_URL: `${AUDIENCE}/`,
      PASS_COOKIE_SECURE: 'false',
    });
    const w = await startEdge({ JWKS_URL: `${standby.url}/.well-known/jwks.json` });
    const pass = await claimPass();
    expect((await w.get('/api/orders', { ...API, ...cookie(pass) })).status).toBe(200);
    await standby.stop();
    // Past PASS_JWKS_MAX_AGE and REVOCATIONS_MAX_AGE (1 s each): the refetches fail, the copies held are used.
    // A refetch is due on a request once a copy is older than its max age: keep asking until one has failed.
    await waitFor(
      async () => {
        expect((await w.get('/api/orders', { ...API, ...cookie(pass) })).status).toBe(200);
        return w.logs.some((l) => l.includes('waitroom edge:') && l.includes(standby.url));
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'a failed refetch in the worker log' },
    );
    for (let i = 0; i < 5; i++) expect((await w.get('/api/orders', { ...API, ...cookie(pass) })).status).toBe(200);
    const unknown = await w.get('/api/orders', { ...API, ...cookie(await rogue.sign('rogue', claims())) });
    expect([unknown.status, code(unknown)]).toEqual([503, 'gate_unavailable']);
  });

  test('several queues in one worker: QUEUE maps locations to queues, {queue} picks the waiting room, "-" is public', async () => {
    const multi = await startEdge({
      QUEUE: `/concerts/=concerts, /static/=-, ${new URL(`${waitroom.url}`).hostname}/other-host-only/=concerts, /=${QUEUE}`,
      WAITING_ROOM_URL: 'https://queue.example.test/{queue}/',
    });
    const pass = await claimPass();
    expect((await multi.get('/shop', { ...API, ...cookie(pass) })).status).toBe(200);
    const wrong = await multi.get('/concerts/tonight', { ...API, ...cookie(pass) });
    expect([wrong.status, code(wrong)]).toEqual([403, 'pass_wrong_queue']);
    const page = await multi.get('/concerts/tonight', { ...PAGE, ...cookie(pass) });
    expect(page.status).toBe(302);
    expect(new URL(page.header('location') ?? '').pathname).toBe('/concerts/');
    expect((await multi.get('/shop', PAGE)).header('location')).toMatch(/^https:\/\/queue\.example\.test\/edge\/\?return_to=/);
    // A host pattern matches the host the visitor asked for (127.0.0.1 here).
    expect((await multi.get('/other-host-only/x', { ...API, ...cookie(pass) })).status).toBe(403);
    const open = await multi.get('/static/app.css', { ...API, 'X-Waitroom-Pass-Id': 'forged' });
    expect(open.status).toBe(200);
    expect(open.json<Echo>().headers['x-waitroom-pass-id']).toBeUndefined();
  });

  test('unusable bindings: every request gets a 500 naming the problems, never an open site', async () => {
    const bad = await startEdge({ JWKS_URL: 'not a url', QUEUE: '/concerts/=concerts', FAIL_OPEN: 'maybe' });
    const r = await bad.get('/', PAGE);
    expect(r.status).toBe(500);
    const e = r.json<{ error: { code: string; message: string } }>().error;
    expect(e.code).toBe('edge_misconfigured');
    expect(e.message).toMatch(/JWKS_URL/);
    expect(e.message).toMatch(/catch-all/);
    expect(e.message).toMatch(/FAIL_OPEN/);
  });
});
