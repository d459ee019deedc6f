import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventSource } from 'eventsource';
import { startInProcess } from '../helpers/in-process';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import type { WaitroomServer } from '../../internal/server/waitroom-server';
import { RawStream } from './sse-client';

interface StatusBody {
  queue: string;
  ticket: number;
  position: number;
  status: string;
  ahead: number;
  etaSeconds: number;
  windowEnd: number;
  pollAfterSeconds: number;
}

let redis: TestRedis;
const servers: WaitroomServer[] = [];
const sources: EventSource[] = [];
const raws: RawStream[] = [];

async function serve(env: Record<string, string>): Promise<{ server: WaitroomServer; url: string }> {
  const server = await startInProcess({ REDIS_URL: redis.url, ...env });
  servers.push(server);
  const addr = (await server.listen(0, '127.0.0.1')) as AddressInfo;
  return { server, url: `http://127.0.0.1:${addr.port}` };
}

/** POST /join on a fresh connection (a test below drops every server connection). */
function join(url: string): Promise<{ token: string; ticket: number }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/join`, { method: 'POST', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 201 ? resolve(JSON.parse(body)) : reject(new Error(`join: ${res.statusCode} ${body}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

function open(url: string, init?: ConstructorParameters<typeof EventSource>[1]) {
  const es = new EventSource(url, init);
  sources.push(es);
  const got: Array<{ type: string; data: string; id: string }> = [];
  for (const type of ['status', 'end', 'problem']) {
    es.addEventListener(type, (ev) => got.push({ type, data: (ev as MessageEvent).data as string, id: (ev as MessageEvent).lastEventId }));
  }
  return { es, got, statuses: () => got.filter((g) => g.type === 'status').map((g) => JSON.parse(g.data) as StatusBody) };
}

function raw(url: string, headers?: Record<string, string>): RawStream {
  const r = new RawStream(url, headers);
  raws.push(r);
  return r;
}

beforeAll(async () => {
  redis = await TestRedis.start();
});

afterEach(() => {
  for (const s of sources.splice(0)) s.close();
  for (const r of raws.splice(0)) r.close();
});

afterAll(async () => {
  for (const s of servers) await s.shutdown();
  await redis.close();
});

