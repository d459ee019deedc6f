/**
 * Edge gate speed: requests per second of the edge worker's pass check in
 * workerd (Miniflare) on one core, beside GET /verify of a waitroom server on
 * the same core, measured in one run.
 *
 *   npm run bench:edge [-- seconds=5]
 *
 * The worker is bundled as `wrangler deploy` would (scripts/build-edge.ts) and
 * run by Miniflare; its workerd process is pinned to CPU 0 with `taskset -a`
 * (all threads) once it listens. Each waitroom server is pinned to CPU 0 too,
 * one at a time. This process (autocannon, 32 connections, 1 s warm-up then
 * `seconds`, at most 2 000 000 requests per run), the redis-server and the
 * origin behind the worker run on CPU 1. Rows:
 *   /verify              a pass seen before (verified-pass cache): 204
 *   /verify cold         PASS_VERIFY_CACHE_SIZE=0: every request checks the ES256 signature
 *   workerd hello        a worker that only answers "ok": what workerd and Miniflare's entry cost alone
 *   edge no pass         the worker's cheapest refusal: JSON 401
 *   edge check           a revoked pass, every check made (cache, time, queue, revocation): JSON 403, no subrequest
 *   edge check cold      the same with PASS_VERIFY_CACHE_SIZE=0: an ES256 check in WebCrypto per request
 *   edge admit+forward   a valid pass, forwarded to the origin (a subrequest per request)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import autocannon from 'autocannon';
import { decodeJwt } from 'jose';
import { Miniflare } from 'miniflare';
import { buildEdgeWorker } from '../scripts/build-edge';
import { TestKeyDir } from '../test/helpers/pass-keys';
import { freePort, waitFor } from '../test/helpers/ports';
import { TestRedis } from '../test/helpers/redis-server';

const ROOT = join(__dirname, '..');
const SECONDS = Math.max(1, Math.min(60, Number(process.argv[2] ?? 5)));
const MAX_REQUESTS = 2_000_000;
const SITE_KEY = 'bench-site-key-0123456789abcdef0123456789';
const AUDIENCE = 'https://shop.example.test';

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

/** A minimal origin on the load core: 200 with a short body. */
async function startOrigin(): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const script = `require('node:http').createServer((q, s) => { q.resume(); s.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 2 }); s.end('ok'); }).listen(${port}, '127.0.0.1');`;
  const proc = spawn('taskset', ['-c', '1', process.execPath, '-e', script], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(url)).ok, { timeoutMs: 10_000, what: 'origin' });
  return { url, proc };
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

/** Miniflare's workerd: the child process of this one named workerd. */
function pinWorkerd(): void {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  const pids = out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, comm]) => comm === 'workerd')
    .map(([pid]) => pid as string);
  if (pids.length !== 1) throw new Error(`expected one workerd child, found ${pids.length}`);
  execFileSync('taskset', ['-a', '-pc', '0', pids[0] as string], { stdio: 'ignore' });
}

async function load(url: string, headers: Record<string, string>, expectStatus: number): Promise<number> {
  await autocannon({ url, headers, connections: 32, duration: 1, maxOverallRequests: 200_000 });
  const r = await autocannon({ url, headers, connections: 32, pipelining: 1, duration: SECONDS, maxOverallRequests: MAX_REQUESTS });
  const stats = (r as unknown as { statusCodeStats: Record<string, { count: number }> }).statusCodeStats;
  const good = stats[String(expectStatus)]?.count ?? 0;
  const bad = r.requests.total - good + r.errors + r.timeouts;
  if (bad > 0 && bad > r.requests.total * 0.001) throw new Error(`${url}: ${bad} of ${r.requests.total} requests were not ${expectStatus} (${JSON.stringify(stats)})`);
  return r.requests.average;
}

/** The workerd "hello" worker's req/s once measured: the runtime's own ceiling on this core. */
let helloRps = 0;

