import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../helpers/ports';

/**
 * The bench's floors (bench/servers/floor.ts) stand for "the service's own reply, with
 * no work behind it": the figures in docs/benchmarks.md rest on them writing exactly the
 * reply they were given, on node:http and on a bare node:net socket.
 */
const FLOOR = join(__dirname, '..', '..', 'bench', 'servers', 'floor.ts');
const BODY = '{"queue":"q","message":"déjà vu","status":"waiting"}';
const REPLIES = {
  'GET /status': {
    status: 200,
    headers: ['Content-Type', 'application/json; charset=utf-8', 'Retry-After', '2', 'Content-Length', String(Buffer.byteLength(BODY))],
    body: BODY,
  },
  'GET /verify': { status: 204, headers: ['X-Waitroom-Queue', 'q', 'Content-Length', '0'], body: '' },
};

/** Writes `chunks` on one connection and reads until `replies` replies (each with its Content-Length) arrived. */
function exchange(port: number, chunks: string[], replies: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only got ${JSON.stringify(got.toString('latin1'))}`));
    }, 5000);
    const complete = () => {
      let at = 0;
      for (let n = 0; n < replies; n++) {
        const end = got.indexOf('\r\n\r\n', at);
        if (end < 0) return false;
        const length = Number(/content-length: (\d+)/i.exec(got.subarray(at, end).toString('latin1'))?.[1] ?? 0);
        at = end + 4 + length;
        if (got.length < at) return false;
      }
      return true;
    };
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (complete()) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got.toString('utf8'));
      }
    });
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (const c of chunks) {
        socket.write(c, 'latin1');
        await new Promise((r) => setTimeout(r, 20));
      }
    });
  });
}

describe.each(['http', 'raw'] as const)('bench floor (%s)', (kind) => {
  let dir: string;
  let proc: ChildProcess;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waitroom-floor-'));
    const file = join(dir, 'replies.json');
    writeFileSync(file, JSON.stringify(REPLIES));
    port = await freePort();
    proc = spawn(process.execPath, ['--import', 'tsx', FLOOR, String(port), file, kind], { stdio: 'ignore' });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/status`)).ok, { timeoutMs: 20_000, what: 'the floor server' });
  }, 30_000);

  afterAll(() => {
    proc?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers with the status, headers and body it was given', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/status?x=1`, { headers: { Authorization: 'Bearer t' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('retry-after')).toBe('2');
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await r.text()).toBe(BODY);
    const v = await fetch(`http://127.0.0.1:${port}/verify`);
    expect(v.status).toBe(204);
    expect(v.headers.get('x-waitroom-queue')).toBe('q');
  });

  it('answers pipelined requests in order, and a request split over two writes', async () => {
    const text = await exchange(port, ['GET /verify HTTP/1.1\r\nHost: a\r\n\r\nGET /status HTTP/1.1\r\nHo', 'st: a\r\n\r\n'], 2);
    expect(text.indexOf('HTTP/1.1 204')).toBe(0);
    expect(text.indexOf('HTTP/1.1 200')).toBeGreaterThan(0);
    expect(text.endsWith(BODY)).toBe(true);
  });

  it('answers a route it was not given with 404', async () => {
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  });
});
