import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { freePort, waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';
import { chromiumPath } from '../helpers/tools';
import { Receiver } from '../helpers/webhook-receiver';

/**
 * The operator console in headless Chromium against two real replica processes
 * on one real redis-server: sign in, two queues, a pause made on one replica's
 * console seen on the other's, a rate change with its preview, a ticket lookup,
 * sign out, the console under a path prefix, axe-core in English and Arabic, and
 * screenshots (list, a queue page with a few minutes of real traffic, a phone).
 */
const ARTIFACTS = join(__dirname, '..', '..', '.artifacts');
const TOKEN = 'console-e2e-token-0123456789abcdef';
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
/** How long the background visitors keep joining: a few minutes of flow for the screenshot, bounded. */
const TRAFFIC_MS = 150_000;

let redis: TestRedis;
let a: ServerProcess;
let b: ServerProcess;
let browser: Browser;
let prefixProxy: Server;
let prefixUrl: string;
let traffic: Promise<number>;

const api = (s: ServerProcess, path: string, init: RequestInit = {}) =>
  s.fetch(`/admin/api/v1/${path}`, { ...init, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', ...(init.headers ?? {}) } });

/**
 * Visitors join queue "shop" in waves (about 2 to 10 a second, alternating replicas) while it
 * admits 5 a second: the line grows at each crest and drains after. Bounded in time and count.
 */
async function waves(ms: number): Promise<number> {
  const start = Date.now();
  let joined = 0;
  while (Date.now() - start < ms && joined < 2000) {
    const sec = (Date.now() - start) / 1000;
    const perSecond = Math.max(0, Math.round(6 + 5 * Math.sin(sec / 12)));
    for (let i = 0; i < perSecond; i++) {
      const r = await (i % 2 ? a : b).fetch('/q/shop/join', { method: 'POST' }).catch(() => undefined);
      if (r?.status === 201) joined++;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return joined;
}

async function axe(page: Page): Promise<Array<{ id: string; impact: string | null; nodes: Array<{ target: string[] }> }>> {
  await page.evaluate(AXE);
  const r = await page.evaluate<{ violations: Array<{ id: string; impact: string | null; nodes: Array<{ target: string[] }> }> }>(`axe.run(document).then((r) => ({ violations: r.violations }))`);
  return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => ({ target: n.target })) }));
}

async function signIn(page: Page, base: string): Promise<void> {
  await page.goto(`${base}/admin`);
  await page.fill('#token', TOKEN);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#queue-rows tr[data-queue]');
}

async function newPage(width = 1280, height = 900, locale = 'en-US'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ locale, viewport: { width, height } });
  return { context, page: await context.newPage() };
}

