import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * Holding admissions while the site is unhealthy, with a real origin process that can be made
 * failing or slow, a real replica process and a real Redis: the leader's probe holds
 * admissions within the configured failures and resumes them by itself after the origin
 * recovers; the site may also push its health with its key.
 */
const ADMIN = 'admin-token-0123456789abcdef0123456789';
const SITE_KEY = 'site-key-0123456789abcdef0123456789abcdef';

// The origin: GET /healthz answers by its mode (ok: 200, fail: 500, slow: 200 after 3 s);
// POST /mode/<mode> switches it.
const ORIGIN = `
const http = require('node:http');
let mode = 'ok';
let probes = 0;
http.createServer((req, res) => {
  const m = /^\\/mode\\/(ok|fail|slow)$/.exec(req.url);
  if (req.method === 'POST' && m) { mode = m[1]; res.end(mode); return; }
  if (req.url === '/probes') { res.end(String(probes)); return; }
  probes++;
  if (mode === 'fail') { res.statusCode = 500; res.end('down'); return; }
  if (mode === 'slow') { setTimeout(() => res.end('late'), 3000); return; }
  res.end('ok');
}).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('ready'));
`;

let redis: TestRedis;
let server: ServerProcess;
let origin: ChildProcess;
let originUrl: string;

beforeAll(async () => {
  redis = await TestRedis.start();
  const port = await freePort();
  origin = spawn(process.execPath, ['-e', ORIGIN, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => origin.stdout!.once('data', () => resolve()));
  originUrl = `http://127.0.0.1:${port}`;
  server = await ServerProcess.start({ REDIS_URL: redis.url, QUEUE_ID: 'main', ADMIN_TOKEN: ADMIN, SITE_API_KEYS: SITE_KEY, STATE_REFRESH_MS: '1000' });
}, 60_000);
afterAll(async () => {
  await server?.stop();
  origin?.kill();
  await redis?.close();
});

async function call(method: string, path: string, body?: unknown, token?: string, base = server.url) {
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = { text };
  }
  return { status: r.status, body: parsed };
}

const windowEnd = async (q: string) => Number((await call('GET', `/q/${q}/window`)).body.windowEnd);

test('a failing origin holds admissions within the configured failures; they resume by themselves after it recovers', async () => {
  const created = await call(
    'POST',
    '/admin/api/v1/queues',
    {
      id: 'probed',
      windowSize: 1,
      intervalSeconds: 0.2,
      originHealth: { url: `${originUrl}/healthz`, intervalSeconds: 0.2, timeoutMs: 500, failuresBeforeHold: 2, successesBeforeResume: 2 },
    },
    ADMIN,
  );
  expect(created.status).toBe(201);
  const tickets: string[] = [];
  for (let i = 0; i < 60; i++) tickets.push(String((await call('POST', '/q/probed/join')).body.token));
  // Admitting: the window moves.
  const w0 = await windowEnd('probed');
  await waitFor(async () => (await windowEnd('probed')) > w0 + 1, { timeoutMs: 5000, what: 'admissions by rate' });

  // The origin fails: after 2 failed probes (0.4 s, plus the machine's slack) admissions hold.
  await call('POST', '/mode/fail', undefined, undefined, originUrl);
  const failedAt = Date.now();
  await waitFor(async () => (await call('GET', '/status', undefined, tickets[59])).body.siteBusy === true, { timeoutMs: 5000, what: 'the hold' });
  const heldAfterMs = Date.now() - failedAt;
  expect(heldAfterMs).toBeLessThan(5000);
  const held = await call('GET', '/status', undefined, tickets[59]);
  expect(held.body).toMatchObject({ status: 'waiting', etaSeconds: null, etaKind: 'unknown', siteBusy: true, state: 'open' });
  const wHeld = await windowEnd('probed');
  // Held: ten intervals pass and the window stays.
  await new Promise((r) => setTimeout(r, 2000));
  expect(await windowEnd('probed')).toBe(wHeld);
  // Logged and counted.
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  expect(metrics).toMatch(/waitroom_origin_holds_total\{queue="probed",source="probe"\} 1/);

  // Slow is as bad as failing (the probe's timeout is 500 ms): still held.
  await call('POST', '/mode/slow', undefined, undefined, originUrl);
  await new Promise((r) => setTimeout(r, 1500));
  expect(await windowEnd('probed')).toBe(wHeld);

  // Recovery: admissions resume by themselves.
  await call('POST', '/mode/ok', undefined, undefined, originUrl);
  await waitFor(async () => (await windowEnd('probed')) > wHeld, { timeoutMs: 8000, what: 'admissions to resume' });
  const after = await call('GET', '/status', undefined, tickets[59]);
  expect(after.body).toMatchObject({ siteBusy: false, etaKind: 'exact' });
  // Told to the rest of the business: one event for the hold, one for its end (docs/events.md).
  const events = (await call('GET', '/admin/api/v1/queues/probed/events?limit=1000', undefined, ADMIN)).body.events as Array<{ type: string; data: Record<string, unknown> }>;
  const holds = events.filter((e) => e.type.startsWith('queue.origin_'));
  expect(holds.map((e) => [e.type, e.data.source])).toEqual([
    ['queue.origin_held', 'probe'],
    ['queue.origin_recovered', 'probe'],
  ]);
  expect(String(holds[0]!.data.reason).length).toBeGreaterThan(0);
}, 60_000);

