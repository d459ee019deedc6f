import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad, type LoadResult, type LoadSpec } from './lib/load';
import {
  PINNING,
  SERVER_CORE,
  WORK_DIR,
  cpuSeconds,
  freePort,
  machineDescription,
  pinSelf,
  spawnPinned,
  tailLog,
  waitFor,
  type Spawned,
} from './lib/procs';
import { startRedis } from './lib/redis';
import { measureSse, type SseFigures } from './lib/sse';

/**
 * `npm run bench`: the per-core speed of the hot endpoints, each as a ratio to
 * a bare node:http hello world measured in the same run (docs/benchmarks.md).
 *
 * Starts its own redis-server, the built service (`node dist/cmd/server/main.js`),
 * the baseline, and a pure-Express variant of the service for the hot-path
 * analysis. The servers run on core 0; autocannon, Redis and this script on
 * core 1 (when two cores exist). Loopback only; every run is bounded by
 * BENCH_DURATION and a hard kill.
 *
 * Environment (all optional):
 *   BENCH_DURATION     seconds per measured run (default 10; 1-120; 1-2 is a CI smoke run)
 *   BENCH_WARMUP       seconds of discarded load before each run (default min(3, duration))
 *   BENCH_CONNECTIONS  concurrent connections (default 50; 1-1000)
 *   BENCH_SSE_STREAMS  SSE streams for the memory and fan-out figures (default 10000, 1000 when BENCH_DURATION < 5; 0 skips)
 */

const ROOT = join(__dirname, '..');
const SERVER_ENTRY = join(ROOT, 'dist', 'cmd', 'server', 'main.js');
const TSX = ['--import', 'tsx'];

function intSetting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

const DURATION = intSetting('BENCH_DURATION', 10, 1, 120);
const WARMUP = intSetting('BENCH_WARMUP', Math.min(3, DURATION), 0, 60);
const CONNECTIONS = intSetting('BENCH_CONNECTIONS', 50, 1, 1000);
const SSE_STREAMS = intSetting('BENCH_SSE_STREAMS', DURATION < 5 ? 1000 : 10_000, 0, 15_000);
// Ticker settings for the service under test: 10 admitted per 2 s keeps nearly every
// ticket waiting (the common case for /status) and gives the SSE run one advance to time.
const WINDOW_SIZE = 10;
const WINDOW_INTERVAL_S = 2;

interface Row {
  readonly name: string;
  readonly r: LoadResult;
  readonly cpuUsPerReq: number;
}

const rows: Row[] = [];
const notes: string[] = [];

async function measure(name: string, server: Spawned, spec: Omit<LoadSpec, 'connections' | 'durationSec'>): Promise<Row> {
  process.stderr.write(`bench: ${name} (warm-up ${WARMUP} s, run ${DURATION} s, ${CONNECTIONS} connections)\n`);
  if (WARMUP > 0) await runLoad(`${name}-warmup`.replace(/\W+/g, '-'), { ...spec, connections: CONNECTIONS, durationSec: WARMUP });
  const cpu0 = cpuSeconds(server.pid);
  const r = await runLoad(name.replace(/\W+/g, '-'), { ...spec, connections: CONNECTIONS, durationSec: DURATION });
  const cpu1 = cpuSeconds(server.pid);
  const row = { name, r, cpuUsPerReq: r.requests > 0 ? ((cpu1 - cpu0) * 1e6) / r.requests : NaN };
  rows.push(row);
  return row;
}

async function startService(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ s: Spawned; base: string }> {
  const port = await freePort();
  const s = spawnPinned(name, SERVER_CORE, process.execPath, args, { PATH: process.env.PATH ?? '', ...env, HOST: '127.0.0.1', PORT: String(port) });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined), 20_000, `${name} ready`);
  } catch (err) {
    await s.stop();
    throw new Error(`${(err as Error).message}\n${tailLog(s)}`);
  }
  return { s, base };
}

async function joinQueue(base: string): Promise<{ token: string; ticket: number; status: string }> {
  const r = await fetch(`${base}/join`, { method: 'POST' });
  if (r.status !== 201) throw new Error(`POST /join answered ${r.status}: ${await r.text()}`);
  return (await r.json()) as { token: string; ticket: number; status: string };
}

/** True unless the route answers the not_found error every build gives an unknown route. */
async function routeExists(base: string, method: string, path: string): Promise<boolean> {
  const r = await fetch(`${base}${path}`, { method, signal: AbortSignal.timeout(5000) });
  const body = await r.text();
  return !(r.status === 404 && body.includes('"not_found"'));
}

