import { connect, type Socket } from 'node:net';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';
import { closeAgents, httpFrom } from '../helpers/http-from';
import { waitFor } from '../helpers/ports';

/** Opens a raw TCP connection from `from` and resolves once connected. */
function rawSocket(port: number, from = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress: from }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the server sends until it closes the connection, and when it closed. */
function untilClosed(s: Socket): Promise<{ text: string; closedAt: number }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
    s.once('close', () => resolve({ text: Buffer.concat(chunks).toString('utf8'), closedAt: Date.now() }));
  });
}

describe('HTTP hygiene', () => {
  let redis: TestRedis;
  let s: ServerProcess;
  const HEADERS_TIMEOUT = 2000;
  const ADMIN = 'abc+def/ghi=jkl+mno/pqr==';

  beforeAll(async () => {
    redis = await TestRedis.start();
    s = await ServerProcess.start({
      REDIS_URL: redis.url,
      QUEUE_ID: 'hygiene',
      HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT),
      HTTP_MAX_CONNECTIONS_PER_IP: '5',
      FORGERY_LIMIT: '5',
      FORGERY_BLOCK_SECONDS: '60',
      ADMIN_TOKEN: ADMIN,
      LOG_SAMPLE_RATE: '1',
    });
  });

  afterAll(async () => {
    closeAgents();
    await s?.stop();
    await redis?.close();
  });

  it('a 1 MB chunked POST /join gets 413 and no ticket', async () => {
    const before = await redis.withClient((c) => c.get('waitroom:{hygiene}:counter'));
    const sock = await rawSocket(s.port);
    const done = untilClosed(sock);
    sock.write('POST /join HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = Buffer.alloc(64 * 1024, 'a');
    for (let i = 0; i < 16 && !sock.destroyed; i++) sock.write(`${chunk.length.toString(16)}\r\n${chunk.toString()}\r\n`);
    if (!sock.destroyed) sock.write('0\r\n\r\n');
    const { text } = await done;
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toContain('"code":"payload_too_large"');
    expect(await redis.withClient((c) => c.get('waitroom:{hygiene}:counter'))).toBe(before);
  });

  it('a small chunked body on /join is read to its end and the join answered', async () => {
    const r = await httpFrom(`${s.url}/join`, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' }, body: '{}' });
    expect(r.status).toBe(201);
  });

  it.each<[string, Record<string, string>]>([
    ['a chunked text/plain body', { 'Transfer-Encoding': 'chunked', 'Content-Type': 'text/plain' }],
    ['a declared 64 MB text/plain body', { 'Content-Length': String(64 * 1024 * 1024), 'Content-Type': 'text/plain' }],
  ])('%s on /claim gets 413 without being read in full', async (_name, headers) => {
    const sock = await rawSocket(s.port);
    const done = untilClosed(sock);
    const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    sock.write(`POST /claim HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n${head}\r\n`);
    const chunked = headers['Transfer-Encoding'] === 'chunked';
    const piece = Buffer.alloc(256 * 1024, 'b');
    let sent = 0;
    // Up to 64 MB, written only as fast as the server reads: it stops reading after the limit.
    while (sent < 64 * 1024 * 1024 && !sock.destroyed) {
      const ok = sock.write(chunked ? `${piece.length.toString(16)}\r\n${piece.toString()}\r\n` : piece);
      sent += piece.length;
      if (!ok) {
        const drained = await Promise.race([
          new Promise<boolean>((r) => sock.once('drain', () => r(true))),
          new Promise<boolean>((r) => sock.once('close', () => r(false))),
          new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
        ]);
        if (!drained) break;
      }
    }
    sock.destroy();
    const { text } = await done;
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    // Far less than 64 MB went through before the server stopped reading (socket buffers hold a few MB).
    expect(sent).toBeLessThan(32 * 1024 * 1024);
  });

  it('a connection that sends its headers slowly is cut within headersTimeout + 1 s', async () => {
    const sock = await rawSocket(s.port);
    const opened = Date.now();
    const done = untilClosed(sock);
    sock.write('GET /status HTTP/1.1\r\nHost: x\r\n');
    // One header byte every 200 ms, never the blank line that ends them.
    const drip = setInterval(() => {
      if (!sock.destroyed) sock.write('X');
    }, 200);
    const { closedAt } = await done;
    clearInterval(drip);
    const elapsed = closedAt - opened;
    expect(elapsed).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 50);
    expect(elapsed).toBeLessThanOrEqual(HEADERS_TIMEOUT + 1000);
  });

  it('caps open connections per client address; other addresses still connect', async () => {
    const held: Socket[] = [];
    for (let i = 0; i < 5; i++) held.push(await rawSocket(s.port, '127.0.0.7'));
    const sixth = await rawSocket(s.port, '127.0.0.7');
    const { text } = await untilClosed(sixth);
    expect(text).toBe('');
    expect((await httpFrom(`${s.url}/livez`, { from: '127.0.0.8' })).status).toBe(200);
    for (const h of held) h.destroy();
    // Closed connections free their places.
    await waitFor(async () => (await httpFrom(`${s.url}/livez`, { from: '127.0.0.7' }).catch(() => ({ status: 0 }))).status === 200, {
      what: 'a new connection from 127.0.0.7',
    });
    expect(await (await s.fetch('/metrics')).text()).toMatch(/^waitroom_connections_refused_total [1-9]/m);
  });

  it('refuses two Authorization headers with 400 duplicate_header, on hot and Express routes', async () => {
    const token = ((await (await s.fetch('/join', { method: 'POST' })).json()) as { token: string }).token;
    for (const path of ['/status', '/claim']) {
      const method = path === '/claim' ? 'POST' : 'GET';
      const r = await httpFrom(`${s.url}${path}`, { method, headers: { Authorization: [`Bearer ${token}`, 'Bearer other'] } });
      expect(r.status).toBe(400);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('duplicate_header');
    }
  });

  it('an ADMIN_TOKEN with + / and = logs in', async () => {
    const r = await s.fetch('/admin/state', { headers: { Authorization: `Bearer ${ADMIN}` } });
    expect(r.status).toBe(200);
    expect((await s.fetch('/admin/state', { headers: { Authorization: 'Bearer abc+def/ghi=jkl+mno/pqr=X' } })).status).toBe(401);
  });

  it('logs query strings redacted except allow-listed parameters, and throttles Express refusals', async () => {
    for (let i = 0; i < 30; i++) await (await s.fetch(`/no-such-page?code=s3cret-${i}&lang=en`)).arrayBuffer();
    await (await s.fetch('/?lang=en&access_token=tok-abc&session=sess-xyz')).arrayBuffer();
    await waitFor(() => s.logs.some((l) => l.includes('sess')), { what: 'the page request logged' });
    const all = s.logs.join('\n');
    expect(all).not.toMatch(/s3cret|tok-abc|sess-xyz/);
    expect(all).toContain('lang=en');
    // 30 refusals of one kind within a second or two: a couple of lines, not 30.
    const lines = s.logEntries().filter((e) => JSON.stringify(e).includes('/no-such-page'));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(5);
  });

  it('a client presenting many forged tokens is refused for a while (429 forgery_blocked); others are not', async () => {
    const good = ((await (await s.fetch('/join', { method: 'POST' })).json()) as { token: string }).token;
    const forged = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const codes: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await httpFrom(`${s.url}/status`, { from: '127.0.0.9', headers: { Authorization: `Bearer ${forged}` } });
      codes.push(r.json<{ error: { code: string } }>().error.code);
    }
    // FORGERY_LIMIT=5: the sixth forged token blocks the address.
    expect(codes.slice(0, 6)).toEqual(Array(6).fill('invalid_token'));
    expect(codes[6]).toBe('forgery_blocked');
    // Blocked everywhere, even with a valid ticket, and on Express routes.
    const blocked = await httpFrom(`${s.url}/status`, { from: '127.0.0.9', headers: { Authorization: `Bearer ${good}` } });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(50);
    expect((await httpFrom(`${s.url}/window`, { from: '127.0.0.9' })).status).toBe(429);
    // Another address is unaffected.
    expect((await httpFrom(`${s.url}/status`, { from: '127.0.0.10', headers: { Authorization: `Bearer ${good}` } })).status).toBe(200);
    const metrics = await (await s.fetch('/metrics')).text();
    expect(metrics).toMatch(/^waitroom_forged_tokens_total\{code="invalid_token"\} ([6-9]|\d{2,})$/m);
    expect(metrics).toMatch(/^waitroom_forgery_blocks_total 1$/m);
  });
});
