import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import { chromiumPath } from '../helpers/tools';
import { chromium } from 'playwright-core';
import { buildOriginApp } from '../../examples/origin/server';
import { TestNginx } from '../helpers/nginx';
import { TestKeyDir } from '../helpers/pass-keys';
import { freePort, waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

const SITE_KEY = 'site-key-0123456789abcdef0123456789abcdef';
// A browser navigation sends Sec-Fetch-Mode: navigate (Node's fetch would force "cors", hence node:http below).
const PAGE = { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8', 'Sec-Fetch-Mode': 'navigate' };
const API = { Accept: 'application/json' };

/**
 * The whole chain for real: nginx (deploy/nginx template) with auth_request in
 * front of the example origin, waitroom as a server process, a redis-server.
 */
describe('the nginx gate end to end', () => {
  let redis: TestRedis;
  let keys: TestKeyDir;
  let waitroom: ServerProcess;
  let origin: Server;
  let nginx: TestNginx;
  let site: string;
  let audience: string;

  beforeAll(async () => {
    redis = await TestRedis.start();
    keys = new TestKeyDir().add('2026-01-a');
    const nginxPort = await freePort();
    site = `http://127.0.0.1:${nginxPort}`;
    audience = site;
    waitroom = await ServerProcess.start({
      REDIS_URL: redis.url,
      QUEUE_ID: 'e2e',
      PASS_KEYS_DIR: keys.dir,
      PASS_KEYS_RELOAD_MS: '100',
      WINDOW_SIZE: '1',
      WINDOW_INTERVAL: '0.3',
      ACTIVE_WINDOW_COUNT: '1000',
      TARGET_URL: `${site}/`,
      WAITING_PAGE_URL: `${site}/waitroom/`,
      SITE_API_KEYS: SITE_KEY,
      PASS_COOKIE_SECURE: 'false',
    });
    origin = buildOriginApp({}).listen(0, '127.0.0.1');
    await new Promise((r) => origin.once('listening', r));
    nginx = await TestNginx.start(
      { WAITROOM_UPSTREAM: waitroom.url, ORIGIN_UPSTREAM: `http://127.0.0.1:${(origin.address() as AddressInfo).port}` },
      nginxPort,
    );
  });

  afterAll(async () => {
    await nginx?.stop();
    await new Promise((r) => origin?.close(r));
    await waitroom?.stop();
    await redis?.close();
    keys?.close();
  });

  const get = (path: string, headers: Record<string, string>, pass?: string) =>
    new Promise<{ status: number; headers: { get(n: string): string | null }; json(): Promise<unknown>; text(): Promise<string> }>((resolve, reject) => {
      const req = httpRequest(site + path, { headers: { ...headers, ...(pass ? { Cookie: `waitroom_pass=${pass}` } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: { get: (n) => (res.headers[n.toLowerCase()] as string | undefined) ?? null },
            json: async () => JSON.parse(text) as unknown,
            text: async () => text,
          });
        });
      });
      req.on('error', reject);
      req.end();
    });
  const join = async () => (await (await fetch(`${site}/waitroom/join`, { method: 'POST' })).json()) as { token: string; ticket: number; status: string };
  const claim = (token: string) => fetch(`${site}/waitroom/claim`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
  const expectRefused = async (pass: string, code: string, status = 401) => {
    const api = await get('/api/whoami', API, pass);
    expect(api.status).toBe(status);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe(code);
    const page = await get('/', PAGE, pass);
    expect(page.status).toBe(302);
  };
  const validClaims = (over: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return { iss: 'waitroom', aud: audience, sub: 'e2e:1', iat: now, nbf: now, exp: now + 600, jti: `test-${Math.random()}`, ...over };
  };

  test('without a pass: a page is redirected to the waiting page with where it was going; an API call gets JSON 401', async () => {
    const page = await get('/shop/item?id=5&token=a.b.c', PAGE);
    expect(page.status).toBe(302);
    const loc = new URL(page.headers.get('location') ?? '');
    expect(`${loc.origin}${loc.pathname}`).toBe(`${site}/waitroom/`);
    expect(loc.searchParams.get('return_to')).toBe(`${site}/shop/item?id=5`);

    const api = await get('/api/whoami', API);
    expect(api.status).toBe(401);
    expect(api.headers.get('content-type')).toMatch(/application\/json/);
    expect(await api.json()).toEqual({ error: { code: 'pass_missing', message: 'a waiting room pass is required' } });
    // A fetch from a page (not a navigation) is not redirected either.
    expect((await get('/', { ...PAGE, 'Sec-Fetch-Mode': 'cors' })).status).toBe(401);
  });

  test('after waiting and claiming, the same requests reach the origin; a waiting ticket is no pass', async () => {
    const first = await join();
    const second = await join();
    expect(second.status).toBe('waiting');
    const early = await claim(second.token);
    expect(early.status).toBe(403);
    expect(((await early.json()) as { error: { code: string } }).error.code).toBe('ticket_waiting');
    // A ticket is HS256-signed: not an algorithm a pass may use.
    await expectRefused(second.token, 'pass_invalid');
    expect(first.status).toBe('active');

    await waitFor(
      async () => ((await (await fetch(`${site}/waitroom/status`, { headers: { Authorization: `Bearer ${second.token}` } })).json()) as { status: string }).status === 'active',
      { timeoutMs: 10_000, what: 'second ticket active' },
    );
    const r = await claim(second.token);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { pass: string; redirectUrl: string };
    expect(body.redirectUrl).toBe(`${site}/`);
    const cookie = r.headers.get('set-cookie') ?? '';
    expect(cookie).toContain(`waitroom_pass=${body.pass}`);

    const api = await get('/api/whoami', API, body.pass);
    expect(api.status).toBe(200);
    expect(await api.json()).toEqual({ origin: 'example', queue: 'e2e', ticket: second.ticket, passId: decodeJwt(body.pass).jti });
    const page = await get('/', PAGE, body.pass);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(`ticket ${second.ticket}`);
    // Headers a visitor sends cannot impersonate the gate's.
    const spoof = await fetch(`${site}/api/whoami`, { headers: { ...API, Cookie: `waitroom_pass=${body.pass}`, 'X-Waitroom-Ticket': '999' } });
    expect(((await spoof.json()) as { ticket: number }).ticket).toBe(second.ticket);
  });

  test('expired, other-audience and tampered passes are refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRefused(await keys.sign('2026-01-a', validClaims({ iat: now - 900, nbf: now - 900, exp: now - 60 })), 'pass_expired');
    await expectRefused(await keys.sign('2026-01-a', validClaims({ aud: 'https://other.example' })), 'pass_wrong_audience');
    const good = await keys.sign('2026-01-a', validClaims());
    expect((await get('/api/whoami', API, good)).status).toBe(200);
    const [h, p, s] = good.split('.');
    const payload = JSON.parse(Buffer.from(p as string, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...payload, sub: 'e2e:999999' })).toString('base64url');
    await expectRefused(`${h}.${forged}.${s}`, 'pass_invalid');
    await expectRefused(await keys.sign('2026-01-a', validClaims(), { alg: 'none' }).catch(() => `${h}.${p}.`), 'pass_invalid');
  });

  test('a completed pass is refused', async () => {
    const t = await join();
    await waitFor(async () => (await claim(t.token)).status === 200, { timeoutMs: 10_000, what: 'claim' });
    const r = await claim(t.token); // policy "same": the stored pass again
    const { pass } = (await r.json()) as { pass: string };
    expect((await get('/api/whoami', API, pass)).status).toBe(200);
    const done = await fetch(`${site}/waitroom/passes/done`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${SITE_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ jti: decodeJwt(pass).jti, outcome: 'completed' }),
    });
    expect(done.status).toBe(200);
    await expectRefused(pass, 'pass_revoked', 403);
  });

  test('key rotation without restart: A and B both verify while published; once A is removed its passes fail', async () => {
    const passA = await keys.sign('2026-01-a', validClaims());
    expect((await get('/api/whoami', API, passA)).status).toBe(200);
    // Rotate: B sorts after A, so B signs from now on; A stays published.
    keys.add('2026-02-b', 'EdDSA');
    const t = await join();
    const passB = await waitFor(
      async () => {
        const r = await claim(t.token);
        if (r.status !== 200) return undefined;
        const { pass } = (await r.json()) as { pass: string };
        return JSON.parse(Buffer.from(pass.split('.')[0] as string, 'base64url').toString()).kid === '2026-02-b' ? pass : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'a pass signed by B' },
    );
    const jwks = (await (await fetch(`${site}/waitroom/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string; alg: string }> };
    expect(jwks.keys.map((k) => `${k.kid}:${k.alg}`)).toEqual(['2026-01-a:ES256', '2026-02-b:EdDSA']);
    expect((await get('/api/whoami', API, passA)).status).toBe(200);
    expect((await get('/api/whoami', API, passB)).status).toBe(200);

    keys.remove('2026-01-a');
    await waitFor(async () => (await get('/api/whoami', API, passA)).status === 401, { timeoutMs: 5000, what: 'A refused after removal' });
    await expectRefused(passA, 'pass_unknown_key');
    expect((await get('/api/whoami', API, passB)).status).toBe(200);
    const after = (await (await fetch(`${site}/waitroom/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(after.keys.map((k) => k.kid)).toEqual(['2026-02-b']);
  });

  test('in a real browser: a page request is sent to the waiting page under /waitroom/, which admits the visitor back to that page', async () => {
    const browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      const failed: string[] = [];
      page.on('response', (r) => {
        if (r.status() >= 400 && !r.url().includes('/verify')) failed.push(`${r.status()} ${r.url()}`);
      });
      const wanted = `${site}/?from=browser`;
      await page.goto(wanted);
      // The gate redirected the navigation to the waiting page, which loads its assets and API
      // relative to /waitroom/ (through the same nginx), waits, claims and returns.
      expect(page.url().startsWith(`${site}/waitroom/?return_to=`)).toBe(true);
      await page.waitForURL(wanted, { timeout: 20_000 });
      await page.getByText('Welcome to the shop').waitFor({ timeout: 5000 });
      expect(await page.textContent('body')).toMatch(/Admitted from queue e2e with ticket \d+/);
      expect(failed).toEqual([]);
      const cookies = await page.context().cookies(site);
      expect(cookies.find((c) => c.name === 'waitroom_pass')?.httpOnly).toBe(true);
    } finally {
      await browser.close();
    }
  });
});