/** GET /verify needs an admission pass: claim one with an active ticket. */
async function verifySpec(base: string, activeToken: string): Promise<Omit<LoadSpec, 'connections' | 'durationSec'> | string> {
  if (!(await routeExists(base, 'GET', '/verify'))) return 'GET /verify does not exist in this build';
  const claim = await fetch(`${base}/claim`, { method: 'POST', headers: { Authorization: `Bearer ${activeToken}` } });
  if (claim.status !== 200) return `POST /claim answered ${claim.status}: ${(await claim.text()).slice(0, 200)}`;
  const cookie = claim.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const probe = await fetch(`${base}/verify`, { headers: { Cookie: cookie } });
  if (probe.status < 200 || probe.status > 299) return `GET /verify with the claimed pass answered ${probe.status}`;
  return { url: `${base}/verify`, headers: { Cookie: cookie } };
}

/** Tickets per Redis round trip over the whole run, from the service's own histogram. */
const BENCH_ADMIN_TOKEN = randomBytes(24).toString('hex');

/** A queue with maxActive and originHealth (probing this same server's /livez), and a waiting ticket of it. */
async function cappedWaitingTicket(base: string): Promise<{ token: string } | string> {
  const r = await fetch(`${base}/admin/api/v1/queues`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${BENCH_ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      id: 'bench-capped',
      windowSize: WINDOW_SIZE,
      intervalSeconds: WINDOW_INTERVAL_S,
      maxActive: WINDOW_SIZE,
      originHealth: { url: `${base}/livez`, intervalSeconds: 1 },
    }),
  });
  if (r.status !== 201) return `creating the capped queue answered ${r.status}: ${(await r.text()).slice(0, 200)}`;
  let token = '';
  for (let i = 0; i < 2 * WINDOW_SIZE + 1; i++) {
    const j = await fetch(`${base}/q/bench-capped/join`, { method: 'POST' });
    if (j.status !== 201) return `joining the capped queue answered ${j.status}`;
    token = ((await j.json()) as { token: string }).token;
  }
  return { token };
}

async function joinBatching(base: string): Promise<string> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
  const sum = value('waitroom_join_batch_size_sum');
  const count = value('waitroom_join_batch_size_count');
  return `POST /join batching: ${fmt(sum)} tickets in ${fmt(count)} join.lua calls, ${fmt(sum / count, 1)} tickets per Redis round trip`;
}

async function joinMany(base: string, n: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < n; i += 200) {
    const batch = await Promise.all(Array.from({ length: Math.min(200, n - i) }, () => joinQueue(base)));
    tokens.push(...batch.map((j) => j.token));
  }
  return tokens;
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';
}

function report(sse: SseFigures | string): void {
  const baseline = rows.find((r) => r.name.startsWith('baseline'))?.r.rps ?? NaN;
  const lines = [
    '',
    `machine: ${machineDescription()}`,
    `pinning: ${PINNING ? `servers on core ${SERVER_CORE}; autocannon, redis-server and the orchestrator on the other core` : 'none (taskset or a second core missing): figures are not per core'}`,
    `runs: ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s measured per endpoint`,
    '',
    '| server, endpoint | req/s | mean ms | p50 ms | p99 ms | vs baseline | server CPU µs/req | non-2xx | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      ({ name, r, cpuUsPerReq }) =>
        `| ${name} | ${fmt(r.rps)} | ${fmt(r.meanMs, 2)} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${fmt(r.rps / baseline, 2)}× | ${fmt(cpuUsPerReq, 1)} | ${r.non2xx} | ${r.errors} |`,
    ),
  ];
  const hot = (p: string) => rows.find((r) => r.name === `waitroom ${p}`);
  const exp = (p: string) => rows.find((r) => r.name === `express-only ${p}`);
  const plain = hot('GET /status');
  const ab = rows.find((r) => r.name === 'waitroom GET /status (cap + origin probe on)');
  if (plain && ab) lines.push(`GET /status with a cap and an origin probe on vs off: ${fmt(ab.r.rps / plain.r.rps, 2)}× req/s, ${fmt(ab.cpuUsPerReq - plain.cpuUsPerReq, 1)} µs more CPU per request`);
  for (const p of ['GET /status', 'POST /join']) {
    const h = hot(p);
    const e = exp(p);
    if (h && e) lines.push(`hot path vs express-only, ${p}: ${fmt(h.r.rps / e.r.rps, 2)}× req/s, ${fmt(e.cpuUsPerReq - h.cpuUsPerReq, 1)} µs less CPU per request`);
  }
  if (typeof sse === 'string') lines.push(`SSE: skipped (${sse})`);
  else {
    lines.push(
      `SSE: ${sse.streams} streams open (${sse.failed} failed): ${fmt(sse.rssPerStreamBytes / 1024, 1)} KiB server RSS per stream; ` +
        `one window advance reached ${sse.pushed} streams within ${fmt(sse.pushSpreadMs, 1)} ms (first to last delivery)`,
    );
  }
  lines.push(...notes.map((n) => `note: ${n}`));
  process.stdout.write(lines.join('\n') + '\n');
}

