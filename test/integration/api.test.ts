import type { AddressInfo } from 'node:net';
import request from 'supertest';
import jwt from 'jsonwebtoken';
import type { WaitroomServer } from '../../internal/server/waitroom-server';
import { startInProcess } from '../helpers/in-process';
import { TestRedis } from '../helpers/redis-server';
import { TEST_SECRET } from '../helpers/server-process';

let redis: TestRedis;
let server: WaitroomServer;
let base: string;

beforeAll(async () => {
  redis = await TestRedis.start();
  // A long interval: nothing advances during these tests unless a test says so.
  server = await startInProcess({ REDIS_URL: redis.url, QUEUE_ID: 'api', WINDOW_SIZE: '10', WINDOW_INTERVAL: '3600', ACTIVE_WINDOW_COUNT: '2' });
  const addr = await server.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(addr as AddressInfo).port}`;
});

afterAll(async () => {
  await server?.shutdown();
  await redis?.close();
});

describe('POST /join and GET /status', () => {
  test('the first batch is admitted at once, the rest wait in order', async () => {
    const joins = [];
    for (let i = 0; i < 12; i++) joins.push((await request(base).post('/join').expect(201)).body);
    expect(joins.map((j) => j.ticket)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(joins[0]).toMatchObject({ queue: 'api', status: 'active', position: 0, ahead: 0, etaSeconds: 0, windowEnd: 10 });
    expect(joins[9].status).toBe('active');
    expect(joins[10]).toMatchObject({ status: 'waiting', position: 1, ahead: 0 });
    expect(joins[11]).toMatchObject({ status: 'waiting', position: 2, ahead: 1 });
    // The next advance is due one interval after the queue was created.
    expect(joins[11].etaSeconds).toBeGreaterThan(3500);
    expect(joins[11].etaSeconds).toBeLessThanOrEqual(3600);

    const claims = jwt.verify(joins[11].token, TEST_SECRET) as jwt.JwtPayload;
    expect(claims).toMatchObject({ queue: 'api', ticket: 12 });
    expect(typeof claims.epoch).toBe('string');
    expect(claims.exp! - claims.iat!).toBe(6 * 3600);

    const st = await request(base).get('/status').set('Authorization', `Bearer ${joins[11].token}`).expect(200);
    expect(st.headers['cache-control']).toBe('no-store');
    expect(Number(st.headers['retry-after'])).toBeGreaterThan(0);
    expect(st.body).toMatchObject({ queue: 'api', ticket: 12, status: 'waiting', position: 2, ahead: 1, windowEnd: 10 });
    const active = await request(base).get('/status').set('Authorization', `Bearer ${joins[0].token}`).expect(200);
    expect(active.body).toMatchObject({ status: 'active', position: 0, ahead: 0, etaSeconds: 0 });
    expect(active.body.activeForSeconds).toBeGreaterThan(3500);
  });

  test('each join carries its own ticket cookie, and only its own (the join limit off: a shared admission)', async () => {
    const a = await fetch(`${base}/join`, { method: 'POST' });
    const b = await fetch(`${base}/join`, { method: 'POST' });
    for (const r of [a, b]) {
      expect(r.status).toBe(201);
      const body = (await r.json()) as { token: string };
      const cookies = r.headers.getSetCookie();
      expect(cookies).toHaveLength(1);
      expect(cookies[0]).toMatch(new RegExp(`^waitroom_ticket_api=${body.token.replace(/[.]/g, '\\.')}; Max-Age=\\d+; Path=/; HttpOnly; Secure; SameSite=Strict$`));
      // The fields, in the documented order.
      expect(Object.keys(body)).toEqual(['token', 'queue', 'ticket', 'position', 'status', 'ahead', 'etaSeconds', 'etaKind', 'activeForSeconds', 'windowEnd', 'state', 'message', 'opensAt', 'siteBusy', 'expiresAt']);
    }
  });

  test('1,000 concurrent joins get 1,000 distinct, consecutive tickets', async () => {
    const before = (await request(base).post('/join').expect(201)).body.ticket as number;
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => fetch(`${base}/join`, { method: 'POST' }).then(async (r) => ({ status: r.status, body: (await r.json()) as { ticket: number } }))),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    const tickets = results.map((r) => r.body.ticket).sort((a, b) => a - b);
    expect(new Set(tickets).size).toBe(1000);
    expect(tickets[0]).toBe(before + 1);
    expect(tickets[999]).toBe(before + 1000);
    const counter = await redis.withClient((c) => c.get('waitroom:{api}:counter'));
    expect(Number(counter)).toBe(before + 1000);
  });

  test('joins that arrive in the same event-loop turn share one Redis round trip, in arrival order', async () => {
    const batches = async () =>
      (await server.metrics.joinBatchSize.get()).values.find((v) => v.metricName === 'waitroom_join_batch_size_count')?.value ?? 0;
    const before = await batches();
    const joined = await Promise.all(Array.from({ length: 100 }, () => server.service.join()));
    expect(await batches()).toBe(before + 1);
    const tickets = joined.map((j) => j.ticket);
    expect(tickets).toEqual(Array.from({ length: 100 }, (_, i) => tickets[0]! + i));
  });
});

describe('bad input gets a clear error and changes nothing', () => {
  const counter = () => redis.withClient((c) => c.get('waitroom:{api}:counter'));

  test.each([
    ['no header', undefined, 'missing_token'],
    ['not bearer', 'Basic Zm9vOmJhcg==', 'invalid_token'],
    ['garbage', 'Bearer not.a.jwt', 'invalid_token'],
    ['alg none', `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"queue":"api","ticket":1,"epoch":"x","typ":"waitroom-ticket","iss":"waitroom"}').toString('base64url')}.`, 'invalid_token'],
    ['wrong secret', `Bearer ${jwt.sign({ queue: 'api', ticket: 1, epoch: 'x', typ: 'waitroom-ticket' }, 'another-secret-0123456789abcdef0123', { issuer: 'waitroom' })}`, 'invalid_token'],
    ['expired', `Bearer ${jwt.sign({ queue: 'api', ticket: 1, epoch: 'x', typ: 'waitroom-ticket', exp: 1000 }, TEST_SECRET, { issuer: 'waitroom' })}`, 'token_expired'],
  ])('/status with %s -> 401 and WWW-Authenticate', async (_name, auth, code) => {
    const before = await counter();
    const req = request(base).get('/status');
    if (auth) req.set('Authorization', auth);
    const res = await req.expect(401);
    expect(res.body.error.code).toBe(code);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(await counter()).toBe(before);
  });

  test('a ticket for a queue this deployment does not serve (any more) is 410 queue_closed', async () => {
    // /status takes the queue from the ticket; a validly signed ticket proves the queue existed.
    const token = jwt.sign({ queue: 'other', ticket: 1, epoch: 'x', typ: 'waitroom-ticket' }, TEST_SECRET, { issuer: 'waitroom', expiresIn: 60 });
    const res = await request(base).get('/status').set('Authorization', `Bearer ${token}`).expect(410);
    expect(res.body.error.code).toBe('queue_closed');
  });

  test('a ticket of an epoch this replica never saw, older than its last read, is 409 queue_reset', async () => {
    const iat = Math.floor(Date.now() / 1000) - 30;
    const token = jwt.sign({ queue: 'api', ticket: 3, epoch: 'an-earlier-epoch', typ: 'waitroom-ticket', iat }, TEST_SECRET, { issuer: 'waitroom', expiresIn: 3600 });
    const res = await request(base).get('/status').set('Authorization', `Bearer ${token}`).expect(409);
    expect(res.body.error.code).toBe('queue_reset');
  });

  test('unknown routes are 404 JSON', async () => {
    const res = await request(base).get('/nope').expect(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    // A known route with a wrong method is 405 with Allow, not 404 (test/integration/http-details.test.ts covers every route).
    const wrong = await request(base).delete('/join').expect(405);
    expect(wrong.headers.allow).toBe('POST, OPTIONS');
  });

  test('an oversized body is refused with 413 and issues no ticket', async () => {
    const before = await counter();
    const res = await request(base).post('/join').set('Content-Type', 'application/json').send(JSON.stringify({ pad: 'x'.repeat(10_000) }));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    expect(await counter()).toBe(before);
  });

  test('oversized headers are refused with 431', async () => {
    const res = await fetch(`${base}/status`, { headers: { 'X-Pad': 'x'.repeat(10_000) } });
    expect(res.status).toBe(431);
  });
});

