import { gunzipSync } from 'node:zlib';
import request from 'supertest';
import type { WaitroomServer } from '../../internal/server/waitroom-server';
import { startInProcess } from '../helpers/in-process';
import { TestRedis } from '../helpers/redis-server';

/**
 * HTTP details a client or a proxy relies on: every route answers a wrong
 * method with 405 and Allow (also the hot-path routes, which fall through to
 * Express), OPTIONS with 204 and Allow, a disabled feature with 404 for every
 * method; ETags and 304s on the JWKS and the page assets; compression of the
 * scripts and styles; whole milliseconds in /window.
 */

const ADMIN = 'admin-token-0123456789';
const SITE_KEY = 'site-key-0123456789abcdef0123456789abcdef';
let redis: TestRedis;
let on: WaitroomServer;
let off: WaitroomServer;

beforeAll(async () => {
  redis = await TestRedis.start();
  on = await startInProcess({ REDIS_URL: redis.url, QUEUE_ID: 'http-on', ADMIN_TOKEN: ADMIN, SITE_API_KEYS: SITE_KEY });
  off = await startInProcess({ REDIS_URL: redis.url, QUEUE_ID: 'http-off' });
}, 30_000);

afterAll(async () => {
  await on?.shutdown();
  await off?.shutdown();
  await redis?.close();
});

type Method = 'get' | 'post' | 'put' | 'delete' | 'patch';

// Every route of the service, the methods it serves, and one it does not.
const ROUTES: Array<[path: string, allow: string, wrong: Method]> = [
  ['/join', 'POST, OPTIONS', 'get'],
  ['/status', 'GET, DELETE, HEAD, OPTIONS', 'post'],
  ['/leave', 'POST, OPTIONS', 'get'],
  ['/stay', 'POST, OPTIONS', 'put'],
  ['/window', 'GET, HEAD, OPTIONS', 'delete'],
  ['/events', 'GET, HEAD, OPTIONS', 'post'],
  ['/', 'GET, HEAD, OPTIONS', 'post'],
  ['/client.js', 'GET, HEAD, OPTIONS', 'put'],
  ['/format.js', 'GET, HEAD, OPTIONS', 'put'],
  ['/app.js', 'GET, HEAD, OPTIONS', 'post'],
  ['/page.css', 'GET, HEAD, OPTIONS', 'delete'],
  ['/theme.css', 'GET, HEAD, OPTIONS', 'patch'],
  ['/admin', 'GET, HEAD, OPTIONS', 'post'],
  ['/admin/console.js', 'GET, HEAD, OPTIONS', 'post'],
  ['/admin/uplot.js', 'GET, HEAD, OPTIONS', 'post'],
  ['/admin/state', 'GET, HEAD, OPTIONS', 'delete'],
  ['/livez', 'GET, HEAD, OPTIONS', 'post'],
  ['/readyz', 'GET, HEAD, OPTIONS', 'post'],
  ['/metrics', 'GET, HEAD, OPTIONS', 'post'],
  ['/claim', 'POST, OPTIONS', 'get'],
  ['/.well-known/jwks.json', 'GET, HEAD, OPTIONS', 'post'],
  ['/verify', 'GET, HEAD, OPTIONS', 'post'],
  ['/passes/done', 'POST, OPTIONS', 'get'],
  ['/passes/stats', 'GET, HEAD, OPTIONS', 'post'],
];

describe.each(ROUTES)('%s', (path, allow, wrong) => {
  it(`answers ${wrong.toUpperCase()} with 405 method_not_allowed and Allow: ${allow}`, async () => {
    const r = await request(on.http)[wrong](path);
    expect({ status: r.status, allow: r.headers.allow, code: r.body?.error?.code }).toEqual({ status: 405, allow, code: 'method_not_allowed' });
  });

  it('answers OPTIONS with 204 and the same Allow', async () => {
    const r = await request(on.http).options(path);
    expect({ status: r.status, allow: r.headers.allow }).toEqual({ status: 204, allow });
  });
});

it('answers every method on the operator routes with 404 while ADMIN_TOKEN is unset, OPTIONS included', async () => {
  for (const path of ['/admin', '/admin/console.js', '/admin/uplot.js', '/admin/state']) {
    for (const m of ['get', 'options', 'post'] as const) {
      const r = await request(off.http)[m](path);
      expect({ path, m, status: r.status }).toEqual({ path, m, status: 404 });
    }
  }
});

it('gives the JWKS an ETag and answers a matching If-None-Match with 304', async () => {
  const first = await request(on.http).get('/.well-known/jwks.json').expect(200);
  const etag = first.headers.etag as string;
  expect(etag).toMatch(/^W\/"[\w-]{27}"$/);
  const again = await request(on.http).get('/.well-known/jwks.json').set('If-None-Match', etag).expect(304);
  expect(again.text).toBe('');
  expect(again.headers['cache-control']).toMatch(/^public, max-age=\d+$/);
});

it.each(['/', '/app.js', '/client.js', '/format.js', '/page.css', '/theme.css'])('serves %s with an ETag and 304 on revalidation', async (path) => {
  const first = await request(on.http).get(path).expect(200);
  const etag = first.headers.etag as string;
  expect(etag).toMatch(/^W\/"[\w-]{27}"$/);
  await request(on.http).get(path).set('If-None-Match', etag).expect(304);
});

it.each(['/app.js', '/client.js', '/page.css', '/'])('compresses %s for a client that accepts gzip', async (path) => {
  const plain = await request(on.http).get(path).set('Accept-Encoding', 'identity').buffer(true).parse((res, cb) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => cb(null, Buffer.concat(chunks)));
  });
  const gz = await request(on.http).get(path).set('Accept-Encoding', 'gzip').buffer(true).parse((res, cb) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => cb(null, Buffer.concat(chunks)));
  });
  expect(gz.headers['content-encoding']).toBe('gzip');
  expect(gz.headers.vary).toContain('Accept-Encoding');
  const raw = gz.body as Buffer;
  // supertest may already have inflated it; either way the content is the same.
  const body = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
  expect(body.equals(plain.body as Buffer)).toBe(true);
  expect(plain.headers['content-encoding']).toBeUndefined();
});

it('reports nextTickInMs in /window as whole milliseconds', async () => {
  for (let i = 0; i < 20; i++) {
    const r = await request(on.http).get('/window').expect(200);
    expect(Number.isInteger(r.body.nextTickInMs)).toBe(true);
  }
});