function row(name: string, rps: number, base?: number): void {
  const vsVerify = base ? `   ${(rps / base).toFixed(2)} × /verify` : '';
  const vsHello = helloRps ? `   ${(rps / helloRps).toFixed(2)} × workerd hello` : '';
  process.stdout.write(`${name.padEnd(20)} ${rps.toFixed(0).padStart(7)} req/s${vsVerify}${vsHello}\n`);
}

async function main(): Promise<void> {
  execFileSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
  const redis = await TestRedis.start();
  const keys = new TestKeyDir().add('bench-es256', 'ES256');
  const dir = mkdtempSync(join(tmpdir(), 'waitroom-bench-edge-'));
  const origin = await startOrigin();
  let waitroom: { url: string; proc: ChildProcess } | undefined;
  try {
    const bundle = await buildEdgeWorker(join(dir, 'worker.js'));
    const env = { REDIS_URL: redis.url, QUEUE_ID: 'bench-edge', WINDOW_SIZE: '1000', PASS_KEYS_DIR: keys.dir, PASS_AUDIENCE: AUDIENCE, SITE_API_KEYS: SITE_KEY };

    // This server stays up on CPU 0 while the worker is measured: it serves the worker's JWKS and revocation list (one small request per 2 s).
    waitroom = await startServer(env);
    const claim = async () => {
      const joined = (await (await fetch(`${waitroom!.url}/join`, { method: 'POST' })).json()) as { token: string };
      return waitFor(async () => {
        const r = await fetch(`${waitroom!.url}/claim`, { method: 'POST', headers: { Authorization: `Bearer ${joined.token}` } });
        return r.status === 200 ? ((await r.json()) as { pass: string }).pass : undefined;
      }, { timeoutMs: 10_000, what: 'a pass' });
    };
    const pass = await claim();
    const revoked = await claim();
    const done = await fetch(`${waitroom.url}/passes/done`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${SITE_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ jti: decodeJwt(revoked).jti, outcome: 'completed' }),
    });
    if (done.status !== 200) throw new Error(`POST /passes/done: ${done.status}`);

    const verify = await load(`${waitroom.url}/verify`, { Cookie: `waitroom_pass=${pass}` }, 204);
    row('/verify', verify);
    const coldServer = await startServer({ ...env, PASS_VERIFY_CACHE_SIZE: '0' });
    row('/verify cold', await load(`${coldServer.url}/verify`, { Cookie: `waitroom_pass=${pass}` }, 204), verify);
    await stop(coldServer.proc);

    const hello = new Miniflare({ modules: true, script: `export default { fetch() { return new Response('ok'); } }`, compatibilityDate: '2026-04-01', host: '127.0.0.1' });
    try {
      const url = (await hello.ready).toString();
      pinWorkerd();
      const rps = await load(url, {}, 200);
      row('workerd hello', rps, verify);
      helloRps = rps;
    } finally {
      await hello.dispose();
    }

    for (const cacheSize of ['10000', '0']) {
      const mf = new Miniflare({
        modules: true,
        scriptPath: bundle,
        modulesRoot: dirname(bundle),
        compatibilityDate: '2026-04-01',
        host: '127.0.0.1',
        bindings: {
          JWKS_URL: `${waitroom.url}/.well-known/jwks.json`,
          ORIGIN_URL: origin.url,
          WAITING_ROOM_URL: '',
          PASS_AUDIENCE: AUDIENCE,
          QUEUE: 'bench-edge',
          PASS_VERIFY_CACHE_SIZE: cacheSize,
        },
      });
      try {
        const url = (await mf.ready).toString();
        pinWorkerd();
        const cookie = (p: string) => ({ Cookie: `waitroom_pass=${p}`, Accept: 'application/json' });
        if (cacheSize === '0') {
          row('edge check cold', await load(url, cookie(revoked), 403), verify);
        } else {
          row('edge no pass', await load(url, { Accept: 'application/json' }, 401), verify);
          row('edge check', await load(url, cookie(revoked), 403), verify);
          row('edge admit+forward', await load(url, cookie(pass), 200), verify);
        }
      } finally {
        await mf.dispose();
      }
    }
  } finally {
    if (waitroom) await stop(waitroom.proc);
    await stop(origin.proc);
    await redis.close();
    keys.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/edge: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
