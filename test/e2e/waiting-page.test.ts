import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromiumPath } from '../helpers/tools';
import { chromium, type Browser, type Page } from 'playwright-core';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

const ARTIFACTS = join(__dirname, '..', '..', '.artifacts');
const ADMIN = 'ops-token-0123456789abcdef';

async function adminCall(method: string, path: string, body: unknown): Promise<number> {
  const r = await waitroom.fetch(`/admin/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  await r.text();
  return r.status;
}

let redis: TestRedis;
let waitroom: ServerProcess;
// No TARGET_URL, no BRAND_TITLE, one visitor a second, admitted for one window: the quick-start demo.
let demo: ServerProcess;
let target: Server;
let targetUrl: string;
let browser: Browser;
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

interface AxeResult {
  id: string;
  impact: string | null;
  nodes: Array<{ target: string[] }>;
}

/**
 * axe-core in the page (injected through the devtools protocol: the page's CSP
 * allows no inline script): violations, and "needs review" items that are
 * serious or critical.
 */
async function axe(page: Page): Promise<{ violations: AxeResult[]; seriousReview: AxeResult[] }> {
  await page.evaluate(AXE);
  const r = await page.evaluate<{ violations: AxeResult[]; incomplete: AxeResult[] }>(
    `axe.run(document, { resultTypes: ['violations', 'incomplete'] }).then((r) => ({ violations: r.violations, incomplete: r.incomplete }))`,
  );
  const brief = (x: AxeResult) => ({ id: x.id, impact: x.impact, nodes: x.nodes.map((n) => ({ target: n.target })) });
  return {
    violations: r.violations.map(brief),
    seriousReview: r.incomplete.filter((x) => x.impact === 'serious' || x.impact === 'critical').map(brief),
  };
}

async function joinApi(n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect((await waitroom.fetch('/join', { method: 'POST' })).status).toBe(201);
}

async function storedTicket(page: Page): Promise<{ ticket: number; token: string }> {
  // Browser-side code as strings: the test is compiled without DOM typings.
  return page.evaluate<{ ticket: number; token: string }>(`JSON.parse(localStorage.getItem('waitroom:ticket:e2e'))`);
}

async function text(page: Page, sel: string): Promise<string> {
  // Short timeout: once the page has left for the protected site the element is gone.
  return (await page.textContent(sel, { timeout: 500 }))?.trim() ?? '';
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  redis = await TestRedis.start();
  // The protected site: a loopback server the page must reach once admitted.
  target = createServer((_req, res) => {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end('<!doctype html><title>shop</title><h1>Protected site</h1>');
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/shop`;
  // One visitor per second, so a visitor a few places back waits a few seconds.
  waitroom = await ServerProcess.start({
    REDIS_URL: redis.url,
    QUEUE_ID: 'e2e',
    WINDOW_SIZE: '1',
    WINDOW_INTERVAL: '1',
    TARGET_URL: targetUrl,
    BRAND_TITLE: 'Launch day',
    LOG_LEVEL: 'warn',
    ADMIN_TOKENS: `ops:${ADMIN}`,
  });
  demo = await ServerProcess.start({
    REDIS_URL: redis.url,
    QUEUE_ID: 'e2e-demo',
    WINDOW_SIZE: '1',
    WINDOW_INTERVAL: '1',
    ACTIVE_WINDOW_COUNT: '1',
    LOG_LEVEL: 'warn',
  });
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    // shop.test: a name that is not localhost (where http counts as secure) for the loopback "site" below.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--host-resolver-rules=MAP shop.test 127.0.0.1'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await waitroom?.stop();
  await demo?.stop();
  await new Promise((r) => target?.close(r));
  await redis?.close();
});

it('shows the place and a live countdown, updates without reload, keeps the ticket on reload, then reaches the site', async () => {
  await joinApi(6);
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 420, height: 760 } });
  const page = await context.newPage();
  await page.goto(`${waitroom.url}/`);
  expect(await page.title()).toBe('Launch day');
  await waitFor(async () => /^\d+$/.test(await text(page, '#wr-position')), { what: 'a place in line' });
  const { ticket } = await storedTicket(page);
  expect(ticket).toBeGreaterThan(6);
  expect(await text(page, '#wr-live')).toMatch(/You are number \d+ in line/);
  await page.screenshot({ path: join(ARTIFACTS, 'waiting-page.png'), fullPage: true });

  // A reload and a second tab keep the same ticket instead of taking a new one.
  await page.reload();
  await waitFor(async () => /^\d+$/.test(await text(page, '#wr-position')), { what: 'place after reload' });
  expect((await storedTicket(page)).ticket).toBe(ticket);
  const tab = await context.newPage();
  await tab.goto(`${waitroom.url}/`);
  await waitFor(async () => /^\d+$/.test(await text(tab, '#wr-position')), { what: 'place in a second tab' });
  expect((await storedTicket(tab)).ticket).toBe(ticket);
  await tab.close();

  // Watch the page (no reload) until it leaves for the protected site.
  const aheadSeen = new Set<string>();
  const etaSeen = new Set<string>();
  await waitFor(
    async () => {
      if (page.url().startsWith(targetUrl)) return true;
      try {
        aheadSeen.add(await text(page, '#wr-ahead'));
        etaSeen.add(await text(page, '#wr-eta'));
      } catch {
        /* navigating */
      }
      return false;
    },
    { timeoutMs: 20_000, intervalMs: 100, what: 'arrival at the protected site' },
  );
  await page.waitForLoadState();
  expect(await page.textContent('h1')).toBe('Protected site');
  const aheads = [...aheadSeen].filter((a) => /^\d+$/.test(a)).map(Number);
  expect(aheads.length).toBeGreaterThanOrEqual(2);
  expect(etaSeen.size).toBeGreaterThanOrEqual(2);
  await context.close();
}, 40_000);

