import request from 'supertest';
import { decodeJwt } from 'jose';
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { registerConsoleApi } from '../../internal/admin/console-openapi';
import { QueueStatsSchema, RatePreviewSchema, SummarySchema, TicketLookupSchema } from '../../internal/admin/console-schemas';
import { z } from '../../internal/queues/queue-settings';
import type { WaitroomServer } from '../../internal/server/waitroom-server';
import { RedisFlowStore } from '../../internal/store/flow-store';
import { queueKeys } from '../../internal/store/keys';
import { RedisQueueStore } from '../../internal/store/redis-store';
import { startInProcess } from '../helpers/in-process';
import { TestKeyDir } from '../helpers/pass-keys';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import pino from 'pino';

const TOKEN = 'console-token-0123456789abcdef';
const SITE_KEY = 'site-key-0123456789abcdef0123456789abcdef';
const auth = { Authorization: `Bearer ${TOKEN}` };

let redis: TestRedis;
let keys: TestKeyDir;
let s: WaitroomServer;
const api = '/admin/api/v1';

beforeAll(async () => {
  redis = await TestRedis.start();
  keys = new TestKeyDir().add('2026-01-a', 'ES256');
  s = await startInProcess({
    REDIS_URL: redis.url,
    QUEUE_ID: 'main',
    WINDOW_SIZE: '2',
    WINDOW_INTERVAL: '0.2',
    ACTIVE_WINDOW_COUNT: '50',
    ADMIN_TOKENS: `ops:${TOKEN}`,
    PASS_KEYS_DIR: keys.dir,
    TARGET_URL: 'https://shop.example.com/',
    SITE_API_KEYS: SITE_KEY,
  });
}, 30_000);

afterAll(async () => {
  await s?.shutdown();
  await redis?.close();
  keys?.close();
});

const join = async (path = '/join') => (await request(s.http).post(path).expect(201)).body as { token: string; ticket: number };

it('every console route needs the admin token', async () => {
  for (const [method, path] of [
    ['get', `${api}/summary`],
    ['get', `${api}/queues/main/stats`],
    ['get', `${api}/queues/main/tickets/1`],
    ['post', `${api}/queues/main/preview`],
  ] as const) {
    expect((await request(s.http)[method](path).expect(401)).body.error.code).toBe('missing_token');
    expect((await request(s.http)[method](path).set('Authorization', 'Bearer wrong-token-0123456789').expect(401)).body.error.code).toBe('invalid_token');
  }
});

it('records the flow as visitors join and are admitted, and computes the figures from it', async () => {
  // One visitor a second: four visitors wait about 0, 1, 2 and 3 s (W starts at S = 1).
  await request(s.http).post(`${api}/queues`).set(auth).send({ id: 'flow', windowSize: 1, intervalSeconds: 1 }).expect(201);
  await waitFor(async () => (await request(s.http).get(`${api}/queues/flow`).set(auth)).body.live?.leader != null, { what: 'a leader for the new queue' });
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 1100)); // a sample of the empty queue in its own second
  for (let i = 0; i < 4; i++) await join('/q/flow/join');
  const stats = async () => QueueStatsSchema.parse((await request(s.http).get(`${api}/queues/flow/stats?from=${t0 - 5000}&step=1000`).set(auth).expect(200)).body);
  await waitFor(async () => (await stats()).series.admitted.at(-1) === 4, { timeoutMs: 20_000, what: 'flow samples showing all 4 admitted' });
  const st = await stats();
  expect(st.resolution).toBe('second');
  expect(st.step).toBe(1000);
  expect(Number.isInteger(st.to)).toBe(true);
  expect(st.series.t[1]! - st.series.t[0]!).toBe(1000);
  expect(st.series.issued.at(-1)).toBe(4);
  // Curves never cross: admitted is clamped to issued.
  st.series.issued.forEach((v, i) => expect(st.series.admitted[i] ?? 0).toBeLessThanOrEqual(v ?? 0));
  // Three wait at the peak, seen to within the one-second sampling.
  expect(st.queueLength.current).toBe(0);
  expect(st.queueLength.max).toBeGreaterThanOrEqual(2);
  expect(st.queueLength.max).toBeLessThanOrEqual(3);
  // Each time is the sample at or after the event: exact to within about a second each way.
  expect(st.timeInQueue.visitors).toBe(4);
  expect(st.timeInQueue.max!).toBeGreaterThanOrEqual(2);
  expect(st.timeInQueue.max!).toBeLessThanOrEqual(5);
  expect(st.timeInQueue.p50!).toBeLessThanOrEqual(st.timeInQueue.p90!);
  expect(st.passes).toMatchObject({ claimed: 0, active: 0 });
});

