/**
 * Gate speed: GET /verify requests per second on one core, as a ratio to the
 * same core's GET /status, measured in one run.
 *
 *   npm run build && npx tsx bench/verify.ts [seconds=5]
 *
 * Each waitroom server is pinned to CPU 0 with taskset; this process (the
 * autocannon load) pins itself to CPU 1. A private redis-server is started on a
 * free loopback port. Three servers run one after another:
 *   es256        /status, then /verify with the verified-pass cache (the common case:
 *                one pass, many requests)
 *   es256-cold   PASS_VERIFY_CACHE_SIZE=0: every /verify checks the ES256 signature
 *   eddsa-cold   the same with an Ed25519 key
 * Load is bounded in time (seconds per run) and count (amount per run).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { TestKeyDir } from '../test/helpers/pass-keys';
import { freePort, waitFor } from '../test/helpers/ports';
import { TestRedis } from '../test/helpers/redis-server';

const ROOT = join(__dirname, '..');
const SECONDS = Math.max(1, Math.min(60, Number(process.argv[2] ?? 5)));
const MAX_REQUESTS = 2_000_000;

async function startServer(env: Record<string, string>): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn('taskset', ['-c', '0', process.execPath, join(ROOT, 'dist', 'cmd', 'server', 'main.js')], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'error', LOG_SAMPLE_RATE: '0', SHUTDOWN_TIMEOUT_MS: '1000', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, { timeoutMs: 15_000, what: 'server ready' });
  return { url, proc };
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

async function load(url: string, headers: Record<string, string>, expectStatus: number): Promise<number> {
  // Warm-up (JIT, connection setup), then the measured run.
  await autocannon({ url, headers, connections: 32, duration: 1, maxOverallRequests: 200_000 });
  const r = await autocannon({ url, headers, connections: 32, pipelining: 1, duration: SECONDS, maxOverallRequests: MAX_REQUESTS });
  const bad = r.non2xx + r.errors + r.timeouts;
  if (bad > 0) throw new Error(`${url}: ${bad} failed requests (expected ${expectStatus})`);
  return r.requests.average;
}

async function main(): Promise<void> {
  execFileSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
  const redis = await TestRedis.start();
  const es = new TestKeyDir().add('bench-es256', 'ES256');
  const ed = new TestKeyDir().add('bench-eddsa', 'EdDSA');
  const rows: Array<[string, number, number]> = [];
  try {
    const runs: Array<[string, Record<string, string>]> = [
      ['es256 (cached)', { PASS_KEYS_DIR: es.dir }],
      ['es256-cold', { PASS_KEYS_DIR: es.dir, PASS_VERIFY_CACHE_SIZE: '0' }],
      ['eddsa-cold', { PASS_KEYS_DIR: ed.dir, PASS_VERIFY_CACHE_SIZE: '0' }],
    ];
    for (const [name, env] of runs) {
      const { url, proc } = await startServer({ REDIS_URL: redis.url, QUEUE_ID: `bench-${rows.length}`, WINDOW_SIZE: '1000', ...env });
      try {
        const joined = (await (await fetch(`${url}/join`, { method: 'POST' })).json()) as { token: string };
        const claimed = (await (await fetch(`${url}/claim`, { method: 'POST', headers: { Authorization: `Bearer ${joined.token}` } })).json()) as { pass: string };
        const status = await load(`${url}/status`, { Authorization: `Bearer ${joined.token}` }, 200);
        const verify = await load(`${url}/verify`, { Cookie: `waitroom_pass=${claimed.pass}` }, 204);
        rows.push([name, status, verify]);
        process.stdout.write(`${name.padEnd(16)} /status ${status.toFixed(0).padStart(7)} req/s   /verify ${verify.toFixed(0).padStart(7)} req/s   ratio ${(verify / status).toFixed(2)}\n`);
      } finally {
        await stop(proc);
      }
    }
  } finally {
    await redis.close();
    es.close();
    ed.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/verify: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