test('the site pushes its health with its key; a bad key or body is refused', async () => {
  expect((await call('POST', '/admin/api/v1/queues', { id: 'pushed', windowSize: 1, intervalSeconds: 0.2 }, ADMIN)).status).toBe(201);
  for (let i = 0; i < 30; i++) await call('POST', '/q/pushed/join');
  expect((await call('POST', '/admin/api/v1/queues/pushed/health', { healthy: false })).body).toMatchObject({ error: { code: 'missing_site_key' } });
  expect((await call('POST', '/admin/api/v1/queues/pushed/health', { healthy: false }, ADMIN)).body).toMatchObject({ error: { code: 'invalid_site_key' } });
  const bad = await call('POST', '/admin/api/v1/queues/pushed/health', { healthy: 'no' }, SITE_KEY);
  expect(bad.status).toBe(400);
  expect((await call('POST', '/admin/api/v1/queues/nope/health', { healthy: false }, SITE_KEY)).status).toBe(404);

  const r = await call('POST', '/admin/api/v1/queues/pushed/health', { healthy: false, reason: 'p99 over 2 s' }, SITE_KEY);
  expect(r).toMatchObject({ status: 200, body: { queue: 'pushed', healthy: false, changed: true } });
  const w = await windowEnd('pushed');
  await new Promise((res) => setTimeout(res, 1000));
  expect(await windowEnd('pushed')).toBe(w);
  expect((await call('POST', '/admin/api/v1/queues/pushed/health', { healthy: true }, SITE_KEY)).body).toMatchObject({ changed: true });
  const events = (await call('GET', '/admin/api/v1/queues/pushed/events?limit=1000', undefined, ADMIN)).body.events as Array<{ type: string; data: Record<string, unknown> }>;
  expect(events.filter((e) => e.type.startsWith('queue.origin_')).map((e) => [e.type, e.data.source, e.data.reason])).toEqual([
    ['queue.origin_held', 'site', 'p99 over 2 s'],
    ['queue.origin_recovered', 'site', 'reported by the site'],
  ]);
  await waitFor(async () => (await windowEnd('pushed')) > w, { timeoutMs: 5000, what: 'admissions to resume' });
}, 60_000);

test('a probe URL on a link-local (metadata) address is never fetched: it counts as a failed probe (fail safe)', async () => {
  const created = await call(
    'POST',
    '/admin/api/v1/queues',
    { id: 'ssrf', windowSize: 1, intervalSeconds: 0.2, originHealth: { url: 'http://169.254.169.254/latest/meta-data/', intervalSeconds: 0.2, timeoutMs: 200, failuresBeforeHold: 1, successesBeforeResume: 1 } },
    ADMIN,
  );
  expect(created.status).toBe(201);
  expect(created.body.originHealth).toMatchObject({ allowLinkLocal: false });
  for (let i = 0; i < 20; i++) await call('POST', '/q/ssrf/join');
  // A refused URL counts as a failed probe: the queue holds (fail safe), it is never fetched.
  await waitFor(async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    return /waitroom_origin_holds_total\{queue="ssrf",source="probe"\} 1/.test(metrics);
  }, { timeoutMs: 5000, what: 'the refused probe to count as a failure' });
}, 30_000);