const stateOf = (page: Page, id: string) => page.textContent(`#queue-rows tr[data-queue="${id}"] .badge`, { timeout: 1000 }).then((t) => t?.trim());

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  redis = await TestRedis.start();
  const env = {
    REDIS_URL: redis.url,
    QUEUE_ID: 'shop',
    WINDOW_SIZE: '5',
    WINDOW_INTERVAL: '1',
    ADMIN_TOKENS: `ops:${TOKEN}`,
    LOG_LEVEL: 'warn',
    STATE_REFRESH_MS: '500',
    // Webhooks to receivers on loopback, retried within seconds (the webhooks panel's test).
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    WEBHOOK_POLL_MS: '200',
    WEBHOOK_RETRY_BASE_MS: '1000',
    WEBHOOK_RETRY_MAX_MS: '2000',
    WEBHOOK_CONNECT_TIMEOUT_MS: '500',
  };
  [a, b] = await Promise.all([ServerProcess.start(env), ServerProcess.start(env)]);
  expect((await api(a, 'queues', { method: 'POST', body: JSON.stringify({ id: 'drop', name: 'Sneaker drop', windowSize: 2, intervalSeconds: 2 }) })).status).toBe(201);
  traffic = waves(TRAFFIC_MS);
  // The console under a path prefix, as a proxy serves it: /ops/... -> the replica's /...
  prefixProxy = createServer((req, res) => {
    const url = (req.url ?? '/').replace(/^\/ops(?=\/|$)/, '') || '/';
    const up = httpRequest({ host: '127.0.0.1', port: a.port, path: url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => prefixProxy.listen(0, '127.0.0.1', () => r()));
  prefixUrl = `http://127.0.0.1:${(prefixProxy.address() as AddressInfo).port}/ops`;
  browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}, 60_000);

afterAll(async () => {
  await traffic?.catch(() => 0);
  await browser?.close();
  await new Promise((r) => prefixProxy?.close(r));
  await a?.stop();
  await b?.stop();
  await redis?.close();
});

it('signs in (a wrong token says so), lists both queues, and hides the form once signed in', async () => {
  const { context, page } = await newPage();
  await page.goto(`${a.url}/admin`);
  expect(await page.isVisible('#sign-in')).toBe(true);
  expect(await page.isVisible('#sign-out')).toBe(false);
  await page.fill('#token', 'not-the-token-0123456789');
  await page.click('#sign-in-form button[type=submit]');
  await waitFor(async () => ((await page.textContent('#token-error')) ?? '').includes('not valid'), { what: 'the wrong-token message' });
  await page.fill('#token', TOKEN);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#queue-rows tr[data-queue="drop"]');
  expect(await page.isVisible('#sign-in')).toBe(false);
  expect(await page.isVisible('#sign-out')).toBe(true);
  expect(await page.textContent('#token-error')).toBe('');
  const ids = await page.$$eval('#queue-rows tr[data-queue]', (rows) => rows.map((r) => r.getAttribute('data-queue')));
  expect(ids.sort()).toEqual(['drop', 'shop']);
  expect(await page.evaluate(`sessionStorage.getItem('waitroom:console:token')`)).toBe(TOKEN);
  await context.close();
}, 30_000);

it('pauses a queue on one replica\'s console and the other replica\'s console shows it', async () => {
  const one = await newPage();
  const two = await newPage();
  await signIn(one.page, a.url);
  await signIn(two.page, b.url);
  expect(await stateOf(two.page, 'drop')).toBe('open');
  await one.page.goto(`${a.url}/admin#/q/drop`);
  await one.page.waitForSelector('#state-buttons button[data-state="paused"]:visible');
  await one.page.click('#state-buttons button[data-state="paused"]');
  await waitFor(async () => (await one.page.textContent('#q-state'))?.trim() === 'paused', { what: 'paused on replica A' });
  // Replica B learns it from Redis (pub/sub, or its periodic re-read) and its console polls every 2 s.
  await waitFor(async () => (await stateOf(two.page, 'drop')) === 'paused', { timeoutMs: 10_000, what: 'paused on replica B\'s console' });
  expect(await one.page.isVisible('#state-buttons button[data-state="paused"]')).toBe(false);
  expect((await one.page.textContent('#state-buttons button[data-state="open"]'))?.trim()).toBe('Resume');
  // The audit log names the token.
  await waitFor(async () => ((await one.page.textContent('#audit-rows')) ?? '').includes('ops'), { timeoutMs: 15_000, what: 'the audit entry' });
  await one.page.click('#state-buttons button[data-state="open"]');
  await waitFor(async () => (await stateOf(two.page, 'drop')) === 'open', { timeoutMs: 10_000, what: 'open again on replica B' });
  await one.context.close();
  await two.context.close();
}, 60_000);

it('changes the rate with the preview of the newest ticket\'s ETA shown first', async () => {
  const { context, page } = await newPage();
  await signIn(page, a.url);
  await page.goto(`${a.url}/admin#/q/drop`);
  await page.waitForSelector('#rate-form input[name=windowSize]');
  await waitFor(async () => (await page.inputValue('#rate-form input[name=windowSize]')) === '2', { what: 'the form filled with S' });
  await page.fill('#rate-form input[name=windowSize]', '4');
  await page.fill('#rate-form input[name=intervalSeconds]', '1');
  await page.click('#rate-form button[type=submit]');
  await page.waitForSelector('#preview:not([hidden])');
  expect(await page.textContent('#preview-text')).toMatch(/^Newest ticket \(#\d+\): .+ now, .+ after the change\. A visitor joining now: .+ → .+\.$/);
  // Nothing changed yet.
  expect(((await (await api(a, 'queues/drop')).json()) as { windowSize: number }).windowSize).toBe(2);
  await page.click('#apply-rate');
  await waitFor(async () => (await page.textContent('#ctl-note'))?.trim() === 'Saved.', { what: 'saved' });
  const q = await (await api(b, 'queues/drop')).json();
  expect(q).toMatchObject({ windowSize: 4, intervalSeconds: 1 });
  await context.close();
}, 30_000);

it('looks up a ticket for support', async () => {
  const t = (await (await a.fetch('/q/drop/join', { method: 'POST' })).json()) as { ticket: number };
  const { context, page } = await newPage();
  await signIn(page, b.url);
  await page.goto(`${b.url}/admin#/q/drop`);
  await page.fill('#lookup-n', String(t.ticket));
  await page.click('#lookup-form button[type=submit]');
  await waitFor(async () => /Status(active|waiting|expired)/.test((await page.textContent('#lookup-result')) ?? ''), { what: 'the lookup result' });
  expect(await page.textContent('#lookup-result')).toContain('Passnone claimed');
  await page.fill('#lookup-n', String(t.ticket + 10_000));
  await page.click('#lookup-form button[type=submit]');
  await waitFor(async () => ((await page.textContent('#lookup-result')) ?? '').includes('not issued yet'), { what: 'a ticket not issued' });
  await context.close();
}, 30_000);

it('runs a what-if in the browser (the simulator in a Web Worker) with the figures npm run simulate prints for the same scenario', async () => {
  const { context, page } = await newPage(1280, 900);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await signIn(page, a.url);
  await page.goto(`${a.url}/admin#/q/shop`);
  await page.waitForSelector('#flow-chart .uplot');
  await page.waitForSelector('#whatif:not([hidden])');
  // The form starts from the queue's settings (S = 5 every 1 s, no cap).
  await waitFor(async () => (await page.inputValue('#whatif-form input[name=windowSize]')) === '5', { what: 'the what-if form filled with S' });
  expect(await page.inputValue('#whatif-form input[name=maxActive]')).toBe('');
  // A capped what-if: at most 8 on a site that holds 10, half a minute there, one in ten gives up after a minute.
  await page.fill('#whatif-form input[name=maxActive]', '8');
  await page.fill('#whatif-form input[name=capacity]', '10');
  await page.fill('#whatif-form input[name=timeOnSiteMinutes]', '0.5');
  await page.fill('#whatif-form input[name=giveUpMinutes]', '1');
  // Those who give up leave (the store's markGone) and the advances skip them.
  expect(await page.isChecked('#whatif-form input[name=compensateNoShows]')).toBe(false);
  await page.check('#whatif-form input[name=compensateNoShows]');
  await page.click('#whatif-run');
  await page.waitForSelector('#whatif-figs dd[data-key="peakOccupancy"]', { timeout: 20_000 });
  expect(await page.textContent('#whatif-note')).toMatch(/^Simulated [\d,]+ visitors, .+ of arrivals, in [\d.]+ s\.$/);
  await page.waitForSelector('#whatif-chart .uplot');
  const shown = Object.fromEntries(await page.$$eval('#whatif-figs dd[data-key]', (dds) => dds.map((d) => [d.getAttribute('data-key'), Number(d.getAttribute('data-value'))])));
  // The same scenario through the command line: the same figures, to the millisecond.
  const scenario = JSON.parse((await page.textContent('#whatif-scenario')) ?? '{}') as { queue: { maxActive?: number; compensateNoShows?: boolean } };
  expect(scenario.queue.maxActive).toBe(8);
  expect(scenario.queue.compensateNoShows).toBe(true);
  const file = join(ARTIFACTS, 'what-if-scenario.json');
  writeFileSync(file, JSON.stringify(scenario));
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [require.resolve('tsx/cli'), join(__dirname, '..', '..', 'cmd', 'simulate', 'main.ts'), file, '--json', '--out', join(ARTIFACTS, 'what-if-simulate')], { timeout: 60_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  const cli = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number>;
  expect(cli.visitors).toBeGreaterThan(20);
  for (const k of ['waitP50', 'waitP90', 'waitP99', 'peakWaiting', 'peakOnSite', 'gaveUp', 'peakOccupancy']) expect([k, shown[k]]).toEqual([k, cli[k]]);
  expect(cli.admittedAfterGivingUp! + cli.skippedNoShows!).toBeLessThanOrEqual(cli.gaveUp!);
  expect(cli.maxActiveExceeded).toBe(false);
  expect(cli.peakOccupancy).toBeLessThanOrEqual(8);
  expect(await axe(page)).toEqual([]);
  await page.locator('#whatif').screenshot({ path: join(ARTIFACTS, 'console-what-if.png') });
  expect(errors).toEqual([]);
  await context.close();
}, 90_000);

it('shows webhook endpoints and their deliveries: a real receiver failing, then succeeding', async () => {
  const post = async (body: unknown) => {
    const r = await api(a, 'webhooks', { method: 'POST', body: JSON.stringify(body) });
    expect(r.status).toBe(201);
    return (await r.json()) as { id: string; secret: string };
  };
  // Nobody listens on `port` yet: the first attempts fail to connect.
  const port = await freePort();
  const crm = await post({ url: `http://127.0.0.1:${port}/hook`, events: ['queue.updated', 'queue.length_exceeded'], queue: 'drop', description: 'CRM' });
  // One that never answers (nothing listens there) and one disabled by hand, for the panel's other states.
  const nowhere = await post({ url: `http://127.0.0.1:${await freePort()}/events`, events: ['queue.updated'] });
  const off = await post({ url: 'http://127.0.0.1:9/off', events: ['window.advanced'], queue: 'shop' });
  expect((await api(a, `webhooks/${off.id}`, { method: 'PATCH', body: JSON.stringify({ enabled: false }) })).status).toBe(200);
  expect((await api(a, 'queues/drop', { method: 'PATCH', body: JSON.stringify({ message: 'Webhooks test' }) })).status).toBe(200);

  const { context, page } = await newPage(1280, 900);
  await signIn(page, b.url);
  const crmRow = `#wh-list article[data-webhook="${crm.id}"] tr[data-event]`;
  // Failed attempts: pending, with the connection error and a next attempt.
  const pending = await waitFor(async () => {
    const text = (await page.textContent(crmRow, { timeout: 500 }).catch(() => null)) ?? '';
    return text.includes('pending') && text.includes('queue.updated') ? text : undefined;
  }, { timeoutMs: 20_000, what: 'a pending delivery in the console' });
  expect(pending).toMatch(/ECONNREFUSED|refused|connect/i);
  expect(await page.textContent(`#wh-list article[data-webhook="${crm.id}"] .hook-figs`)).toContain('drop');

  // The receiver comes up, answers 500 once more (FAIL_FIRST=1), then 2xx: delivered.
  const receiver = await Receiver.start(port, crm.secret, { FAIL_FIRST: '1' });
  try {
    const delivered = await waitFor(async () => {
      const text = (await page.textContent(crmRow, { timeout: 500 }).catch(() => null)) ?? '';
      return text.includes('delivered') ? text : undefined;
    }, { timeoutMs: 30_000, what: 'the delivery shown delivered' });
    const api2 = (await (await api(a, `webhooks/${crm.id}/deliveries`)).json()) as { deliveries: Array<{ eventId: string; attempts: number; lastStatus: number; state: string }> };
    const d = api2.deliveries[0]!;
    expect(d).toMatchObject({ state: 'delivered', lastStatus: 204 });
    expect(d.attempts).toBeGreaterThanOrEqual(3);
    // The row shows what the API says: attempts and the last status.
    const cells = await page.$$eval(`${crmRow} td`, (tds) => tds.map((td) => td.textContent?.trim() ?? ''));
    expect(cells.slice(1, 5)).toEqual(['delivered', String(d.attempts), '204', '–']);
    expect(delivered).toContain(d.eventId);
    // The receiver verified the signature and got the event once, after one 500.
    const got = await receiver.state();
    expect(got.received.map((r) => r.webhookId)).toEqual([d.eventId]);
    expect(got.arrivals[d.eventId]).toBe(2);
  } finally {
    receiver.stop();
  }
  const nowhereText = await page.textContent(`#wh-list article[data-webhook="${nowhere.id}"]`);
  expect(nowhereText).toContain('every queue');
  expect(nowhereText).toContain('pending');
  await waitFor(async () => ((await page.textContent(`#wh-list article[data-webhook="${off.id}"] h3 .badge`)) ?? '') === 'disabled', { what: 'the disabled endpoint' });
  expect(await page.textContent(`#wh-list article[data-webhook="${off.id}"] .hook-status`)).toBe('disabled by an operator');
  expect(await axe(page)).toEqual([]);
  await page.locator('#webhooks').screenshot({ path: join(ARTIFACTS, 'console-webhooks.png') });
  await context.close();

  // The same panel in Arabic, right to left: no violations either.
  const ar = await newPage(1280, 900, 'ar');
  await signIn(ar.page, a.url);
  await ar.page.waitForSelector(`#wh-list article[data-webhook="${crm.id}"] tr[data-event]`);
  expect(await ar.page.textContent(`#wh-list article[data-webhook="${off.id}"] h3 .badge`)).toBe('معطّل');
  expect(await axe(ar.page)).toEqual([]);
  await ar.page.locator('#webhooks').screenshot({ path: join(ARTIFACTS, 'console-webhooks-ar.png') });
  await ar.context.close();
}, 90_000);

it('signs out: the token is forgotten and the form is back', async () => {
  const { context, page } = await newPage();
  await signIn(page, a.url);
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in:not([hidden])');
  expect(await page.isVisible('#list')).toBe(false);
  expect(await page.evaluate(`sessionStorage.getItem('waitroom:console:token')`)).toBeNull();
  expect(await page.textContent('#note')).toContain('signed out');
  await page.reload();
  expect(await page.isVisible('#sign-in')).toBe(true);
  await context.close();
}, 30_000);

it('works under a path prefix (every URL relative)', async () => {
  const { context, page } = await newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  await signIn(page, prefixUrl);
  await page.click('#queue-rows tr[data-queue="shop"] a');
  await page.waitForSelector('#flow-chart .uplot');
  for (const p of requests) expect(p.startsWith('/ops/')).toBe(true);
  expect(requests).toEqual(expect.arrayContaining(['/ops/admin/console.js', '/ops/admin/uplot.js', '/ops/admin/api/v1/summary']));
  const slash = await fetch(`${prefixUrl}/admin/`, { redirect: 'manual' });
  expect(slash.status).toBe(301);
  expect(new URL(slash.headers.get('location')!, `${prefixUrl}/admin/`).pathname).toBe('/ops/admin');
  await context.close();
}, 30_000);

it.each([
  ['en-US', 'ltr'],
  ['ar', 'rtl'],
])('has no axe-core violations (%s, %s)', async (locale, dir) => {
  const { context, page } = await newPage(1280, 900, locale);
  await page.goto(`${a.url}/admin`);
  expect(await page.getAttribute('html', 'dir')).toBe(dir);
  expect(await axe(page)).toEqual([]);
  await page.fill('#token', TOKEN);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#queue-rows tr[data-queue]');
  expect(await axe(page)).toEqual([]);
  await page.goto(`${a.url}/admin#/q/shop`);
  await page.waitForSelector('#flow-chart .uplot');
  await page.waitForSelector('#audit-rows tr');
  expect(await axe(page)).toEqual([]);
  if (dir === 'rtl') await page.screenshot({ path: join(ARTIFACTS, 'console-queue-ar.png'), fullPage: true });
  await context.close();
}, 60_000);

it('screenshots: the list, a queue page with a few minutes of traffic, and a phone', async () => {
  const joined = await traffic;
  expect(joined).toBeGreaterThan(300);
  const { context, page } = await newPage(1280, 900);
  await signIn(page, a.url);
  await waitFor(async () => (await page.$$('#queue-rows .spark .uplot')).length === 2, { timeoutMs: 15_000, what: 'sparklines' });
  await page.screenshot({ path: join(ARTIFACTS, 'console-list.png'), fullPage: true });
  await page.goto(`${a.url}/admin#/q/shop`);
  await page.click('.range button[data-range="300"]');
  await waitFor(async () => /\d/.test((await page.textContent('#wait-figs')) ?? '') && !(await page.textContent('#wait-count'))?.startsWith('0 '), { what: 'time-in-queue figures' });
  await page.waitForTimeout(2500);
  await page.screenshot({ path: join(ARTIFACTS, 'console-queue.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(2500);
  await page.screenshot({ path: join(ARTIFACTS, 'console-phone.png'), fullPage: true });
  // Nothing wider than the phone's screen (the tables scroll inside their own box).
  expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
  await page.goto(`${a.url}/admin#/`);
  await page.waitForSelector('#queue-rows tr[data-queue]');
  await page.screenshot({ path: join(ARTIFACTS, 'console-list-phone.png'), fullPage: true });
  await context.close();
}, TRAFFIC_MS + 60_000);
