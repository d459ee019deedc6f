import request from 'supertest';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { WaitroomServer } from '../../internal/server/waitroom-server';
import { startInProcess } from '../helpers/in-process';
import { TestKeyDir } from '../helpers/pass-keys';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';

const SITE_KEY = 'site-key-0123456789abcdef0123456789abcdef';

describe('POST /claim, JWKS, done and stats', () => {
  let redis: TestRedis;
  let keys: TestKeyDir;
  const servers: WaitroomServer[] = [];

  const start = async (env: Record<string, string>) => {
    const s = await startInProcess({
      REDIS_URL: redis.url,
      PASS_KEYS_DIR: keys.dir,
      TARGET_URL: 'https://shop.example.com/sale?token=abc.def.ghi',
      SITE_API_KEYS: SITE_KEY,
      ...env,
    });
    servers.push(s);
    return s;
  };
  const join = async (s: WaitroomServer) => (await request(s.http).post('/join').expect(201)).body as { token: string; ticket: number; status: string };

  beforeAll(async () => {
    redis = await TestRedis.start();
    keys = new TestKeyDir().add('2026-01-a', 'ES256');
  });
  afterAll(async () => {
    for (const s of servers) await s.shutdown();
    await redis.close();
    keys.close();
  });

  test('an active ticket gets a signed pass, a cookie and the target without tokens; JWKS verifies it', async () => {
    const s = await start({ QUEUE_ID: 'claim-ok', PASS_TTL: '600' });
    const t = await join(s);
    expect(t.status).toBe('active');
    const res = await request(s.http).post('/claim').set('Authorization', `Bearer ${t.token}`).expect(200);
    expect(res.body.redirectUrl).toBe('https://shop.example.com/sale');
    const claims = decodeJwt(res.body.pass);
    expect(claims).toMatchObject({ iss: 'waitroom', aud: 'https://shop.example.com', sub: `claim-ok:${t.ticket}` });
    expect(claims.exp! - claims.iat!).toBe(600);
    expect(claims.nbf).toBe(claims.iat);
    expect(typeof claims.jti).toBe('string');
    expect(res.body.expiresAt).toBe(claims.exp);
    expect(decodeProtectedHeader(res.body.pass)).toMatchObject({ alg: 'ES256', kid: '2026-01-a' });
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^waitroom_pass=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);

    const jwks = await request(s.http).get('/.well-known/jwks.json').expect(200);
    expect(jwks.headers['cache-control']).toBe('public, max-age=300');
    expect(jwks.body.keys).toEqual([expect.objectContaining({ kid: '2026-01-a', kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })]);
    expect(JSON.stringify(jwks.body)).not.toMatch(/"d"/);

    const ok = await request(s.http).get('/verify').set('Cookie', `waitroom_pass=${res.body.pass}`).expect(204);
    expect(ok.headers['x-waitroom-queue']).toBe('claim-ok');
    expect(ok.headers['x-waitroom-ticket']).toBe(String(t.ticket));
    expect(ok.headers['x-waitroom-pass-id']).toBe(claims.jti);
  });

  test('a return_to on the target origin is honoured without tokens; another origin is not', async () => {
    const s = await start({ QUEUE_ID: 'claim-return' });
    const a = await join(s);
    const r1 = await request(s.http)
      .post('/claim')
      .set('Authorization', `Bearer ${a.token}`)
      .send({ returnTo: 'https://shop.example.com/cart?id=7&pass=x.y.z#top' })
      .expect(200);
    expect(r1.body.redirectUrl).toBe('https://shop.example.com/cart?id=7#top');
    const b = await join(s);
    const r2 = await request(s.http).post('/claim?return_to=https%3A%2F%2Fevil.example%2F').set('Authorization', `Bearer ${b.token}`).expect(200);
    expect(r2.body.redirectUrl).toBe('https://shop.example.com/sale');
  });

  test('a waiting ticket gets 403 ticket_waiting with its ETA; an expired one 403 ticket_expired', async () => {
    const s = await start({ QUEUE_ID: 'claim-wait', WINDOW_SIZE: '1', WINDOW_INTERVAL: '0.3', ACTIVE_WINDOW_COUNT: '1' });
    const first = await join(s);
    const second = await join(s);
    expect(second.status).toBe('waiting');
    const w = await request(s.http).post('/claim').set('Authorization', `Bearer ${second.token}`).expect(403);
    expect(w.body.error).toMatchObject({ code: 'ticket_waiting', position: 1 });
    expect(typeof w.body.error.etaSeconds).toBe('number');
    // Ticket 1 expires once ticket 2 is admitted (K = 1).
    await waitFor(async () => (await request(s.http).get('/status').set('Authorization', `Bearer ${first.token}`)).body.status === 'expired', {
      what: 'ticket 1 expired',
    });
    const e = await request(s.http).post('/claim').set('Authorization', `Bearer ${first.token}`).expect(403);
    expect(e.body.error.code).toBe('ticket_expired');
  });

  test('bad requests get clear errors', async () => {
    const s = await start({ QUEUE_ID: 'claim-bad' });
    expect((await request(s.http).post('/claim').expect(401)).body.error.code).toBe('missing_token');
    const bad = await request(s.http).post('/claim').set('Authorization', 'Bearer abc.def.ghi').expect(401);
    expect(bad.body.error.code).toBe('invalid_token');
    expect(bad.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await request(s.http).get('/claim').expect(405)).body.error.code).toBe('method_not_allowed');
    const t = await join(s);
    const notObject = await request(s.http).post('/claim').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/json').send('[1]').expect(400);
    expect(notObject.body.error.code).toBe('invalid_body');
  });

  test.each(['same', 'refuse'])('50 simultaneous claims of one ticket make one admission (policy %s)', async (policy) => {
    const s = await start({ QUEUE_ID: `claim-race-${policy}`, PASS_CLAIM_POLICY: policy });
    const t = await join(s);
    const replies = await Promise.all(Array.from({ length: 50 }, () => request(s.http).post('/claim').set('Authorization', `Bearer ${t.token}`)));
    const ok = replies.filter((r) => r.status === 200);
    const passes = new Set(ok.map((r) => r.body.pass as string));
    expect(passes.size).toBe(1);
    if (policy === 'same') {
      expect(ok).toHaveLength(50);
    } else {
      expect(ok).toHaveLength(1);
      const refused = replies.filter((r) => r.status === 409);
      expect(refused).toHaveLength(49);
      expect(refused[0]?.body.error.code).toBe('already_claimed');
    }
    const stats = await request(s.http).get('/passes/stats').set('Authorization', `Bearer ${SITE_KEY}`).expect(200);
    expect(stats.body).toMatchObject({ queue: `claim-race-${policy}`, claimed: 1, active: 1 });
  });

  test('the site marks a pass done: the gate refuses it, a repeat claim gets 409, and it is counted once', async () => {
    const s = await start({ QUEUE_ID: 'claim-done' });
    const a = await join(s);
    const b = await join(s);
    const pa = (await request(s.http).post('/claim').set('Authorization', `Bearer ${a.token}`).expect(200)).body.pass as string;
    const pb = (await request(s.http).post('/claim').set('Authorization', `Bearer ${b.token}`).expect(200)).body.pass as string;
    const jti = decodeJwt(pa).jti;

    expect((await request(s.http).post('/passes/done').send({ jti }).expect(401)).body.error.code).toBe('missing_site_key');
    expect((await request(s.http).post('/passes/done').set('Authorization', 'Bearer nope').send({ jti }).expect(401)).body.error.code).toBe('invalid_site_key');
    const bad = await request(s.http).post('/passes/done').set('Authorization', `Bearer ${SITE_KEY}`).send({ jti, outcome: 'maybe' }).expect(400);
    expect(bad.body.error.code).toBe('invalid_outcome');
    await request(s.http).post('/passes/done').set('Authorization', `Bearer ${SITE_KEY}`).send({ jti: 'no-such-pass' }).expect(404);

    const done = await request(s.http).post('/passes/done').set('Authorization', `Bearer ${SITE_KEY}`).send({ jti }).expect(200);
    expect(done.body).toEqual({ jti, result: 'done', outcome: 'completed' });
    const again = await request(s.http).post('/passes/done').set('Authorization', `Bearer ${SITE_KEY}`).send({ pass: pa }).expect(200);
    expect(again.body).toEqual({ jti, result: 'already_done' });
    await request(s.http).post('/passes/done').set('Authorization', `Bearer ${SITE_KEY}`).send({ pass: pb, outcome: 'abandoned' }).expect(200);

    const refused = await request(s.http).get('/verify').set('X-Waitroom-Pass', pa).expect(403);
    expect(refused.body.error.code).toBe('pass_revoked');
    const reclaim = await request(s.http).post('/claim').set('Authorization', `Bearer ${a.token}`).expect(409);
    expect(reclaim.body.error.code).toBe('already_claimed');

    const stats = await request(s.http).get('/passes/stats').set('Authorization', `Bearer ${SITE_KEY}`).expect(200);
    expect(stats.body).toMatchObject({ claimed: 2, completed: 1, abandoned: 1, timedOut: 0, active: 0 });
  });

  test('a revocation reaches another replica by pub/sub, without a Redis call per request', async () => {
    const a = await start({ QUEUE_ID: 'claim-replicas', PASS_REVOCATION_REFRESH_MS: '60000' });
    const b = await start({ QUEUE_ID: 'claim-replicas', PASS_REVOCATION_REFRESH_MS: '60000' });
    const t = await join(a);
    const pass = (await request(a.http).post('/claim').set('Authorization', `Bearer ${t.token}`).expect(200)).body.pass as string;
    await request(b.http).get('/verify').set('X-Waitroom-Pass', pass).expect(204);
    await request(a.http).post('/passes/done').set('Authorization', `Bearer ${SITE_KEY}`).send({ pass }).expect(200);
    await waitFor(async () => (await request(b.http).get('/verify').set('X-Waitroom-Pass', pass)).status === 403, { timeoutMs: 5000, what: 'replica b refuses the pass' });
  });

  test('passes that expire unreported are counted as abandoned (timed out)', async () => {
    const s = await start({ QUEUE_ID: 'claim-timeout', PASS_TTL: '1' });
    const t = await join(s);
    await request(s.http).post('/claim').set('Authorization', `Bearer ${t.token}`).expect(200);
    const stats = await waitFor(
      async () => {
        const r = await request(s.http).get('/passes/stats').set('Authorization', `Bearer ${SITE_KEY}`);
        return r.body.timedOut === 1 ? r.body : undefined;
      },
      { timeoutMs: 5000, intervalMs: 100, what: 'the pass timed out' },
    );
    expect(stats).toMatchObject({ claimed: 1, completed: 0, abandoned: 1, timedOut: 1, active: 0 });
  });

  test('without SITE_API_KEYS the site endpoints are disabled with a clear code', async () => {
    const s = await start({ QUEUE_ID: 'claim-nokeys', SITE_API_KEYS: '' });
    const r = await request(s.http).get('/passes/stats').expect(403);
    expect(r.body.error.code).toBe('site_api_disabled');
  });

  test('a location protected by one queue refuses a pass of another (403 pass_wrong_queue) and sends pages to its own queue', async () => {
    const admin = 'ops-token-0123456789abcdef';
    const s = await start({ QUEUE_ID: 'gate-a', ADMIN_TOKENS: `ops:${admin}`, WAITING_PAGE_URL: 'https://shop.example.com/waitroom/' });
    await request(s.http)
      .post('/admin/api/v1/queues')
      .set('Authorization', `Bearer ${admin}`)
      .send({ id: 'gate-b', windowSize: 100 })
      .expect(201);
    const passOf = async (path: string) => {
      const t = (await request(s.http).post(path).expect(201)).body as { token: string };
      return (await request(s.http).post('/claim').set('Authorization', `Bearer ${t.token}`).expect(200)).body.pass as string;
    };
    const passA = await passOf('/join');
    const passB = await passOf('/q/gate-b/join');
    const cookie = (p: string) => `waitroom_pass=${p}`;

    // By query parameter (nginx: proxy_pass .../verify?queue=gate-a) and by header.
    const wrong = await request(s.http).get('/verify?queue=gate-a').set('Cookie', cookie(passB)).expect(403);
    expect(wrong.body.error.code).toBe('pass_wrong_queue');
    await request(s.http).get('/verify').set('X-Waitroom-Required-Queue', 'gate-b').set('Cookie', cookie(passA)).expect(403);
    expect((await request(s.http).get('/verify?queue=gate-b').set('Cookie', cookie(passB)).expect(204)).headers['x-waitroom-queue']).toBe('gate-b');
    await request(s.http).get('/verify?queue=gate-a').set('Cookie', cookie(passA)).expect(204);
    // No queue named: any pass this deployment issued (one queue per location is the operator's choice).
    await request(s.http).get('/verify').set('Cookie', cookie(passB)).expect(204);

    // A page request without a pass goes to the waiting page of the queue protecting it.
    const page = await request(s.http)
      .get('/verify?queue=gate-b&mode=auth_request')
      .set('Accept', 'text/html')
      .set('X-Original-URL', 'https://shop.example.com/b/tickets')
      .expect(401);
    expect(page.headers['x-waitroom-redirect']).toBe('https://shop.example.com/waitroom/q/gate-b/?return_to=https%3A%2F%2Fshop.example.com%2Fb%2Ftickets');
  });
});