describe('GET /window', () => {
  test('is public and cacheable for 1 s, and enough to compute a status locally', async () => {
    const r = await request(base).get('/window').expect(200);
    expect(r.headers['cache-control']).toBe('public, max-age=1');
    expect(r.body).toMatchObject({ queue: 'api', windowEnd: 10, windowSize: 10, activeWindowCount: 2, intervalSeconds: 3600 });
    expect(typeof r.body.epoch).toBe('string');
    expect(r.body.nextTickInMs).toBeGreaterThan(0);
    expect(r.body.nextTickInMs).toBeLessThanOrEqual(3600_000);
    expect(r.body).not.toHaveProperty('counter');
  });
});

describe('health', () => {
  test('the replica holds exactly one subscription to its queue events', async () => {
    // start() subscribes and refreshes concurrently; a second subscriber would leak a connection.
    // A sharded channel (SSUBSCRIBE), so SHARDNUMSUB counts it.
    const n = await redis.withClient((c) => c.pubSubShardNumSub('waitroom:{api}:events'));
    expect(n['waitroom:{api}:events']).toBe(1);
  });

  test('livez and readyz', async () => {
    await request(base).get('/livez').expect(200);
    const r = await request(base).get('/readyz').expect(200);
    expect(r.body.status).toBe('ready');
  });

  test('metrics are exported in Prometheus format', async () => {
    const r = await request(base).get('/metrics').expect(200);
    expect(r.headers['content-type']).toMatch(/text\/plain/);
    expect(r.text).toMatch(/waitroom_window_end\{queue="api"\} 10/);
    expect(r.text).toMatch(/waitroom_tickets_issued_total\{queue="api"\} \d+/);
    expect(r.text).toMatch(/waitroom_leader\{queue="api"\} 1/);
  });
});

