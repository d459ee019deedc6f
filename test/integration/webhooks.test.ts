import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { Webhook } from 'standardwebhooks';
import { queueKeys } from '../../internal/store/keys';
import { isForbiddenAddress } from '../../internal/webhooks/address-policy';
import { freePort, waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';
import { Receiver } from '../helpers/webhook-receiver';

/**
 * Webhooks end to end (docs/events.md#webhooks): real replicas on a real Redis deliver
 * a queue's events to the real example receiver (examples/webhook-receiver), which
 * verifies every signature with the standardwebhooks package. Retries use a 200 ms base
 * so the whole file stays within seconds.
 */
const ADMIN = 'ops:0123456789abcdef0123';
const AUTH = { Authorization: 'Bearer 0123456789abcdef0123', 'Content-Type': 'application/json' };
const FAST = {
  ADMIN_TOKENS: ADMIN,
  LEASE_TTL_MS: '600',
  LEASE_RENEW_MS: '150',
  STATE_REFRESH_MS: '200',
  WEBHOOK_POLL_MS: '100',
  WEBHOOK_RETRY_BASE_MS: '200',
  WEBHOOK_RETRY_MAX_MS: '800',
  WEBHOOK_CONNECT_TIMEOUT_MS: '500',
  WEBHOOK_TIMEOUT_MS: '1000',
};

let redis: TestRedis;
let procs: ServerProcess[] = [];
const receivers: Receiver[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  procs = await Promise.all([0, 1, 2].map(() => ServerProcess.start({ REDIS_URL: redis.url, QUEUE_ID: 'main', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', ...FAST })));
});
afterAll(async () => {
  for (const r of receivers) r.stop();
  await Promise.all(procs.map((p) => p.stop()));
  await redis?.close();
});

const alive = () => procs.filter((p) => p.exitCode === null && p.signal === null);

async function api(path: string, init: { method?: string; body?: unknown; on?: ServerProcess; headers?: Record<string, string> } = {}) {
  const p = init.on ?? alive()[0]!;
  const res = await p.fetch(`/admin/api/v1${path}`, { method: init.method ?? 'GET', headers: { ...AUTH, ...init.headers }, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as Record<string, any> };
}

/** A queue, an endpoint for its queue.updated events, and a receiver holding the endpoint's secret. */
async function setUp(queue: string, receiverEnv: Record<string, string> = {}) {
  expect((await api('/queues', { method: 'POST', body: { id: queue } })).status).toBe(201);
  const port = await freePort();
  const created = await api('/webhooks', { method: 'POST', body: { url: `http://127.0.0.1:${port}/hook`, events: ['queue.updated'], queue } });
  expect(created.status).toBe(201);
  const secret = created.body.secret as string;
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  const receiver = await Receiver.start(port, secret, receiverEnv);
  receivers.push(receiver);
  return { id: created.body.id as string, secret, receiver };
}

/** Changes the queue's message: exactly one queue.updated event; returns its event id. */
async function change(queue: string, message: string): Promise<string> {
  expect((await api(`/queues/${queue}`, { method: 'PATCH', body: { message } })).status).toBe(200);
  const events = (await api(`/queues/${queue}/events?limit=1000`)).body.events as Array<{ id: string; type: string }>;
  const last = events[events.length - 1]!;
  expect(last.type).toBe('queue.updated');
  return last.id;
}

async function delivery(webhook: string, eventId: string) {
  const list = (await api(`/webhooks/${webhook}/deliveries`)).body.deliveries as Array<Record<string, any>>;
  return list.find((d) => d.eventId === eventId);
}

test('the admin API: create shows the secret once, list and read never; PATCH with If-Match; bad bodies list their fields; DELETE', async () => {
  const port = await freePort();
  const created = await api('/webhooks', { method: 'POST', body: { url: `http://127.0.0.1:${port}/`, events: ['window.advanced', 'pass.claimed'] } });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ url: `http://127.0.0.1:${port}/`, events: ['window.advanced', 'pass.claimed'], queue: null, enabled: true });
  const id = created.body.id as string;
  const one = await api(`/webhooks/${id}`);
  expect(one.status).toBe(200);
  expect(one.body.secret).toBeUndefined();
  expect(JSON.stringify((await api('/webhooks')).body)).not.toContain('whsec_');
  const etag = one.headers.get('etag')!;
  expect((await api(`/webhooks/${id}`, { method: 'PATCH', body: { enabled: false }, headers: { 'If-Match': '"1"' } })).status).toBe(412);
  const patched = await api(`/webhooks/${id}`, { method: 'PATCH', body: { enabled: false }, headers: { 'If-Match': etag } });
  expect(patched.status).toBe(200);
  expect(patched.body.enabled).toBe(false);
  const bad = await api('/webhooks', { method: 'POST', body: { url: 'ftp://x', events: ['nope'], extra: 1 } });
  expect(bad.status).toBe(400);
  expect(bad.body.error.code).toBe('invalid_request');
  expect((bad.body.error.fields as Array<{ path: string }>).map((f) => f.path).sort()).toEqual(['events.0', 'extra']);
  const badUrl = await api('/webhooks', { method: 'POST', body: { url: 'ftp://x', events: ['queue.updated'] } });
  expect(badUrl.status).toBe(400);
  expect(badUrl.body.error.fields).toEqual([{ path: 'url', message: 'must be an https URL' }]);
  expect((await api('/webhooks/wh_000000000000000000000000')).body.error.code).toBe('webhook_not_found');
  expect((await api(`/webhooks/${id}`, { method: 'DELETE' })).status).toBe(204);
  expect((await api(`/webhooks/${id}`)).status).toBe(404);
  const audit = (await api('/audit?limit=10')).body.entries as Array<{ action: string; queue: string }>;
  expect(audit.filter((e) => e.queue === id).map((e) => e.action)).toEqual(['webhook.delete', 'webhook.update', 'webhook.create']);
});

test('signed events verify with standardwebhooks; a receiver failing twice gets the event exactly once more, same webhook-id', async () => {
  const { id, secret, receiver } = await setUp('retries', { FAIL_FIRST: '2' });
  const eventId = await change('retries', 'hello');
  const got = await waitFor(async () => (await receiver.state()).received.find((r) => r.webhookId === eventId), { timeoutMs: 15_000, what: 'the event after two failures' });
  expect(got.attempt).toBe(3);
  expect(got.body).toMatchObject({ id: eventId, type: 'queue.updated', data: { queue: 'retries', changes: { message: { after: 'hello' } } } });
  const d = await waitFor(async () => {
    const x = await delivery(id, eventId);
    return x?.state === 'delivered' ? x : undefined;
  }, { what: 'the delivery recorded' });
  expect(d).toMatchObject({ attempts: 3, lastStatus: 204, lastError: null, nextAttemptAt: null, type: 'queue.updated' });
  // No fourth attempt comes: several poll periods after success, still three arrivals.
  const settled = Date.now() + 1000;
  await waitFor(() => Date.now() >= settled, { what: 'a second' });
  expect((await receiver.state()).arrivals[eventId]).toBe(3);
  expect(receiver.logs.filter((l) => l.includes('refused'))).toEqual([]);
  // And the receiver's check is real: a wrong secret does not verify.
  expect(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(JSON.stringify(got.body), { 'webhook-id': eventId, 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' })).toThrow();
  expect(secret).not.toBe('');
  const scrape = await (await alive()[0]!.fetch('/metrics')).text();
  expect(scrape).toMatch(/waitroom_webhook_deliveries_total\{queue="retries",result="retry"\}/);
});

test('queue.length_exceeded reaches a subscribed endpoint signed, once per crossing; its recovery follows', async () => {
  // W = 1 and no advance for an hour: the waiting count is joins - 1.
  const body = { id: 'long', windowSize: 1, intervalSeconds: 3600, lengthAlert: { threshold: 3, clearBelow: 1 } };
  const created = await api('/queues', { method: 'POST', body });
  expect(created.status).toBe(201);
  expect(created.body.lengthAlert).toEqual({ threshold: 3, clearBelow: 1 });
  const port = await freePort();
  const hook = await api('/webhooks', { method: 'POST', body: { url: `http://127.0.0.1:${port}/hook`, events: ['queue.length_exceeded', 'queue.length_recovered'], queue: 'long' } });
  expect(hook.status).toBe(201);
  const receiver = await Receiver.start(port, hook.body.secret as string);
  receivers.push(receiver);
  // Joins spread over the three replicas: the 4th join (waiting 3) crosses; the next two do not.
  for (let i = 0; i < 6; i++) expect((await alive()[i % alive().length]!.fetch('/q/long/join', { method: 'POST' })).status).toBe(201);
  const exceeded = await waitFor(async () => (await receiver.state()).received.find((r) => r.type === 'queue.length_exceeded'), { timeoutMs: 10_000, what: 'queue.length_exceeded' });
  expect(exceeded.body.data).toMatchObject({ queue: 'long', waiting: 3, threshold: 3, clearBelow: 1, counter: 4, windowEnd: 1 });
  // Passthrough admits everyone: the line is empty, the alert re-arms.
  expect((await api('/queues/long', { method: 'PATCH', body: { state: 'passthrough' } })).status).toBe(200);
  const recovered = await waitFor(async () => (await receiver.state()).received.find((r) => r.type === 'queue.length_recovered'), { timeoutMs: 10_000, what: 'queue.length_recovered' });
  expect(recovered.body.data).toMatchObject({ queue: 'long', waiting: 0, counter: 6, windowEnd: 6, reason: 'below_clear' });
  const settled = Date.now() + 600;
  await waitFor(() => Date.now() >= settled, { what: 'a few poll periods' });
  // Verified by the receiver (standardwebhooks), each exactly once, and nothing else (the endpoint did not subscribe to it).
  expect((await receiver.state()).received.map((r) => r.type)).toEqual(['queue.length_exceeded', 'queue.length_recovered']);
  expect(receiver.logs.filter((l) => l.includes('refused') || l.includes('invalid'))).toEqual([]);
});

test('a receiver that hangs is timed out and retried', async () => {
  const { id, receiver } = await setUp('hangs', { HANG: 'true' });
  const eventId = await change('hangs', 'slow');
  const d = await waitFor(async () => {
    const x = await delivery(id, eventId);
    return x && x.attempts >= 2 ? x : undefined;
  }, { timeoutMs: 15_000, what: 'two timed-out attempts' });
  expect(d.state).toBe('pending');
  expect(d.lastStatus).toBeNull();
  expect(d.lastError).toBe('timed out after 1000 ms');
  expect(d.nextAttemptAt).not.toBeNull();
  expect((await receiver.state()).arrivals[eventId]).toBeGreaterThanOrEqual(2);
  expect((await api(`/webhooks/${id}`, { method: 'DELETE' })).status).toBe(204);
});

test('killing the replica that is delivering loses nothing: another replica delivers the same event', async () => {
  const { id, receiver } = await setUp('failover', { DELAY_MS: '700' });
  const eventId = await change('failover', 'survive');
  await waitFor(async () => ((await receiver.state()).arrivals[eventId] ?? 0) >= 1, { what: 'the first attempt to arrive' });
  const owner = await redis.withClient((c) => c.get(queueKeys('failover').webhookDispatcher));
  const victim = procs.find((p) => p.proc.pid === Number(owner?.split(':')[1]));
  expect(victim).toBeDefined();
  victim!.kill('SIGKILL');
  await victim!.exited;
  const got = await waitFor(async () => (await receiver.state()).received.find((r) => r.webhookId === eventId), { timeoutMs: 15_000, what: 'delivery by another replica' });
  // The killed replica's attempt arrived and was dropped when its connection died; the
  // successor's (XAUTOCLAIM of the unacknowledged entry) is the one handled.
  expect((await receiver.state()).arrivals[eventId]).toBeGreaterThanOrEqual(2);
  expect(got.body.id).toBe(eventId);
  const newOwner = await redis.withClient((c) => c.get(queueKeys('failover').webhookDispatcher));
  expect(newOwner).not.toBe(owner);
  const d = await waitFor(async () => {
    const x = await delivery(id, eventId);
    return x?.state === 'delivered' ? x : undefined;
  }, { what: 'the delivery recorded by the successor' });
  expect(d.lastStatus).toBe(204);
});

describe('without WEBHOOK_ALLOW_PRIVATE_NETWORKS', () => {
  let redis2: TestRedis;
  let strict: ServerProcess;
  beforeAll(async () => {
    redis2 = await TestRedis.start();
    // Endpoints failing for 300 ms in a row are disabled here, to see it happen.
    strict = await ServerProcess.start({ REDIS_URL: redis2.url, QUEUE_ID: 'strict', ...FAST, WEBHOOK_DISABLE_AFTER_MS: '300' });
  });
  afterAll(async () => {
    await strict?.stop();
    await redis2?.close();
  });

  test('a literal private address is refused at create time', async () => {
    for (const url of ['http://127.0.0.1:9/', 'http://10.1.2.3/', 'http://[::1]:9/', 'http://169.254.169.254/latest', 'http://[fd00::1]/', 'http://localhost:9/']) {
      const r = await api('/webhooks', { method: 'POST', on: strict, body: { url, events: ['queue.updated'] } });
      expect([url, r.status, r.body.error.fields[0].path]).toEqual([url, 400, 'url']);
    }
  });

  test('a name that resolves to a private address is refused at delivery, on the resolved address', async () => {
    const name = hostname();
    const resolved = await lookup(name);
    // CI containers and this machine resolve their own name to loopback or a private address.
    expect(isForbiddenAddress(resolved.address)).toBe(true);
    const port = await freePort();
    const created = await api('/webhooks', { method: 'POST', on: strict, body: { url: `http://${name}:${port}/`, events: ['queue.updated'], queue: 'strict' } });
    expect(created.status).toBe(201);
    const receiver = await Receiver.start(port, created.body.secret as string);
    receivers.push(receiver);
    const patched = await api('/queues/strict', { method: 'PATCH', on: strict, body: { message: 'x' } });
    expect(patched.status).toBe(200);
    const d = await waitFor(async () => {
      const list = (await api(`/webhooks/${created.body.id}/deliveries`, { on: strict })).body.deliveries as Array<Record<string, any>>;
      return list[0];
    }, { timeoutMs: 10_000, what: 'a refused attempt' });
    expect(d.lastError).toContain(`refused: ${name} resolves to ${resolved.address}`);
    expect((await receiver.state()).arrivals).toEqual({});
    // Failing continuously past WEBHOOK_DISABLE_AFTER_MS: disabled, and an event says so.
    const off = await waitFor(async () => {
      const e = await api(`/webhooks/${created.body.id}`, { on: strict });
      return e.body.enabled === false ? e.body : undefined;
    }, { timeoutMs: 10_000, what: 'the endpoint disabled' });
    expect(off.disabledReason).toContain('every delivery failed for');
    const events = (await api('/queues/strict/events?limit=1000', { on: strict })).body.events as Array<{ type: string; data: Record<string, unknown> }>;
    const disabled = events.filter((e) => e.type === 'webhook.disabled');
    expect(disabled).toHaveLength(1);
    expect(disabled[0]!.data).toMatchObject({ queue: 'strict', webhook: created.body.id, url: `http://${name}:${port}/` });
  });
});

test('the embedded store refuses webhooks with 501 and says so at start', async () => {
  const embedded = await ServerProcess.start({ QUEUE_ID: 'solo', ADMIN_TOKENS: ADMIN });
  try {
    const r = await api('/webhooks', { method: 'POST', on: embedded, body: { url: 'https://hooks.example.com/', events: ['queue.updated'] } });
    expect(r.status).toBe(501);
    expect(r.body.error.code).toBe('webhooks_unavailable');
    // Logged at the end of start(), which may finish after /readyz first answers 200.
    await waitFor(() => embedded.logs.some((l) => l.includes('WEBHOOKS DISABLED')), { timeoutMs: 5000, what: 'the WEBHOOKS DISABLED line' });
  } finally {
    await embedded.stop();
  }
});