describe('GET /events with a ticking queue', () => {
  let ctx: { server: WaitroomServer; url: string };
  beforeAll(async () => {
    // One ticket per 50 ms window: a ticket 20 places back is admitted in about a second.
    ctx = await serve({ QUEUE_ID: 'sse-tick', WINDOW_SIZE: '1', WINDOW_INTERVAL: '0.05', SSE_HEARTBEAT_MS: '50' });
  });

  it('sends the current state at once, one event per advance, then the final state and end', async () => {
    for (let i = 0; i < 20; i++) await join(ctx.url);
    const me = await join(ctx.url);
    const s = open(`${ctx.url}/events?token=${me.token}`);
    await waitFor(() => s.got.some((g) => g.type === 'end'), { timeoutMs: 10_000, what: 'end event' });
    const statuses = s.statuses();
    expect(statuses[0]).toMatchObject({ ticket: me.ticket, queue: 'sse-tick' });
    expect(Object.keys(statuses[0]!).sort()).toEqual(
      ['queue', 'ticket', 'position', 'status', 'ahead', 'etaSeconds', 'etaKind', 'activeForSeconds', 'windowEnd', 'pollAfterSeconds', 'state', 'message', 'opensAt', 'siteBusy'].sort(),
    );
    const waiting = statuses.filter((x) => x.status === 'waiting');
    expect(waiting.length).toBeGreaterThanOrEqual(2);
    // Each event is a new state: the place only improves, never repeats.
    for (let i = 1; i < waiting.length; i++) expect(waiting[i]!.ahead).toBeLessThan(waiting[i - 1]!.ahead);
    expect(statuses[statuses.length - 1]!.status).toBe('active');
    expect(s.got[s.got.length - 1]!.type).toBe('end');
    const ids = s.got.filter((g) => g.type === 'status').map((g) => g.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[ids.length - 1]).toMatch(/\.active$/);
    // The server closed the stream and forgot it.
    await waitFor(() => ctx.server.defaultQueue.events.size() === 0, { what: 'stream cleaned up' });
  });

  it('sends the same body as GET /status', async () => {
    for (let i = 0; i < 200; i++) await join(ctx.url);
    const me = await join(ctx.url);
    const st = raw(`${ctx.url}/events`, { Authorization: `Bearer ${me.token}` });
    await waitFor(() => st.events().length > 0, { what: 'first event' });
    const polled = (await (await fetch(`${ctx.url}/status`, { headers: { Authorization: `Bearer ${me.token}` } })).json()) as StatusBody;
    const first = JSON.parse(st.events()[0]!.data) as StatusBody;
    expect(Object.keys(first)).toEqual(Object.keys(polled));
    expect(first.ticket).toBe(polled.ticket);
    expect(st.res!.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(st.res!.headers['cache-control']).toContain('no-store');
    expect(st.text.startsWith('retry: 3000\n\n')).toBe(true);
  });

  it('sends comment heartbeats on an open stream', async () => {
    for (let i = 0; i < 400; i++) await join(ctx.url);
    const me = await join(ctx.url);
    const st = raw(`${ctx.url}/events?token=${me.token}`);
    await waitFor(() => (st.text.match(/^:\n\n/gm) ?? []).length >= 2, { timeoutMs: 5000, what: 'two heartbeats' });
  });

  it('accepts the token from the waitroom_ticket cookie', async () => {
    const me = await join(ctx.url);
    const st = raw(`${ctx.url}/events`, { Cookie: `other=1; waitroom_ticket=${me.token}` });
    await waitFor(() => st.events().some((e) => e.event === 'status'), { what: 'status via cookie' });
    expect(st.res!.statusCode).toBe(200);
  });

  it('answers an invalid or missing token with the /status 401 JSON, and EventSource stops', async () => {
    const bad = await fetch(`${ctx.url}/events?token=not.a.jwt`);
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('Bearer');
    expect(await bad.json()).toEqual({ error: { code: 'invalid_token', message: expect.any(String) } });
    const none = await fetch(`${ctx.url}/events`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('missing_token');
    const viaHeader = await fetch(`${ctx.url}/events`, { headers: { Authorization: 'Bearer x.y.z' } });
    expect(((await viaHeader.json()) as { error: { code: string } }).error.code).toBe('invalid_token');

    const s = open(`${ctx.url}/events?token=bad.token.value`);
    let failed = false;
    s.es.onerror = () => (failed = true);
    await waitFor(() => failed && s.es.readyState === EventSource.CLOSED, { what: 'EventSource closed' });
  });
});

describe('GET /events with a slow queue', () => {
  let ctx: { server: WaitroomServer; url: string };
  let first: { token: string; ticket: number };
  beforeAll(async () => {
    // A 60 s interval: the state holds still while the test reconnects.
    ctx = await serve({ QUEUE_ID: 'sse-slow', WINDOW_SIZE: '1', WINDOW_INTERVAL: '60', SSE_MAX_STREAMS_PER_IP: '3' });
    first = await join(ctx.url); // W starts at S = 1: ticket 1 is active at once
    for (let i = 0; i < 4; i++) await join(ctx.url);
  });

  it('answers 204 to a reconnect that already has the final state, so EventSource stops', async () => {
    const s = open(`${ctx.url}/events?token=${first.token}`);
    await waitFor(() => s.got.some((g) => g.type === 'end'), { what: 'final state' });
    expect(s.statuses().map((x) => x.status)).toEqual(['active']);
    const finalId = s.got[0]!.id;
    expect(finalId).toMatch(/\.active$/);
    const again = raw(`${ctx.url}/events?token=${first.token}`, { 'Last-Event-ID': finalId });
    await waitFor(() => again.ended, { what: 'reply to the reconnect' });
    expect(again.res!.statusCode).toBe(204);
  });

  it('resumes with Last-Event-ID without resending the state the client has', async () => {
    const me = await join(ctx.url);
    const s = open(`${ctx.url}/events?token=${me.token}`);
    await waitFor(() => s.statuses().length === 1, { what: 'first event' });
    const id = s.got[0]!.id;
    // <epoch>.<W>.<queue state>-<settings version>: a pause or a new message is a new state.
    expect(id).toMatch(/^[0-9a-f-]+\.\d+\.open-\d+$/);

    // A raw reconnect carrying the id: no repeated event, just the retry hint and a comment.
    const again = raw(`${ctx.url}/events?token=${me.token}`, { 'Last-Event-ID': id });
    await waitFor(() => again.text.includes(':\n\n'), { what: 'resumed stream' });
    expect(again.events()).toEqual([]);
    // An unknown id gets the current state at once.
    const stale = raw(`${ctx.url}/events?token=${me.token}`, { 'Last-Event-ID': 'old-epoch.1' });
    await waitFor(() => stale.events().length === 1, { what: 'state for an old id' });
    again.close();
    stale.close();

    // The eventsource client reconnects by itself after the connection drops, sending Last-Event-ID.
    await waitFor(() => ctx.server.defaultQueue.events.size() === 1, { what: 'one stream left' });
    ctx.server.http.closeAllConnections();
    await waitFor(() => ctx.server.defaultQueue.events.size() === 1 && s.es.readyState === EventSource.OPEN, { timeoutMs: 10_000, what: 'reconnected' });
    expect(s.statuses()).toHaveLength(1);
  });

  it('limits streams per client address with 429 and cleans up each closed one', async () => {
    const me = await join(ctx.url);
    const open3 = [0, 1, 2].map(() => raw(`${ctx.url}/events?token=${me.token}`));
    await waitFor(() => open3.every((r) => r.res?.statusCode === 200) && ctx.server.defaultQueue.events.size() === 3, { what: 'three streams' });
    const fourth = await fetch(`${ctx.url}/events?token=${me.token}`, { signal: AbortSignal.timeout(5000) });
    expect(fourth.status).toBe(429);
    expect(fourth.headers.get('retry-after')).toBe('5');
    expect(((await fourth.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    open3[0]!.close();
    await waitFor(() => ctx.server.defaultQueue.events.size() === 2, { what: 'closed stream removed' });
    const again = raw(`${ctx.url}/events?token=${me.token}`);
    await waitFor(() => again.res?.statusCode === 200, { what: 'slot reused' });
  });

  it('ends streams with a queue_reset problem when the queue is re-created', async () => {
    const me = await join(ctx.url);
    const s = open(`${ctx.url}/events?token=${me.token}`);
    await waitFor(() => s.statuses().length === 1, { what: 'first event' });
    await redis.withClient((c) => c.flushAll());
    await ctx.server.cache.refresh();
    await waitFor(() => s.got.some((g) => g.type === 'end'), { timeoutMs: 5000, what: 'end after reset' });
    const problem = s.got.find((g) => g.type === 'problem');
    expect(JSON.parse(problem!.data)).toEqual({ error: { code: 'queue_reset', message: expect.any(String) } });
    const after = await fetch(`${ctx.url}/events?token=${me.token}`);
    expect(after.status).toBe(409);
  });
});

describe('GET /events under memory pressure', () => {
  it('refuses new streams with 429 while the replica is short of memory, and says so in a metric', async () => {
    // A heap high water of 0.1% of the old generation's limit: any live heap is above it, so the guard is on from the start.
    const ctx = await serve({ QUEUE_ID: 'sse-memory', WINDOW_SIZE: '1', WINDOW_INTERVAL: '60', SSE_HEAP_HIGH_WATER: '0.001' });
    await join(ctx.url);
    const me = await join(ctx.url);
    expect(ctx.server.memory.active()).toBe(true);
    const refused = await fetch(`${ctx.url}/events?token=${me.token}`, { signal: AbortSignal.timeout(5000) });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('5');
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error).toEqual({ code: 'rate_limited', message: expect.stringContaining('short of memory') });
    expect(ctx.server.defaultQueue.events.size()).toBe(0);
    // The visitor still gets an answer by polling.
    const polled = await fetch(`${ctx.url}/status`, { headers: { Authorization: `Bearer ${me.token}` } });
    expect(polled.status).toBe(200);
    expect(await ctx.server.metrics.registry.getSingleMetricAsString('waitroom_memory_pressure')).toMatch(/^waitroom_memory_pressure 1$/m);
  });

  it('opens streams as before with the guard at its default', async () => {
    const ctx = await serve({ QUEUE_ID: 'sse-memory-ok', WINDOW_SIZE: '1', WINDOW_INTERVAL: '60' });
    await join(ctx.url); // ticket 1 is admitted at once (S = 1) and its stream would end
    const me = await join(ctx.url);
    expect(ctx.server.memory.active()).toBe(false);
    const s = raw(`${ctx.url}/events?token=${me.token}`);
    await waitFor(() => s.res?.statusCode === 200 && ctx.server.defaultQueue.events.size() === 1, { what: 'stream open' });
    expect(await ctx.server.metrics.registry.getSingleMetricAsString('waitroom_memory_pressure')).toMatch(/^waitroom_memory_pressure 0$/m);
  });
});

describe('GET /events connection churn', () => {
  it('leaves nothing behind after 10,000 connect/disconnect cycles', async () => {
    const ctx = await serve({ QUEUE_ID: 'sse-churn', WINDOW_SIZE: '1', WINDOW_INTERVAL: '60', SSE_MAX_STREAMS_PER_IP: '1000' });
    await join(ctx.url);
    const me = await join(ctx.url); // ticket 2 stays waiting, so every stream stays open until the client leaves
    const url = `${ctx.url}/events?token=${me.token}`;
    const cycles = 10_000;
    const parallel = 100;
    let peak = 0;
    for (let done = 0; done < cycles; done += parallel) {
      const batch = Array.from({ length: parallel }, () => raw(url));
      await waitFor(() => batch.every((r) => r.events().length > 0), { timeoutMs: 10_000, what: 'batch opened' });
      peak = Math.max(peak, ctx.server.defaultQueue.events.size());
      for (const r of batch) r.close();
      raws.length = 0;
    }
    expect(peak).toBeGreaterThanOrEqual(parallel);
    await waitFor(() => ctx.server.defaultQueue.events.size() === 0, { timeoutMs: 10_000, what: 'every stream removed' });
    expect(ctx.server.defaultQueue.events.trackedKeys()).toEqual({ tickets: 0, ips: 0 });
    const metrics = await (await fetch(`${ctx.url}/metrics`)).text();
    expect(metrics).toMatch(/^waitroom_sse_streams 0$/m);
  }, 120_000);
});