async function main(): Promise<void> {
  pinSelf();
  process.stderr.write(`bench: building dist/ (work dir ${WORK_DIR})\n`);
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'copy-assets.js')], { cwd: ROOT, stdio: 'inherit' });

  const redis = await startRedis();
  const started: Spawned[] = [redis];
  const cleanups: Array<() => void> = [];
  let sse: SseFigures | string = 'not measured';
  try {
    // 1. The baseline, on the same core, in the same run.
    const helloPort = await freePort();
    const hello = spawnPinned('hello', SERVER_CORE, process.execPath, [...TSX, join(__dirname, 'servers', 'hello.ts'), String(helloPort)]);
    started.push(hello);
    const helloUrl = `http://127.0.0.1:${helloPort}/`;
    await waitFor(async () => ((await fetch(helloUrl)).ok ? true : undefined), 15_000, 'baseline server');
    await measure('baseline node:http hello', hello, { url: helloUrl });
    await hello.stop();

    // Production mode requires pass signing keys: one ES256 key, made for this run only.
    const keysDir = mkdtempSync(join(tmpdir(), 'waitroom-bench-keys-'));
    cleanups.push(() => rmSync(keysDir, { recursive: true, force: true }));
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(keysDir, 'bench-1.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const env = {
      NODE_ENV: 'production',
      PASS_KEYS_DIR: keysDir,
      REDIS_URL: redis.url,
      JWT_SECRET: randomBytes(48).toString('base64'),
      // For the A/B of /status with a capacity cap and an origin probe on (a queue made by the admin API).
      ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
      WINDOW_SIZE: String(WINDOW_SIZE),
      WINDOW_INTERVAL: String(WINDOW_INTERVAL_S),
      LOG_LEVEL: 'info',
      // All load comes from 127.0.0.1: a join limit that never refuses, so each join still
      // pays for it (bench/join-limit.ts compares with the limit off).
      JOIN_LIMIT_BURST: '1000000000',
      JOIN_LIMIT_RATE: '1000000',
      // Every SSE stream comes from 127.0.0.1; the per-IP cap (once /events exists) must not refuse them.
      SSE_MAX_STREAMS_PER_IP: String(Math.max(SSE_STREAMS, 1) + 100),
    };

    // 2. The service as it ships: node:http hot path in front of Express.
    const svc = await startService('waitroom', [SERVER_ENTRY], { ...env, QUEUE_ID: 'bench-hot' });
    started.push(svc.s);
    const active = await joinQueue(svc.base); // ticket 1 of a new queue: W = S, so it is active
    // Claim at once: the ticket expires after K windows, the pass lives PASS_TTL (15 min).
    const verify = await verifySpec(svc.base, active.token);
    const waiting = (await joinMany(svc.base, 2 * WINDOW_SIZE)).at(-1)!;
    await measure('waitroom GET /status', svc.s, { url: `${svc.base}/status`, headers: { Authorization: `Bearer ${waiting}` } });
    // A/B: the same /status of a queue with a capacity cap and an origin probe on. Both are
    // settings the scripts and the leader use; /status must stay arithmetic on the cached window.
    const capped = await cappedWaitingTicket(svc.base);
    if (typeof capped === 'string') notes.push(`GET /status with a cap skipped: ${capped}`);
    else await measure('waitroom GET /status (cap + origin probe on)', svc.s, { url: `${svc.base}/status`, headers: { Authorization: `Bearer ${capped.token}` } });
    if (typeof verify === 'string') notes.push(`GET /verify skipped: ${verify}`);
    else await measure('waitroom GET /verify', svc.s, verify);
    await measure('waitroom POST /join', svc.s, { url: `${svc.base}/join`, method: 'POST' });
    notes.push(await joinBatching(svc.base));
    if (SSE_STREAMS === 0) sse = 'BENCH_SSE_STREAMS=0';
    else if (!(await routeExists(svc.base, 'GET', '/events'))) sse = 'GET /events does not exist in this build';
    else {
      process.stderr.write(`bench: SSE with ${SSE_STREAMS} streams\n`);
      sse = await measureSse(svc.base, await joinMany(svc.base, SSE_STREAMS), svc.s.pid, WINDOW_INTERVAL_S * 1000);
    }
    await svc.s.stop();

    // 3. The same service with every route through Express (the analysis behind the hot path).
    const ex = await startService('express-only', [...TSX, join(__dirname, 'servers', 'express-only.ts')], { ...env, QUEUE_ID: 'bench-express' });
    started.push(ex.s);
    const exWaiting = (await joinMany(ex.base, 2 * WINDOW_SIZE + 1)).at(-1)!;
    await measure('express-only GET /status', ex.s, { url: `${ex.base}/status`, headers: { Authorization: `Bearer ${exWaiting}` } });
    await measure('express-only POST /join', ex.s, { url: `${ex.base}/join`, method: 'POST' });
    await ex.s.stop();
  } finally {
    for (const s of started.reverse()) await s.stop();
    for (const c of cleanups) c();
  }
  report(sse);
  const failing = rows.filter((r) => r.r.errors > 0 || r.r.non2xx > 0 || r.r.ok === 0);
  if (failing.length > 0) {
    process.stderr.write(`bench: ${failing.map((r) => r.name).join(', ')} had errors or non-2xx answers\n`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
