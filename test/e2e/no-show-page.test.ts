import { chromium, type Browser, type Page } from 'playwright-core';
import { queueKeys } from '../../internal/store/keys';
import { chromiumPath } from '../helpers/tools';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * The waiting page and no-shows in Chromium (docs/system.md, "No-shows"): closing the page marks
 * the ticket gone (pagehide, sendBeacon); a reload, whose pagehide sends the same beacon, says
 * "I'm back" and keeps the place; a queue that compensates shows an upper-bound ETA ("at most"),
 * and a visitor whose turn was skipped meanwhile is told so and offered to join again.
 */
const ADMIN = 'ops-token-0123456789abcdef';
let redis: TestRedis;
let waitroom: ServerProcess;
let browser: Browser;

beforeAll(async () => {
  redis = await TestRedis.start();
  waitroom = await ServerProcess.start({ REDIS_URL: redis.url, QUEUE_ID: 'main', LOG_LEVEL: 'warn', ADMIN_TOKENS: `ops:${ADMIN}` });
  const r = await waitroom.fetch('/admin/api/v1/queues', {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: 'ns', windowSize: 1, intervalSeconds: 2, activeWindowCount: 30, compensateNoShows: true }),
  });
  expect(r.status).toBe(201);
  browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await waitroom?.stop();
  await redis?.close();
});

async function text(page: Page, sel: string): Promise<string> {
  return (await page.textContent(sel, { timeout: 500 }))?.trim() ?? '';
}

async function gone(ticket: number): Promise<boolean> {
  const k = queueKeys('ns');
  return redis.withClient(async (c) => {
    const epoch = await c.hGet(k.state, 'epoch');
    return (await c.getBit(k.gone(String(epoch)), ticket)) === 1;
  });
}

it('a reload keeps the place, closing the page leaves, and a skipped turn offers to join again', async () => {
  // Ten people ahead, one admitted every 2 s: the visitor waits about 20 s at most.
  for (let i = 0; i < 10; i++) expect((await waitroom.fetch('/q/ns/join', { method: 'POST' })).status).toBe(201);
  const context = await browser.newContext({ locale: 'en-US' });
  const page = await context.newPage();
  await page.goto(`${waitroom.url}/q/ns/`);
  await waitFor(async () => /^\d+$/.test(await text(page, '#wr-position')), { what: 'a place in line' });
  const ticket = await page.evaluate<number>(`JSON.parse(localStorage.getItem('waitroom:ticket:ns')).ticket`);
  expect(await text(page, '#wr-eta')).toMatch(/at most/);

  // A reload fires pagehide (a leave beacon), then the new page says it is back: the place stays.
  await page.reload();
  await waitFor(async () => /^\d+$/.test(await text(page, '#wr-position')), { what: 'the place after the reload' });
  expect(await page.evaluate<number>(`JSON.parse(localStorage.getItem('waitroom:ticket:ns')).ticket`)).toBe(ticket);
  // Both "I'm back" calls (at once and 3 s later) have run: the ticket is not marked gone.
  await new Promise((r) => setTimeout(r, 3500));
  await waitFor(async () => !(await gone(ticket)), { timeoutMs: 3000, what: 'the ticket present after the reload' });
  expect(await text(page, '#wr-state')).toMatch(/in line/);

  // Closing the page leaves the line: the beacon marks the ticket gone.
  await page.close({ runBeforeUnload: true });
  await waitFor(() => gone(ticket), { timeoutMs: 5000, what: 'the ticket marked gone' });

  // The line moves past it (compensation skips it); a page opened afterwards in the same browser
  // has the ticket, learns the turn was skipped, and offers to join again.
  await waitFor(
    async () => {
      const w = (await (await waitroom.fetch('/q/ns/window')).json()) as { windowEnd: number };
      return w.windowEnd >= ticket;
    },
    { timeoutMs: 40_000, intervalMs: 250, what: 'the window past the ticket' },
  );
  const back = await context.newPage();
  await back.goto(`${waitroom.url}/q/ns/`);
  await waitFor(async () => /while you were away/.test(await text(back, '#wr-state')), { timeoutMs: 10_000, what: 'the skipped state' });
  expect(await back.isVisible('#wr-rejoin')).toBe(true);
  await back.click('#wr-rejoin');
  // A new ticket (the ticket cookie's skipped one is not handed back); nobody waits any more, so
  // it is let in at once.
  await waitFor(async () => ((await back.evaluate<number | null>(`(JSON.parse(localStorage.getItem('waitroom:ticket:ns')) || {}).ticket || null`)) ?? 0) > ticket, {
    what: 'a new ticket',
  });
  await waitFor(async () => !/while you were away/.test(await text(back, '#wr-state')), { what: 'the skipped state gone' });
  await context.close();
}, 90_000);
