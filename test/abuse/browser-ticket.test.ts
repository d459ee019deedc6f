import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { chromium, type Browser, type Page } from 'playwright-core';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

const ARTIFACTS = join(__dirname, '..', '..', '.artifacts');

let redis: TestRedis;
let waitroom: ServerProcess;
let browser: Browser;

async function position(page: Page): Promise<string> {
  return ((await page.textContent('#wr-position', { timeout: 500 })) ?? '').trim();
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  redis = await TestRedis.start();
  waitroom = await ServerProcess.start({
    REDIS_URL: redis.url,
    QUEUE_ID: 'cookie',
    // One admission a minute: the visitor stays waiting for the whole test.
    WINDOW_SIZE: '1',
    WINDOW_INTERVAL: '60',
    // Plain http in the test: no Secure attribute.
    PASS_COOKIE_SECURE: 'false',
    // Every join needs a proof of work; the page's widget solves it (cost kept small).
    CHALLENGE_MODE: 'always',
    CHALLENGE_COST: '3000',
    LOG_LEVEL: 'warn',
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await waitroom?.stop();
  await redis?.close();
});

it('the page solves the ALTCHA challenge, keeps its ticket in an HttpOnly cookie, streams without ?token= and gets the same ticket back on rejoin', async () => {
  // Others ahead in line, joined through the API: refused without a solution, admitted with one.
  expect((await waitroom.fetch('/join', { method: 'POST' })).status).toBe(403);
  for (let i = 0; i < 3; i++) {
    const challenge = (await (await waitroom.fetch('/challenge')).json()) as Challenge;
    const solution = await solveChallenge({ challenge, deriveKey });
    const payload = Buffer.from(JSON.stringify({ challenge, solution })).toString('base64');
    expect((await waitroom.fetch('/join', { method: 'POST', headers: { 'X-Waitroom-Challenge': payload } })).status).toBe(201);
  }
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 420, height: 760 } });
  const page = await context.newPage();
  const urls: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(`${waitroom.url}/`);
  // The widget is on screen while it works (a fraction of a second at this cost): keep a
  // picture of it when the page is caught in time; the assertions below do not depend on it.
  const widget = await page.waitForSelector('#wr-challenge:not([hidden]) altcha-widget', { timeout: 5000 }).catch(() => null);
  if (widget) await page.screenshot({ path: join(ARTIFACTS, 'challenge-widget.png'), fullPage: true });
  await waitFor(async () => /^\d+$/.test(await position(page)), { timeoutMs: 60_000, intervalMs: 200, what: 'a place in line after solving the challenge' }).catch(async (err) => {
    await page.screenshot({ path: join(ARTIFACTS, 'challenge-failed.png'), fullPage: true });
    throw new Error(`${(err as Error).message}; requests: ${urls.join(' ')}; errors: ${errors.join(' | ')}`);
  });
  await page.screenshot({ path: join(ARTIFACTS, 'challenge-solved-waiting.png'), fullPage: true });
  const first = await position(page);

  // The widget fetched a challenge and its worker came from this server.
  expect(urls.some((u) => u.endsWith('/challenge'))).toBe(true);
  expect(urls.some((u) => u.endsWith('/altcha-pbkdf2-worker.js'))).toBe(true);
  expect(urls.every((u) => u.startsWith(waitroom.url) || u.startsWith('data:'))).toBe(true);
  // The stream carries the ticket in the cookie, never in the URL.
  await waitFor(() => urls.some((u) => new URL(u).pathname === '/events'), { what: 'the event stream opened' });
  expect(urls.filter((u) => new URL(u).pathname === '/events').every((u) => !u.includes('token='))).toBe(true);

  const cookies = await context.cookies(waitroom.url);
  const ticket = cookies.find((c) => c.name === 'waitroom_ticket_cookie');
  expect(ticket).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
  expect(await page.evaluate<string>('document.cookie')).not.toContain('waitroom_ticket_cookie');

  // A rejoin from the same browser, with its stored copy gone: the cookie brings back the
  // same place (200), without a new challenge.
  await page.evaluate('localStorage.clear()');
  const rejoin = page.waitForResponse((r) => new URL(r.url()).pathname === '/join');
  await page.reload();
  expect((await rejoin).status()).toBe(200);
  await waitFor(async () => (await position(page)) === first, { timeoutMs: 15_000, what: 'the same place after rejoining' });
  const joins = urls.filter((u) => new URL(u).pathname === '/join');
  expect(joins.length).toBeGreaterThanOrEqual(2);
  await page.screenshot({ path: join(ARTIFACTS, 'rejoin-same-ticket.png'), fullPage: true });
  expect(errors.filter((e) => !/status of 403/.test(e))).toEqual([]);

  // Only one ticket was issued to this browser: three for the API visitors, one for it.
  expect(await redis.withClient((c) => c.get('waitroom:{cookie}:counter'))).toBe('4');
  await context.close();
}, 120_000);