it('keeps one sample per second at most, and two bounded streams per queue', async () => {
  const st = new RedisQueueStore({ url: redis.url, queueId: 'flow', logger: pino({ level: 'silent' }) });
  await st.connect();
  try {
    const k = queueKeys('flow');
    const ids = (await st.redis.xRange(k.flowSeconds, '-', '+')).map((e) => Number(e.id.split('-')[0]));
    expect(ids.length).toBeGreaterThan(1);
    for (const id of ids) expect(id % 1000).toBe(0);
    expect(new Set(ids).size).toBe(ids.length);
    expect((await st.redis.xRange(k.flowMinutes, '-', '+')).length).toBeGreaterThanOrEqual(1);
    // Unchanged values are not written again.
    const flow = new RedisFlowStore(st);
    expect((await flow.record()).outcome).toBe('unchanged');
  } finally {
    await st.close();
  }
});

it('looks up a ticket: status, place, ETA and its pass (claimed, then done)', async () => {
  await request(s.http).patch(`${api}/queues/main`).set(auth).send({ state: 'paused' }).expect(200);
  // W starts at S = 2: the third ticket waits.
  await join();
  await join();
  const a = await join();
  const waiting = TicketLookupSchema.parse((await request(s.http).get(`${api}/queues/main/tickets/${a.ticket}`).set(auth).expect(200)).body);
  expect(waiting).toMatchObject({ ticket: a.ticket, status: 'waiting', position: 1, ahead: 0, etaSeconds: null, currentEpoch: true, pass: { claimed: false, state: 'none' } });
  await request(s.http).patch(`${api}/queues/main`).set(auth).send({ state: 'open' }).expect(200);
  await waitFor(async () => (await request(s.http).get(`${api}/queues/main/tickets/${a.ticket}`).set(auth)).body.status === 'active', { what: 'ticket active' });
  const pass = (await request(s.http).post('/claim').set('Authorization', `Bearer ${a.token}`).expect(200)).body.pass as string;
  const claimed = TicketLookupSchema.parse((await request(s.http).get(`${api}/queues/main/tickets/${a.ticket}`).set(auth).expect(200)).body);
  expect(claimed.pass).toMatchObject({ claimed: true, state: 'active', jti: decodeJwt(pass).jti });
  await request(s.http).post('/passes/done').set('Authorization', `Bearer ${SITE_KEY}`).send({ jti: decodeJwt(pass).jti, outcome: 'completed' }).expect(200);
  const done = (await request(s.http).get(`${api}/queues/main/tickets/${a.ticket}`).set(auth).expect(200)).body;
  expect(done.pass).toMatchObject({ claimed: true, state: 'done' });
  const future = (await request(s.http).get(`${api}/queues/main/tickets/${a.ticket + 1000}`).set(auth).expect(200)).body;
  expect(future).toMatchObject({ status: 'not_issued', etaSeconds: null, pass: { claimed: false } });
  const old = (await request(s.http).get(`${api}/queues/main/tickets/1?epoch=an-old-epoch`).set(auth).expect(200)).body;
  expect(old).toMatchObject({ currentEpoch: false, epoch: 'an-old-epoch', status: 'expired', etaSeconds: null });
});

it('previews a rate change without changing anything', async () => {
  await request(s.http).patch(`${api}/queues/main`).set(auth).send({ state: 'paused' }).expect(200);
  for (let i = 0; i < 20; i++) await join();
  const before = (await request(s.http).get(`${api}/queues/main`).set(auth).expect(200)).body;
  const paused = RatePreviewSchema.parse((await request(s.http).post(`${api}/queues/main/preview`).set(auth).send({ state: 'open', windowSize: 1, intervalSeconds: 2 }).expect(200)).body);
  // Held now: no ETA. After resuming at 1 every 2 s, the newest of w waiting tickets is w advances
  // away (the first one interval after the resume): 2w s; a visitor joining now, 2(w + 1) s.
  const w = paused.waiting;
  expect(w).toBeGreaterThanOrEqual(19); // W may have been up to S − 1 ahead of the counter when paused
  expect(paused.before.newestTicket).toBeNull();
  expect(paused.after.newestTicket).toBe(2 * w);
  expect(paused.after.joiningNow).toBe(2 * (w + 1));
  const faster = RatePreviewSchema.parse((await request(s.http).post(`${api}/queues/main/preview`).set(auth).send({ state: 'open', windowSize: 10, intervalSeconds: 1 }).expect(200)).body);
  expect(faster.after.newestTicket).toBe(Math.ceil(w / 10));
  const after = (await request(s.http).get(`${api}/queues/main`).set(auth).expect(200)).body;
  expect(after.version).toBe(before.version);
  expect(after.state).toBe('paused');
});