it('falls back to polling /status when event streams fail, and still admits the visitor', async () => {
  await joinApi(2);
  const context = await browser.newContext({ locale: 'en-US' });
  let blocked = 0;
  await context.route('**/events*', (route) => {
    blocked++;
    return route.abort();
  });
  const page = await context.newPage();
  await page.goto(`${waitroom.url}/`);
  await waitFor(() => page.url().startsWith(targetUrl), { timeoutMs: 20_000, intervalMs: 100, what: 'arrival via polling' });
  expect(blocked).toBeGreaterThanOrEqual(1);
  await context.close();
}, 30_000);

it('renders the Arabic page right to left, chosen from Accept-Language', async () => {
  // Enough people ahead that the page is still waiting when it is checked.
  await joinApi(30);
  const context = await browser.newContext({ locale: 'ar-EG', viewport: { width: 420, height: 760 } });
  const page = await context.newPage();
  await page.goto(`${waitroom.url}/`);
  await waitFor(async () => (await text(page, '#wr-position')) !== '–', { what: 'a place in line' });
  const layout = await page.evaluate(`({
    lang: document.documentElement.lang,
    dir: document.documentElement.dir,
    direction: getComputedStyle(document.querySelector('main')).direction,
    state: document.getElementById('wr-state').textContent,
  })`);
  expect(layout).toEqual({ lang: 'ar', dir: 'rtl', direction: 'rtl', state: 'أنت في الطابور. تتحدّث هذه الصفحة تلقائيًا.' });
  await page.screenshot({ path: join(ARTIFACTS, 'waiting-page-ar.png'), fullPage: true });
  // An explicit lang parameter wins over Accept-Language.
  await page.goto(`${waitroom.url}/?lang=en`);
  expect(await page.evaluate('document.documentElement.dir')).toBe('ltr');
  await context.close();
}, 30_000);

it('has no axe violations and no serious "needs review" items while waiting, in English and in Arabic', async () => {
  await joinApi(40);
  for (const locale of ['en-US', 'ar-EG']) {
    const context = await browser.newContext({ locale, viewport: { width: 420, height: 760 } });
    const page = await context.newPage();
    await page.goto(`${waitroom.url}/`);
    await waitFor(async () => (await text(page, '#wr-position')) !== '–', { what: 'a place in line' });
    const r = await axe(page);
    expect({ locale, ...r }).toEqual({ locale, violations: [], seriousReview: [] });
    await context.close();
  }
}, 30_000);

it('without TARGET_URL: a localised title, an honest "let in" message, and "expired" once the ticket expires, without a reload', async () => {
  const context = await browser.newContext({ locale: 'en-US' });
  const page = await context.newPage();
  await page.goto(`${demo.url}/`);
  expect(await page.title()).toBe('Waiting room');
  await waitFor(async () => (await page.getAttribute('#wr-state', 'data-state')) === 'active', { timeoutMs: 10_000, what: 'admission' });
  await waitFor(async () => /no site to send you to/.test(await text(page, '#wr-help')), { what: 'the no-target message' });
  expect([await text(page, '#wr-position'), await text(page, '#wr-ahead'), await text(page, '#wr-eta')]).toEqual(['–', '–', '–']);
  // The window advances only while someone waits: three more visitors, and with
  // ACTIVE_WINDOW_COUNT=1 and a 1 s window the ticket expires within a couple of seconds.
  for (let i = 0; i < 3; i++) expect((await demo.fetch('/join', { method: 'POST' })).status).toBe(201);
  await waitFor(async () => (await page.getAttribute('#wr-state', 'data-state')) === 'expired', { timeoutMs: 10_000, what: 'expiry shown without a reload' });
  expect(await page.isVisible('#wr-rejoin')).toBe(true);
  await context.close();
}, 30_000);

