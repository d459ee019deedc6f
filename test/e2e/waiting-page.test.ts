import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromiumPath } from '../helpers/tools';
import { chromium, type Browser, type Page } from 'playwright-core';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

const ARTIFACTS = join(__dirname, '..', '..', '.artifacts');

let redis: TestRedis;
let waitroom: ServerProcess;
let target: Server;
let targetUrl: string;
let browser: Browser;

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
  });
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await waitroom?.stop();
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
