import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { ConfigError, contrastRatio, loadConfig } from '../../internal/config/config';
import { chooseLocale, loadLocales } from '../../internal/web/i18n';
import { redactUrl } from '../../internal/http/app';
import type { WaitroomServer } from '../../internal/server/waitroom-server';
import { startInProcess } from '../helpers/in-process';
import { TestRedis } from '../helpers/redis-server';

const ADMIN = 'admin-token-0123456789';
let redis: TestRedis;
let server: WaitroomServer;

beforeAll(async () => {
  redis = await TestRedis.start();
  server = await startInProcess({
    REDIS_URL: redis.url,
    QUEUE_ID: 'web',
    BRAND_TITLE: 'Drop <b>&</b> "go"',
    BRAND_MESSAGE: 'Doors open at 10:00',
    BRAND_LOGO_URL: 'https://cdn.example.com/logo.svg',
    BRAND_PRIMARY_COLOR: '#0F766E',
    ADMIN_TOKEN: ADMIN,
    TARGET_URL: 'https://shop.example.com/',
  });
});

afterAll(async () => {
  await server.shutdown();
  await redis.close();
});

describe('the waiting page', () => {
  it('is served in English by default with branding escaped and a strict CSP', async () => {
    const r = await request(server.http).get('/').expect(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['content-language']).toBe('en');
    expect(r.headers.vary).toContain('Accept-Language');
    expect(r.text).toContain('<html lang="en" dir="ltr">');
    expect(r.text).toContain('<title>Drop &lt;b&gt;&amp;&lt;/b&gt; &quot;go&quot;</title>');
    expect(r.text).toContain('Doors open at 10:00');
    expect(r.text).toContain('src="https://cdn.example.com/logo.svg"');
    expect(r.text).toContain('aria-live="polite"');
    const csp = r.headers['content-security-policy'] as string;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain('img-src \'self\' data: https://cdn.example.com');
    expect(csp).not.toContain('unsafe-inline');
    const config = JSON.parse(/<script type="application\/json" id="wr-config">(.*?)<\/script>/.exec(r.text)![1]!);
    expect(config).toMatchObject({ queue: 'web', lang: 'en', targetUrl: 'https://shop.example.com/' });
  });

  it('picks Arabic (right to left) from Accept-Language or the lang parameter', async () => {
    const a = await request(server.http).get('/').set('Accept-Language', 'fr;q=0.9, ar-EG;q=0.8, en;q=0.1').expect(200);
    expect(a.text).toContain('<html lang="ar" dir="rtl">');
    expect(a.text).toContain('ترتيبك في الطابور');
    const b = await request(server.http).get('/?lang=ar').set('Accept-Language', 'en').expect(200);
    expect(b.text).toContain('dir="rtl"');
    const c = await request(server.http).get('/?lang=xx').set('Accept-Language', 'de').expect(200);
    expect(c.text).toContain('dir="ltr"');
  });

  it('serves the client, page script, styles and the brand theme', async () => {
    const js = await request(server.http).get('/client.js').expect(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.text).toContain('function WaitingRoom(');
    await request(server.http).get('/app.js').expect(200);
    await request(server.http).get('/page.css').expect(200);
    const theme = await request(server.http).get('/theme.css').expect(200);
    expect(theme.text).toContain('--wr-primary:#0f766e');
  });
});

describe('the operator view', () => {
  it('needs the admin token', async () => {
    const none = await request(server.http).get('/admin/state').expect(401);
    expect(none.body.error.code).toBe('missing_token');
    expect(none.headers['www-authenticate']).toContain('Bearer');
    const wrong = await request(server.http).get('/admin/state').set('Authorization', 'Bearer not-the-admin-token').expect(401);
    expect(wrong.body.error.code).toBe('invalid_token');
  });

  it('shows counter, window end, waiting, leader and next tick', async () => {
    await request(server.http).post('/join').expect(201);
    await server.cache.refresh();
    const r = await request(server.http).get('/admin/state').set('Authorization', `Bearer ${ADMIN}`).expect(200);
    expect(r.body).toMatchObject({ queue: 'web', counter: expect.any(Number), windowEnd: expect.any(Number), waiting: expect.any(Number) });
    expect(r.body.leader).toBe(server.defaultQueue.lease.owner);
    expect(r.body.replica).toMatchObject({ owner: server.defaultQueue.lease.owner, leader: true, eventStreams: 0 });
    expect(r.body.nextTickInMs).toBeGreaterThanOrEqual(0);
    const page = await request(server.http).get('/admin').expect(200);
    expect(page.text).toContain('Admin token');
  });

  it('is disabled (404) without ADMIN_TOKEN', async () => {
    const off = await startInProcess({ REDIS_URL: redis.url, QUEUE_ID: 'web-off' });
    try {
      const r = await request(off.http).get('/admin/state').set('Authorization', `Bearer ${ADMIN}`).expect(404);
      expect(r.body.error.code).toBe('not_found');
    } finally {
      await off.shutdown();
    }
  });
});

describe('visitor configuration', () => {
  it('refuses bad colours, logo URLs and short admin tokens by name', () => {
    try {
      loadConfig({ BRAND_PRIMARY_COLOR: 'red', BRAND_LOGO_URL: 'javascript:alert(1)', ADMIN_TOKEN: 'short' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect(Object.keys((err as ConfigError).problems).sort()).toEqual(['ADMIN_TOKEN', 'BRAND_LOGO_URL', 'BRAND_PRIMARY_COLOR']);
    }
  });

  it('warns about a low-contrast accent colour', () => {
    expect(contrastRatio('#ffffff', '#000000')).toBeCloseTo(21, 5);
    const c = loadConfig({ BRAND_PRIMARY_COLOR: '#ffff00' });
    expect(c.warnings.some((w) => w.includes('BRAND_PRIMARY_COLOR'))).toBe(true);
    expect(loadConfig({}).warnings.some((w) => w.includes('BRAND_'))).toBe(false);
  });

  /** Express's own req.acceptsLanguages over a given header, as the route calls it. */
  const accepts = (header: string | undefined, langs: string[]): string | false => {
    const req = Object.assign(Object.create(express.request) as express.Request, { headers: header === undefined ? {} : { 'accept-language': header } });
    return req.acceptsLanguages(langs);
  };

  it('ships locales with identical keys and chooses by q-value', () => {
    const locales = loadLocales(join(__dirname, '..', '..', 'internal', 'web', 'static', 'i18n'));
    expect([...locales.keys()].sort()).toEqual(['ar', 'en']);
    expect(locales.get('ar')!.dir).toBe('rtl');
    expect(chooseLocale(locales, undefined, (l) => accepts('en;q=0.2, ar;q=0.9', l)).lang).toBe('ar');
    expect(chooseLocale(locales, undefined, (l) => accepts('ar;q=0, en', l)).lang).toBe('en');
    expect(chooseLocale(locales, 'AR', (l) => accepts(undefined, l)).lang).toBe('ar');
  });

  it.each([
    ['/events?token=abc.def&x=1', '/events?token=[redacted]&x=[redacted]'],
    ['/cb?code=s3cret&access_token=t&session=u', '/cb?code=[redacted]&access_token=[redacted]&session=[redacted]'],
    ['/?lang=ar', '/?lang=ar'],
    ['/verify?mode=auth_request&token=x', '/verify?mode=auth_request&token=[redacted]'],
    ['/status', '/status'],
    ['/x?flag', '/x?flag'],
  ])('logs %s as %s: every query value outside the allow-list is masked', (url, logged) => {
    expect(redactUrl(url)).toBe(logged);
  });
});