it('in Arabic: the default title, waits with "و" and plural forms from Intl, and language links that keep return_to', async () => {
  // About 70 s of people ahead: the wait has minutes and seconds.
  for (let i = 0; i < 70; i++) expect((await demo.fetch('/join', { method: 'POST' })).status).toBe(201);
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 420, height: 760 } });
  const page = await context.newPage();
  const returnTo = 'https://shop.example.com/cart?id=7';
  await page.goto(`${demo.url}/?lang=ar&return_to=${encodeURIComponent(returnTo)}`);
  expect(await page.title()).toBe('غرفة الانتظار');
  expect(await text(page, 'h1')).toBe('غرفة الانتظار');
  await waitFor(async () => (await text(page, '#wr-position')) !== '–', { what: 'a place in line' });
  const eta = await text(page, '#wr-eta');
  expect(eta).toMatch(/^(دقيقة|دقيقتان) و\d+ (ثانية|ثوان)$/);
  expect(await text(page, '#wr-live')).toMatch(/وأمامك \d+ شخصًا/);
  await page.screenshot({ path: join(ARTIFACTS, 'waiting-page-ar-demo.png'), fullPage: true });
  const href = await page.getAttribute('nav.languages a[hreflang="en"]', 'href');
  const params = new URLSearchParams(String(href).replace(/^\?/, ''));
  expect({ lang: params.get('lang'), returnTo: params.get('return_to') }).toEqual({ lang: 'en', returnTo });
  const r = await axe(page);
  expect(r).toEqual({ violations: [], seriousReview: [] });
  await page.click('nav.languages a[hreflang="en"]');
  await page.waitForLoadState();
  expect(new URL(page.url()).searchParams.get('return_to')).toBe(returnTo);
  expect(await page.evaluate('document.documentElement.lang')).toBe('en');
  await context.close();
}, 40_000);

it('stops after the site sends the visitor back a second time, and says why', async () => {
  // A site that never sees the pass (as when the browser drops a Secure cookie on
  // plain http): it sends every visitor straight back to the waiting page.
  let bounces = 0;
  const bouncer = createServer((_req, res) => {
    bounces++;
    res.writeHead(302, { Location: `${loop.url}/` }).end();
  });
  await new Promise<void>((r) => bouncer.listen(0, '127.0.0.1', () => r()));
  const loop = await ServerProcess.start({
    REDIS_URL: redis.url,
    QUEUE_ID: 'e2e-loop',
    TARGET_URL: `http://shop.test:${(bouncer.address() as AddressInfo).port}/shop`,
    LOG_LEVEL: 'warn',
  });
  try {
    // The start-up warning names the cause.
    await waitFor(() => loop.logEntries().some((e) => /plain http while PASS_COOKIE_SECURE=true/.test(String(e.msg))), {
      timeoutMs: 5000,
      what: 'the start-up warning',
    });
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    let loads = 0;
    page.on('load', () => loads++);
    await page.goto(`${loop.url}/`);
    await waitFor(async () => (await page.getAttribute('#wr-state', 'data-state').catch(() => null)) === 'bounced', { timeoutMs: 15_000, what: 'the loop to stop' });
    expect(await text(page, '#wr-state')).toBe('The site sent you back here again.');
    expect(await page.isVisible('#wr-go')).toBe(true);
    const seen = bounces;
    // Nothing more happens by itself.
    await new Promise((r) => setTimeout(r, 2500));
    expect({ bounces, loads }).toEqual({ bounces: seen, loads: 3 });
    expect(seen).toBe(2);
    await page.screenshot({ path: join(ARTIFACTS, 'waiting-page-bounced.png'), fullPage: true });
    await context.close();
  } finally {
    await loop.stop();
    await new Promise((r) => bouncer.close(r));
  }
}, 40_000);
it('shows a pause and the operator\'s message live, without a reload, and the wait again on resume', async () => {
  expect(await adminCall('POST', '/queues', { id: 'held', name: 'Held', windowSize: 1, intervalSeconds: 60, branding: { title: 'Second sale' } })).toBe(201);
  for (let i = 0; i < 3; i++) expect((await waitroom.fetch('/q/held/join', { method: 'POST' })).status).toBe(201);
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 420, height: 760 } });
  const page = await context.newPage();
  await page.goto(`${waitroom.url}/q/held/`);
  expect(await page.title()).toBe('Second sale');
  await waitFor(async () => /^\d+$/.test(await text(page, '#wr-position')), { what: 'a place in line' });
  expect(await page.isHidden('#wr-broadcast')).toBe(true);

  expect(await adminCall('PATCH', '/queues/held', { state: 'paused', message: 'We are restocking: back in five minutes.' })).toBe(200);
  await waitFor(async () => (await page.getAttribute('#wr-state', 'data-state')) === 'paused', { timeoutMs: 5000, what: 'the paused state on the page' });
  await waitFor(async () => (await text(page, '#wr-broadcast')) === 'We are restocking: back in five minutes.', { what: 'the message on the page' });
  expect(await text(page, '#wr-eta')).toBe('paused');
  expect(await text(page, '#wr-state')).toMatch(/paused/);
  expect(await page.isVisible('#wr-broadcast')).toBe(true);
  await page.screenshot({ path: join(ARTIFACTS, 'waiting-page-paused.png'), fullPage: true });

  expect(await adminCall('PATCH', '/queues/held', { state: 'open', message: null })).toBe(200);
  await waitFor(async () => (await page.getAttribute('#wr-state', 'data-state')) === 'waiting', { timeoutMs: 5000, what: 'waiting again' });
  await waitFor(async () => page.isHidden('#wr-broadcast'), { what: 'the message gone' });
  expect(await text(page, '#wr-eta')).toMatch(/min|s$/);
  await context.close();
});