describe('hot-path observability', () => {
  const statusCount = async () => {
    const text = (await request(base).get('/metrics').expect(200)).text;
    return Number(/^waitroom_http_requests_total\{route="\/status",method="GET",status="200"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  };

  test('a sane X-Request-Id is echoed on the reply; a malformed one is not', async () => {
    const { token } = (await request(base).post('/join').expect(201)).body as { token: string };
    const ok = await request(base).get('/status').set('Authorization', `Bearer ${token}`).set('X-Request-Id', 'trace-42.a_b:c').expect(200);
    expect(ok.headers['x-request-id']).toBe('trace-42.a_b:c');
    const bad = await request(base).get('/status').set('Authorization', `Bearer ${token}`).set('X-Request-Id', 'no spaces allowed').expect(200);
    expect(bad.headers['x-request-id']).not.toBe('no spaces allowed');
  });

  test('every hot request is counted, including those answered in the same event-loop turn', async () => {
    const { token } = (await request(base).post('/join').expect(201)).body as { token: string };
    const before = await statusCount();
    // 30 concurrent polls: several land in one turn and are added to the counter together.
    await Promise.all(Array.from({ length: 30 }, () => fetch(`${base}/status`, { headers: { Authorization: `Bearer ${token}` } }).then((r) => r.text())));
    expect(await statusCount()).toBe(before + 30);
  });
});
