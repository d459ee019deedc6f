import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../internal/observability/logger';
import { freePort, waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * What a person sees when the server starts, or cannot: one readable line and
 * a distinct exit code for a busy port or bad keys, a clickable "listening on"
 * line, no spurious warnings on a healthy start, a readable terminal format,
 * and /metrics only on METRICS_PORT when one is set.
 */

let redis: TestRedis;

beforeAll(async () => {
  redis = await TestRedis.start();
});

afterAll(async () => {
  await redis?.close();
});

async function exited(s: ServerProcess): Promise<number | null> {
  await Promise.race([s.exited, new Promise((r) => setTimeout(r, 15_000))]);
  return s.exitCode;
}

it('a busy port: one line naming the port and the fix, exit code 69, nothing else', async () => {
  const blocker: Server = createServer();
  const port = await freePort();
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
  try {
    const s = await ServerProcess.start({ REDIS_URL: redis.url, PORT: String(port) }, { waitReady: false });
    expect(await exited(s)).toBe(69);
    expect(s.logs).toEqual([`waitroom: cannot listen on 127.0.0.1:${port}: the port is already in use (EADDRINUSE); stop the other process or set PORT`]);
  } finally {
    blocker.close();
  }
}, 30_000);

it('an unusable pass key directory is a configuration error: exit 78 and a message, no stack trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'waitroom-badkeys-'));
  writeFileSync(join(dir, 'k1.pem'), 'not a key\n');
  try {
    const s = await ServerProcess.start({ REDIS_URL: redis.url, PASS_KEYS_DIR: dir }, { waitReady: false });
    expect(await exited(s)).toBe(78);
    expect(s.logs[0]).toBe('waitroom: invalid configuration:');
    expect(s.logs[1]).toMatch(/^ {2}PASS_KEYS_DIR: .*k1\.pem: not a PEM private key/);
    expect(s.logs.join('\n')).not.toMatch(/\n\s+at /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);

it('a healthy start logs no Redis warning, says JWT_SECRET is unset (not "short"), and prints a URL to open', async () => {
  const s = await ServerProcess.start({ REDIS_URL: redis.url, JWT_SECRET: '' });
  try {
    await waitFor(() => s.logEntries().some((e) => String(e.msg).startsWith('waitroom listening on ')), { what: 'the listening line' });
    const entries = s.logEntries();
    expect(entries.filter((e) => /redis unavailable|connection error/.test(String(e.msg)))).toEqual([]);
    const listening = entries.find((e) => String(e.msg).startsWith('waitroom listening on '))!;
    expect(listening.msg).toBe(`waitroom listening on http://127.0.0.1:${s.port}/`);
    expect((await fetch(String(listening.url))).status).toBe(200);
    const warnings = entries.filter((e) => e.level === 40).map((e) => String(e.msg));
    expect(warnings.some((w) => w.startsWith('JWT_SECRET is not set'))).toBe(true);
    expect(warnings.some((w) => w.includes('sample or short'))).toBe(false);
    // Every logged err is readable text or a real error, never {"type":"Object","stack":""}.
    expect(s.logs.join('\n')).not.toContain('"type":"Object"');
  } finally {
    await s.stop();
  }
}, 30_000);

it('LOG_FORMAT=pretty prints readable lines, not JSON', async () => {
  const s = await ServerProcess.start({ REDIS_URL: redis.url, LOG_FORMAT: 'pretty' });
  try {
    await waitFor(() => s.logs.some((l) => l.includes(`INFO: waitroom listening on http://127.0.0.1:${s.port}/`)), { what: 'a pretty listening line' });
    expect(s.logs.filter((l) => l.startsWith('{'))).toEqual([]);
  } finally {
    await s.stop();
  }
}, 30_000);

it('METRICS_PORT serves /metrics on its own port only', async () => {
  const metricsPort = await freePort();
  const s = await ServerProcess.start({ REDIS_URL: redis.url, METRICS_PORT: String(metricsPort) });
  try {
    expect((await s.fetch('/metrics')).status).toBe(404);
    const m = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(m.status).toBe(200);
    expect(await m.text()).toContain('waitroom_window_end');
    // The metrics listener serves nothing else.
    expect((await fetch(`http://127.0.0.1:${metricsPort}/status`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST' })).status).toBe(405);
  } finally {
    await s.stop();
  }
}, 30_000);

describe('createLogger', () => {
  function capture(): { lines: Array<Record<string, unknown>>; stream: Writable } {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        cb();
      },
    });
    return { lines, stream };
  }

  it.each([
    ['an Error', new TypeError('boom'), { type: 'TypeError', message: 'boom' }],
    ['a string', 'ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED 127.0.0.1:1'],
    ['a plain object', { name: 'ConnectionTimeoutError', message: 'slow' }, { name: 'ConnectionTimeoutError', message: 'slow' }],
  ])('logs %s under err as something readable', async (_what, err, expected) => {
    const { lines, stream } = capture();
    createLogger({ level: 'info', destination: stream }).warn({ err }, 'x');
    await waitFor(() => lines.length === 1, { what: 'one line' });
    expect(lines[0]!.err).toEqual(typeof expected === 'string' ? expected : expect.objectContaining(expected));
    expect(JSON.stringify(lines[0])).not.toContain('"type":"Object"');
  });
});