it('sums every queue and lists those needing attention first', async () => {
  await request(s.http).post(`${api}/queues`).set(auth).send({ id: 'calm', windowSize: 5, intervalSeconds: 1 }).expect(201);
  await request(s.http).post(`${api}/queues`).set(auth).send({ id: 'later', opensAt: new Date(Date.now() + 3_600_000).toISOString() }).expect(201);
  await waitFor(async () => (await request(s.http).get(`${api}/summary`).set(auth)).body.totals?.queues === 4, { what: 'four queues' });
  const sum = SummarySchema.parse((await request(s.http).get(`${api}/summary`).set(auth).expect(200)).body);
  expect(sum.queues[0]).toMatchObject({ id: 'main', state: 'paused', displayState: 'paused', attention: ['paused_with_visitors'] });
  expect(sum.queues.find((q) => q.id === 'later')).toMatchObject({ displayState: 'scheduled', state: 'open' });
  expect(sum.totals).toMatchObject({ queues: 4, needAttention: 1, byState: { open: 2, paused: 1, scheduled: 1, passthrough: 0, closed: 0 } });
  expect(sum.totals.waiting).toBe(sum.queues.reduce((n, q) => n + q.waiting, 0));
});

it('refuses bad input with the failing field', async () => {
  const bad = async (path: string, field: string) => {
    const r = await request(s.http).get(path).set(auth).expect(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(JSON.stringify(r.body.error)).toContain(field);
  };
  await bad(`${api}/queues/main/stats?step=10`, 'step');
  await bad(`${api}/queues/main/stats?from=abc`, 'from');
  await bad(`${api}/queues/main/stats?unknown=1`, 'unknown');
  await bad(`${api}/queues/main/tickets/0`, 'n');
  await bad(`${api}/queues/main/tickets/1.5`, 'n');
  expect((await request(s.http).get(`${api}/queues/main/stats?from=2000&to=1000`).set(auth).expect(400)).body.error.message).toMatch(/before/);
  expect((await request(s.http).get(`${api}/queues/main/stats?from=0&to=${8 * 86_400_000}`).set(auth).expect(400)).body.error.message).toMatch(/7 days/);
  expect((await request(s.http).get(`${api}/queues/main/stats?from=0&to=3600001&step=1000`).set(auth).expect(400)).body.error.message).toMatch(/points/);
  expect((await request(s.http).get(`${api}/queues/nope/stats`).set(auth).expect(404)).body.error.code).toBe('queue_not_found');
  const wrong = await request(s.http).delete(`${api}/summary`).set(auth).expect(405);
  expect(wrong.headers.allow).toBe('GET, HEAD, OPTIONS');
  expect((await request(s.http).get(`${api}/queues/main/preview`).set(auth).expect(405)).headers.allow).toBe('POST, OPTIONS');
  const r = await request(s.http).post(`${api}/queues/main/preview`).set(auth).send({ windowSize: 0 }).expect(400);
  expect(r.body.error.code).toBe('invalid_request');
});

it('describes its routes in an OpenAPI 3.1 document generated from the same schemas', () => {
  const registry = new OpenAPIRegistry();
  const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).openapi('Error');
  registerConsoleApi(registry, api, ErrorBody, [{ bearer: [] }]);
  const doc = new OpenApiGeneratorV31(registry.definitions).generateDocument({ openapi: '3.1.0', info: { title: 'waitroom', version: '1' } });
  expect(Object.keys(doc.paths ?? {}).sort()).toEqual([`${api}/queues/{id}/preview`, `${api}/queues/{id}/stats`, `${api}/queues/{id}/tickets/{n}`, `${api}/summary`]);
  expect(doc.components?.schemas).toHaveProperty('QueueStats');
  expect(doc.components?.schemas).toHaveProperty('Summary');
});
