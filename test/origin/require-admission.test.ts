import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { buildOriginApp } from '../../examples/origin/server';
import type { WaitroomServer } from '../../internal/server/waitroom-server';
import { startInProcess } from '../helpers/in-process';
import { TestKeyDir } from '../helpers/pass-keys';
import { TestRedis } from '../helpers/redis-server';

/** requireAdmission in the example origin, against a real waitroom's JWKS over HTTP. */
describe('requireAdmission (origin middleware)', () => {
  let redis: TestRedis;
  let keys: TestKeyDir;
  let waitroom: WaitroomServer;
  let jwksUrl: string;
  let jwksFetches = 0;
  const AUD = 'https://shop.example.com';

  beforeAll(async () => {
    redis = await TestRedis.start();
    keys = new TestKeyDir().add('k1');
    waitroom = await startInProcess({ REDIS_URL: redis.url, QUEUE_ID: 'origin', PASS_KEYS_DIR: keys.dir, TARGET_URL: `${AUD}/` });
    waitroom.http.on('request', (req) => {
      if (req.url === '/.well-known/jwks.json') jwksFetches++;
    });
    await waitroom.listen(0, '127.0.0.1');
    jwksUrl = `http://127.0.0.1:${(waitroom.http.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(async () => {
    await waitroom.shutdown();
    await redis.close();
    keys.close();
  });

  const claims = (over: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return { iss: 'waitroom', aud: AUD, sub: 'origin:7', iat: now, nbf: now, exp: now + 300, jti: `j-${Math.random()}`, ...over };
  };

  test('admits a claimed pass, refuses others with JSON or a redirect, and refetches the JWKS on an unknown kid', async () => {
    const app = buildOriginApp({ jwksUrl, audience: AUD, issuer: 'waitroom', waitingRoomUrl: 'https://queue.example.com/', jwksCooldownMs: 0 });
    const t = (await request(waitroom.http).post('/join').expect(201)).body as { token: string; ticket: number };
    const { pass } = (await request(waitroom.http).post('/claim').set('Authorization', `Bearer ${t.token}`).expect(200)).body as { pass: string };

    const ok = await request(app).get('/api/whoami').set('Cookie', `waitroom_pass=${pass}`).expect(200);
    expect(ok.body).toMatchObject({ queue: 'origin', ticket: t.ticket });
    await request(app).get('/api/whoami').set('X-Waitroom-Pass', pass).expect(200);
    expect(jwksFetches).toBe(1);

    const missing = await request(app).get('/api/whoami').set('Accept', 'application/json').expect(401);
    expect(missing.body.error.code).toBe('pass_missing');
    const page = await request(app).get('/?x=1').set('Accept', 'text/html').expect(302);
    expect(page.headers.location).toMatch(/^https:\/\/queue\.example\.com\/\?return_to=http%3A%2F%2F127\.0\.0\.1%3A\d+%2F%3Fx%3D1$/);
    const now = Math.floor(Date.now() / 1000);
    expect((await request(app).get('/api/whoami').set('X-Waitroom-Pass', await keys.sign('k1', claims({ exp: now - 60 }))).expect(401)).body.error.code).toBe('pass_expired');
    expect((await request(app).get('/api/whoami').set('X-Waitroom-Pass', await keys.sign('k1', claims({ aud: 'https://x.example' }))).expect(401)).body.error.code).toBe(
      'pass_wrong_audience',
    );
    expect((await request(app).get('/api/whoami').set('X-Waitroom-Pass', `${pass.slice(0, -4)}AAAA`).expect(401)).body.error.code).toBe('pass_invalid');
    await request(app).get('/healthz').expect(200);

    // Rotation: a new key appears in the waitroom; the origin meets its kid and refetches once.
    keys.add('k2', 'EdDSA');
    waitroom.admission.ring.reload();
    await request(app).get('/api/whoami').set('X-Waitroom-Pass', await keys.sign('k2', claims())).expect(200);
    expect(jwksFetches).toBe(2);
  });
});
