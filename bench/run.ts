import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGoBaseline, goJoin, startGoBaseline } from './lib/go-baseline';
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
import { captureReply, type FloorReply } from './lib/replies';
import { measureSse, type SseFigures } from './lib/sse';

/**
 * `npm run bench`: the per-core speed of the hot endpoints, side by side with
 * the original Go design and a bare node:http hello world in the same run
 * (docs/benchmarks.md).
 *
 * Starts its own redis-server, the built service (`node dist/cmd/server/main.js`),
 * the Go design (built from `../shared/baselines/`, see bench/lib/go-baseline.ts;
 * skipped with one line where Go cannot be installed) and the baseline. Every
 * server runs on core 0 (the Go design with GOMAXPROCS=1); autocannon runs as a
 * separate process on core 1, with Redis and this script. Every server stays up
 * for the whole run and the rounds interleave them, each round starting one
 * target later (A B C, B C A, C A B), so that slow drift on a shared machine and
 * whatever a run leaves behind hit all of them alike; the table gives the
 * median of the rounds. What the other servers on the core do during a run is
 * measured and reported when it reaches 1% of the core. Loopback only; every
 * run is bounded by BENCH_DURATION and a hard kill.
 *
 * Environment (all optional):
 *   BENCH_DURATION     seconds per measured run (default 8; 1-120; 1-2 is a CI smoke run)
 *   BENCH_WARMUP       seconds of discarded load before each run (default min(2, duration))
 *   BENCH_ROUNDS       rounds over every server and endpoint; medians are reported (default 2; 1-9)
 *   BENCH_CONNECTIONS  concurrent connections (default 50; 1-1000)
 *   BENCH_SSE_STREAMS  SSE streams for the memory and fan-out figures (default 10000, 1000 when BENCH_DURATION < 5; 0 skips)
 *   BENCH_GO_BASELINES folder with build-session-queue.sh and session-queue/ (default ../shared/baselines
 *                      beside the repository); BENCH_GO=0 skips the Go design
 *   BENCH_EXPRESS_ONLY 1 adds the pure-Express variant of the service (the analysis behind the hot path)
 *   BENCH_COMPARE      path of another build's dist/cmd/server/main.js, measured as "waitroom-B"
 *                      in the same rounds: an A/B of a change in one run
 *   BENCH_NODE_ARGS    extra node flags for the waitroom servers (e.g. --cpu-prof --cpu-prof-dir=DIR)
 *   BENCH_COMPARE_NODE_ARGS  node flags for "waitroom-B" in place of BENCH_NODE_ARGS; with BENCH_COMPARE set
 *                      to this build's own dist/cmd/server/main.js, an A/B of node flags in one run
 *   BENCH_RATE         offer a fixed overall rate (req/s) instead of saturating: with BENCH_COMPARE,
 *                      both builds then serve the same load, so their CPU per request is compared
 *                      at equal event-loop batching (a load generator starved by other work on the
 *                      machine otherwise changes the batching and with it the CPU per request)
 *   BENCH_QUEUES       N > 0 adds "waitroom-mq": one server with N queues defined (made through the
 *                      admin API, /admin/api/v1/queues): GET /status for a queue chosen at random
 *                      on every request, POST /q/{id}/join to a random queue, and GET /verify;
 *                      skipped with a note on a build without that API; with BENCH_COMPARE the
 *                      other build's "waitroom-mq-B" follows it, each alone on the core in turn
 *   BENCH_FLOOR        0 skips the floors: servers that do no work but write the service's own replies
 *                      to /status, /verify and /join (same status, headers, body), on node:http and on a bare node:net
 *                      socket (bench/servers/floor.ts); what no code behind that server can go below
 *   BENCH_ONLY         a regular expression: measure only the targets whose name matches
 *                      (e.g. "waitroom GET /status" for a profile of that endpoint alone)
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

const DURATION = intSetting('BENCH_DURATION', 8, 1, 120);
const WARMUP = intSetting('BENCH_WARMUP', Math.min(2, DURATION), 0, 60);
const ROUNDS = intSetting('BENCH_ROUNDS', 2, 1, 9);
const CONNECTIONS = intSetting('BENCH_CONNECTIONS', 50, 1, 1000);
const SSE_STREAMS = intSetting('BENCH_SSE_STREAMS', DURATION < 5 ? 1000 : 10_000, 0, 15_000);
const GO = process.env.BENCH_GO !== '0';
const FLOOR = process.env.BENCH_FLOOR !== '0';
const GO_BASELINES = process.env.BENCH_GO_BASELINES || join(ROOT, '..', 'shared', 'baselines');
const EXPRESS_ONLY = process.env.BENCH_EXPRESS_ONLY === '1';
const COMPARE = process.env.BENCH_COMPARE ?? '';
const QUEUES = intSetting('BENCH_QUEUES', 0, 0, 10_000);
const RATE = intSetting('BENCH_RATE', 0, 0, 1_000_000) || undefined;
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const COMPARE_NODE_ARGS =
  process.env.BENCH_COMPARE_NODE_ARGS === undefined ? NODE_ARGS : process.env.BENCH_COMPARE_NODE_ARGS.split(' ').filter((a) => a !== '');
// Ticker settings for every queue under test: 10 admitted per 2 s keeps nearly every
// ticket waiting (the common case for /status) and gives the SSE run one advance to time.
const WINDOW_SIZE = 10;
const WINDOW_INTERVAL_S = 2;
const ACTIVE_WINDOW_COUNT = 2;
/**
 * Tickets joined before the /status ticket, so that it is still waiting at the end
 * of the run: at 10 per 2 s, 3,000 tickets ahead take 10 minutes to admit.
 */
const STATUS_QUEUE_AHEAD = 3000;

type Spec = Omit<LoadSpec, 'connections' | 'durationSec'>;

/** One server and endpoint, measured once per round. */
interface Target {
  readonly name: string;
  readonly server: Spawned;
  readonly spec: Spec;
}

interface Row {
  readonly name: string;
  readonly rounds: LoadResult[];
  readonly cpu: number[];
  /** Medians over the rounds. */
  readonly rps: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUsPerReq: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly ok: number;
}

const targets: Target[] = [];
const samples = new Map<string, { r: LoadResult[]; cpu: number[] }>();
const notes: string[] = [];
/** "target <- other server": the largest share of the core another server used during a run of target. */
const interference = new Map<string, number>();

function median(xs: readonly number[]): number {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function measureOnce(t: Target, round: number): Promise<void> {
  process.stderr.write(`bench: round ${round}/${ROUNDS} ${t.name} (warm-up ${WARMUP} s, run ${DURATION} s, ${CONNECTIONS} connections)\n`);
  const tag = t.name.replace(/\W+/g, '-');
  if (WARMUP > 0) await runLoad(`${tag}-warmup`, { ...t.spec, connections: CONNECTIONS, durationSec: WARMUP, rate: RATE });
  // The other servers share the core: what they do during the run (a GC, a ticker,
  // work left over from their own run) is measured too, and reported when it is not nothing.
  const others = [...new Set(targets.map((o) => o.server))].filter((o) => o !== t.server && o.proc.exitCode === null && o.proc.signalCode === null);
  const others0 = others.map((o) => cpuSeconds(o.pid));
  const started = process.hrtime.bigint();
  const cpu0 = cpuSeconds(t.server.pid);
  const r = await runLoad(tag, { ...t.spec, connections: CONNECTIONS, durationSec: DURATION, rate: RATE });
  const cpu1 = cpuSeconds(t.server.pid);
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  others.forEach((o, i) => {
    const share = (cpuSeconds(o.pid) - others0[i]!) / wall;
    const key = `${t.name} <- ${o.name}`;
    if (share >= 0.01 && share > (interference.get(key) ?? 0)) interference.set(key, share);
  });
  const s = samples.get(t.name) ?? { r: [], cpu: [] };
  s.r.push(r);
  s.cpu.push(r.requests > 0 ? ((cpu1 - cpu0) * 1e6) / r.requests : NaN);
  samples.set(t.name, s);
}

/**
 * The order of one round. With BENCH_COMPARE, the two builds' runs of an
 * endpoint are adjacent, and which goes first alternates between rounds, so
 * that the machine's drift (other work starting or stopping) falls on both
 * sides of each pair alike.
 */
function roundOrder(chosen: readonly Target[], round: number): Target[] {
  // Without an A/B, each round starts one target later (A B C, B C A, C A B): a target
  // is not always measured right after the same other one. In one run of 3 rounds the
  // service's /status, always measured right after the Go design's /join, cost 19.1 µs
  // while the same /status of another queue on the same server, measured later in each
  // round, cost 17.3; measured alone they were equal (15.7 and 15.6).
  if (!COMPARE) {
    const k = (round - 1) % Math.max(chosen.length, 1);
    return [...chosen.slice(k), ...chosen.slice(0, k)];
  }
  const key = (t: Target) => t.name.replace(/^waitroom(-B)? /, '');
  const out: Target[] = [];
  for (const t of chosen) {
    if (out.includes(t)) continue;
    const pair = chosen.filter((u) => key(u) === key(t) && u.name.startsWith('waitroom'));
    if (pair.length < 2) out.push(t);
    else out.push(...(round % 2 === 1 ? pair : [...pair].reverse()));
  }
  return out;
}

function rowsOf(): Row[] {
  return targets
    .filter((t) => samples.has(t.name))
    .map((t) => {
      const s = samples.get(t.name)!;
      const m = (f: (r: LoadResult) => number) => median(s.r.map(f));
      return {
        name: t.name,
        rounds: s.r,
        cpu: s.cpu,
        rps: m((r) => r.rps),
        meanMs: m((r) => r.meanMs),
        p50Ms: m((r) => r.p50Ms),
        p99Ms: m((r) => r.p99Ms),
        cpuUsPerReq: median(s.cpu),
        non2xx: s.r.reduce((a, r) => a + r.non2xx, 0),
        errors: s.r.reduce((a, r) => a + r.errors, 0),
        ok: s.r.reduce((a, r) => a + r.ok, 0),
      };
    });
}

async function startService(name: string, entry: string[], env: NodeJS.ProcessEnv): Promise<{ s: Spawned; base: string }> {
  const port = await freePort();
  const s = spawnPinned(name, SERVER_CORE, process.execPath, entry, { PATH: process.env.PATH ?? '', ...env, HOST: '127.0.0.1', PORT: String(port) });
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
async function verifySpec(base: string, activeToken: string): Promise<Spec | string> {
  if (!(await routeExists(base, 'GET', '/verify'))) return 'GET /verify does not exist in this build';
  const claim = await fetch(`${base}/claim`, { method: 'POST', headers: { Authorization: `Bearer ${activeToken}` } });
  if (claim.status !== 200) return `POST /claim answered ${claim.status}: ${(await claim.text()).slice(0, 200)}`;
  const cookie = claim.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const probe = await fetch(`${base}/verify`, { headers: { Cookie: cookie } });
  if (probe.status < 200 || probe.status > 299) return `GET /verify with the claimed pass answered ${probe.status}`;
  return { url: `${base}/verify`, headers: { Cookie: cookie } };
}

/** The share of a core a server uses over `seconds` of wall time with no load sent. */
async function cpuShare(server: Spawned, seconds: number): Promise<number> {
  const c0 = cpuSeconds(server.pid);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return (cpuSeconds(server.pid) - c0) / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Tickets per Redis round trip over the whole run, from the service's own histogram. */
async function joinBatching(name: string, base: string): Promise<string> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const value = (metric: string) => Number(new RegExp(`^${metric}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
  const sum = value('waitroom_join_batch_size_sum');
  const count = value('waitroom_join_batch_size_count');
  return `${name} POST /join batching: ${fmt(sum)} tickets in ${fmt(count)} join.lua calls, ${fmt(sum / count, 1)} tickets per Redis round trip`;
}

async function joinMany(base: string, n: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < n; i += 200) {
    const batch = await Promise.all(Array.from({ length: Math.min(200, n - i) }, () => joinQueue(base)));
    tokens.push(...batch.map((j) => j.token));
  }
  return tokens;
}

/**
 * A waitroom build as it ships, with its three hot endpoints as targets:
 * /status for a waiting ticket, /verify with a claimed pass, /join.
 */
const BENCH_ADMIN_TOKEN = randomBytes(24).toString('hex');

/** A queue with maxActive, compensateNoShows and originHealth (probing this same server's /livez), and a waiting ticket of it. */
async function cappedWaitingTicket(base: string): Promise<{ token: string } | string> {
  const r = await fetch(`${base}/admin/api/v1/queues`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${BENCH_ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      id: 'bench-capped',
      windowSize: WINDOW_SIZE,
      intervalSeconds: WINDOW_INTERVAL_S,
      maxActive: WINDOW_SIZE,
      compensateNoShows: true,
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

async function addWaitroom(name: string, entry: string, env: NodeJS.ProcessEnv, queueId: string, nodeArgs: readonly string[]): Promise<{ s: Spawned; base: string }> {
  const svc = await startService(name, [...nodeArgs, entry], { ...env, QUEUE_ID: queueId });
  const active = await joinQueue(svc.base); // ticket 1 of a new queue: W = S, so it is active
  // Claim at once: the ticket expires after K windows, the pass lives PASS_TTL (15 min).
  const verify = await verifySpec(svc.base, active.token);
  const waiting = (await joinMany(svc.base, STATUS_QUEUE_AHEAD)).at(-1)!;
  targets.push({ name: `${name} GET /status`, server: svc.s, spec: { url: `${svc.base}/status`, headers: { Authorization: `Bearer ${waiting}` } } });
  if (typeof verify === 'string') notes.push(`${name} GET /verify skipped: ${verify}`);
  else targets.push({ name: `${name} GET /verify`, server: svc.s, spec: verify });
  targets.push({ name: `${name} POST /join`, server: svc.s, spec: { url: `${svc.base}/join`, method: 'POST' } });
  // A/B: the same /status of a queue with a capacity cap, no-show compensation and an origin probe on. Both are
  // settings the scripts and the leader use; /status must stay arithmetic on the cached window.
  if (name === 'waitroom') {
    const capped = await cappedWaitingTicket(svc.base);
    if (typeof capped === 'string') notes.push(`GET /status with a cap skipped: ${capped}`);
    else targets.push({ name: 'waitroom GET /status (cap + no-shows + origin probe on)', server: svc.s, spec: { url: `${svc.base}/status`, headers: { Authorization: `Bearer ${capped.token}` } } });
  }
  return svc;
}

/**
 * The floors of the service's hot endpoints (bench/servers/floor.ts): the same replies,
 * with no work behind them, on node:http and on a bare node:net socket.
 */
async function addFloors(from: readonly Target[]): Promise<Spawned[]> {
  const replies: Record<string, FloorReply> = {};
  const routes: { name: string; spec: Spec; key: string }[] = [];
  for (const t of from) {
    const ep = t.name.replace(/^waitroom /, '');
    if (!['GET /status', 'GET /verify', 'POST /join'].includes(ep)) continue;
    const key = `${t.spec.method ?? 'GET'} ${new URL(t.spec.url).pathname}`;
    replies[key] = await captureReply(t.spec);
    routes.push({ name: ep, spec: t.spec, key });
  }
  const file = join(WORK_DIR, 'floor-replies.json');
  writeFileSync(file, JSON.stringify(replies));
  const servers: Spawned[] = [];
  for (const kind of ['http', 'raw'] as const) {
    const port = await freePort();
    const s = spawnPinned(`floor-${kind}`, SERVER_CORE, process.execPath, [...TSX, join(__dirname, 'servers', 'floor.ts'), String(port), file, kind]);
    servers.push(s);
    await waitFor(async () => ((await fetch(`http://127.0.0.1:${port}/status`)).status > 0 ? true : undefined), 15_000, `floor ${kind}`);
    for (const r of routes) {
      // The raw floor never reads a body: it serves the GET routes only.
      if (kind === 'raw' && r.spec.method === 'POST') continue;
      const url = new URL(r.spec.url);
      url.host = `127.0.0.1:${port}`;
      targets.push({ name: `floor ${kind === 'http' ? 'node:http' : 'node:net'} ${r.name}`, server: s, spec: { ...r.spec, url: url.toString() } });
    }
  }
  return servers;
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';
}

/** The issue-15 targets: waitroom against the Go design, per core, in this run. */
function ratioLines(rows: readonly Row[], wr: string): string[] {
  const get = (n: string) => rows.find((r) => r.name === n);
  const goStatus = get('go GET /status');
  const goJoin = get('go POST /join');
  if (!goStatus) return [];
  const lines = ['', `| ${wr} ÷ Go design | req/s | server CPU per request | p99 (ms, ${wr} vs Go) | target |`, '|---|---:|---:|---:|---|'];
  const line = (label: string, w: Row | undefined, g: Row | undefined, target: string) => {
    if (!w || !g) return;
    lines.push(`| ${label} | ${fmt(w.rps / g.rps, 2)}× | ${fmt(w.cpuUsPerReq / g.cpuUsPerReq, 2)}× | ${fmt(w.p99Ms)} vs ${fmt(g.p99Ms)} | ${target} |`);
  };
  line('GET /status vs Go /status', get(`${wr} GET /status`), goStatus, '≥ 1.5× req/s, ≤ 0.67× CPU, p99 ≤ Go');
  line('POST /join vs Go /join', get(`${wr} POST /join`), goJoin, '≥ 1.2× req/s');
  line('GET /verify vs Go /status', get(`${wr} GET /verify`), goStatus, '≥ 2× req/s');
  return lines;
}

/**
 * Each hot endpoint against its floors (addFloors): the CPU a target allows, and how
 * far a server that does no work but write the same reply gets against the Go design.
 */
function floorLines(rows: readonly Row[]): string[] {
  const get = (n: string) => rows.find((r) => r.name === n);
  const eps: { ep: string; go: Row | undefined; times: number }[] = [
    { ep: 'GET /status', go: get('go GET /status'), times: 1.5 },
    { ep: 'GET /verify', go: get('go GET /status'), times: 2 },
    { ep: 'POST /join', go: get('go POST /join'), times: 1.2 },
  ];
  const lines = [
    '',
    '| endpoint | waitroom CPU µs/req | floor node:http | floor node:net | waitroom above the node:http floor | CPU the target allows | floor node:http ÷ Go req/s | floor node:net ÷ Go req/s | target |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const { ep, go, times } of eps) {
    const w = get(`waitroom ${ep}`);
    const fh = get(`floor node:http ${ep}`);
    const fn = get(`floor node:net ${ep}`);
    if (!w || !fh) continue;
    const cell = (r: Row | undefined, f: (r: Row) => string) => (r ? f(r) : 'n/a');
    lines.push(
      `| ${ep} | ${fmt(w.cpuUsPerReq, 1)} | ${fmt(fh.cpuUsPerReq, 1)} | ${cell(fn, (r) => fmt(r.cpuUsPerReq, 1))} | ${fmt(w.cpuUsPerReq - fh.cpuUsPerReq, 1)} | ` +
        `${cell(go, (g) => fmt(g.cpuUsPerReq / times, 1))} | ${cell(go, (g) => `${fmt(fh.rps / g.rps, 2)}×`)} | ${cell(go, (g) => (fn ? `${fmt(fn.rps / g.rps, 2)}×` : 'n/a'))} | ≥ ${times}× Go${ep === 'GET /verify' ? ' /status' : ''} |`,
    );
  }
  return lines.length > 3 ? lines : [];
}

function report(sse: SseFigures | string): void {
  const rows = rowsOf();
  const baseline = rows.find((r) => r.name.startsWith('baseline'))?.rps ?? NaN;
  const lines = [
    '',
    `machine: ${machineDescription()}`,
    `pinning: ${PINNING ? `servers on core ${SERVER_CORE}; autocannon, redis-server and the orchestrator on the other core` : 'none (taskset or a second core missing): figures are not per core'}`,
    `runs: ${CONNECTIONS} connections${RATE ? `, a fixed ${RATE} req/s offered` : ''}, ${WARMUP} s warm-up + ${DURATION} s measured per endpoint, ${ROUNDS} round(s) interleaved; medians`,
    '',
    '| server, endpoint | req/s | mean ms | p50 ms | p99 ms | vs baseline | server CPU µs/req | non-2xx | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${fmt(r.rps)} | ${fmt(r.meanMs, 2)} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${fmt(r.rps / baseline, 2)}× | ${fmt(r.cpuUsPerReq, 1)} | ${r.non2xx} | ${r.errors} |`,
    ),
  ];
  if (ROUNDS > 1) {
    lines.push('', 'per round (req/s @ CPU µs/req):');
    for (const r of rows) lines.push(`  ${r.name}: ${r.rounds.map((x, i) => `${fmt(x.rps)} @ ${fmt(r.cpu[i]!, 1)}`).join(', ')}`);
  }
  const plain = rows.find((r) => r.name === 'waitroom GET /status');
  const ab = rows.find((r) => r.name === 'waitroom GET /status (cap + no-shows + origin probe on)');
  if (plain && ab) lines.push(`GET /status with a cap, no-show compensation and an origin probe on vs off: ${fmt(ab.rps / plain.rps, 2)}× req/s, ${fmt(ab.cpuUsPerReq - plain.cpuUsPerReq, 1)} µs more CPU per request`);
  lines.push(...ratioLines(rows, 'waitroom'));
  lines.push(...floorLines(rows));
  if (COMPARE) {
    lines.push(...ratioLines(rows, 'waitroom-B'));
    lines.push('', 'A/B (waitroom ÷ waitroom-B, same rounds):');
    for (const ep of ['GET /status', 'GET /verify', 'POST /join']) {
      const a = rows.find((r) => r.name === `waitroom ${ep}`);
      const b = rows.find((r) => r.name === `waitroom-B ${ep}`);
      if (!a || !b) continue;
      const pairs = a.cpu.map((c, i) => c - b.cpu[i]!);
      lines.push(
        `  ${ep}: ${fmt(a.rps / b.rps, 3)}× req/s; CPU/request ${fmt(a.cpuUsPerReq, 1)} vs ${fmt(b.cpuUsPerReq, 1)} µs; ` +
          `per-round difference ${pairs.map((d) => fmt(d, 1)).join(', ')} µs (median ${fmt(median(pairs), 1)})`,
      );
    }
  }
  for (const p of ['GET /status', 'POST /join']) {
    const h = rows.find((r) => r.name === `waitroom ${p}`);
    const e = rows.find((r) => r.name === `express-only ${p}`);
    if (h && e) lines.push(`hot path vs express-only, ${p}: ${fmt(h.rps / e.rps, 2)}× req/s, ${fmt(e.cpuUsPerReq - h.cpuUsPerReq, 1)} µs less CPU per request`);
  }
  if (typeof sse === 'string') lines.push(`SSE: skipped (${sse})`);
  else {
    lines.push(
      `SSE: ${sse.streams} streams open (${sse.failed} failed): ${fmt(sse.rssPerStreamBytes / 1024, 1)} KiB server RSS per stream; ` +
        `one window advance reached ${sse.pushed} streams within ${fmt(sse.pushSpreadMs, 1)} ms (first to last delivery)`,
    );
  }
  lines.push(...notes.map((n) => `note: ${n}`));
  for (const [key, share] of interference) lines.push(`note: during ${key.replace(' <- ', ', server ')} used ${fmt(share * 100, 1)}% of the server core (largest over the rounds)`);
  process.stdout.write(lines.join('\n') + '\n');
}

/**
 * Many queues on one server: N queues made through the admin API, each with
 * enough tickets that its last one waits, and GET /status with one of those
 * tickets chosen at random per request (so every request looks up its queue).
 * Returns a note instead when this build has no admin queue API.
 */
async function addMultiQueue(env: NodeJS.ProcessEnv, n: number, name = 'waitroom-mq', entry = SERVER_ENTRY, nodeArgs = NODE_ARGS): Promise<ManyQueues | string> {
  const adminToken = randomBytes(24).toString('hex');
  const svc = await startService(name, [...nodeArgs, entry], { ...env, QUEUE_ID: 'bench-mq', ADMIN_TOKEN: adminToken });
  const auth = { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' };
  const probe = await fetch(`${svc.base}/admin/api/v1/queues`, { headers: auth });
  if (probe.status !== 200) {
    await svc.s.stop();
    return `multi-queue run skipped: GET /admin/api/v1/queues answered ${probe.status} (this build has no queue admin API)`;
  }
  try {
    return await fillQueues(svc, n, auth, name);
  } catch (err) {
    await svc.s.stop();
    throw err;
  }
}

/** A many-queue server and a way to delete its queues. */
interface ManyQueues {
  readonly s: Spawned;
  /**
   * Deletes its N queues through its admin API. The builds' many-queue servers share one Redis,
   * and every replica serves every queue the registry lists: without this, the second build's
   * server also loaded and advanced the first one's 1,000 queues (13.6% of the core at rest
   * against 9.0%).
   */
  clear(): Promise<void>;
}

/** Makes the N queues of the multi-queue run and points its target at a random waiting ticket of one. */
async function fillQueues(svc: { s: Spawned; base: string }, n: number, auth: Record<string, string>, name: string): Promise<ManyQueues> {
  // Both builds' many-queue servers use the same Redis one after the other: their own queue ids.
  const prefix = name === 'waitroom-mq' ? 'bench-q' : `bench-q-${name.replace(/^waitroom-mq-?/, '').toLowerCase()}-`;
  const tokens: string[] = [];
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async (_, j) => {
        const id = `${prefix}${i + j}`;
        const body = { id, name: id, windowSize: WINDOW_SIZE, intervalSeconds: WINDOW_INTERVAL_S, activeWindowCount: ACTIVE_WINDOW_COUNT };
        const made = await fetch(`${svc.base}/admin/api/v1/queues`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
        if (made.status !== 201) throw new Error(`POST /admin/api/v1/queues answered ${made.status}: ${(await made.text()).slice(0, 200)}`);
        // 2·S + 1 tickets: the last one waits at least two intervals (the run is longer, so it may
        // turn active or expire on some queues: every answer is a 200 either way).
        let last = '';
        for (let k = 0; k < 2 * WINDOW_SIZE + 1; k++) {
          const r = await fetch(`${svc.base}/q/${id}/join`, { method: 'POST' });
          if (r.status !== 201) throw new Error(`POST /q/${id}/join answered ${r.status}: ${(await r.text()).slice(0, 200)}`);
          last = ((await r.json()) as { token: string }).token;
        }
        tokens.push(last);
      }),
    );
  }
  targets.push({ name: `${name} GET /status (${n} queues, random)`, server: svc.s, spec: { url: `${svc.base}/status`, tokens } });
  // The other hot routes with the N queues defined: a join to a random queue (each queue's joins
  // of one turn share a join.lua call, so spread over N queues they batch less), and the gate.
  const ids = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  targets.push({ name: `${name} POST /q/{id}/join (${n} queues, random)`, server: svc.s, spec: { url: `${svc.base}/join`, method: 'POST', paths: ids.map((id) => `/q/${id}/join`) } });
  const active = await joinQueue(svc.base);
  const verify = await verifySpec(svc.base, active.token);
  if (typeof verify === 'string') notes.push(`${name} GET /verify skipped: ${verify}`);
  else targets.push({ name: `${name} GET /verify (${n} queues)`, server: svc.s, spec: verify });
  const clear = async () => {
    for (let i = 0; i < n; i += 50) {
      await Promise.all(
        ids.slice(i, i + 50).map(async (id) => {
          const r = await fetch(`${svc.base}/admin/api/v1/queues/${id}`, { method: 'DELETE', headers: auth, signal: AbortSignal.timeout(30_000) });
          if (r.status !== 204 && r.status !== 404) throw new Error(`DELETE /admin/api/v1/queues/${id} answered ${r.status}: ${(await r.text()).slice(0, 200)}`);
        }),
      );
    }
  };
  return { s: svc.s, clear };
}

async function main(): Promise<void> {
  pinSelf();
  process.stderr.write(`bench: building dist/ (work dir ${WORK_DIR})\n`);
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'copy-assets.js')], { cwd: ROOT, stdio: 'inherit' });
  const goBinary = GO ? await buildGoBaseline(GO_BASELINES, join(ROOT, 'node_modules', '.cache', 'waitroom-bench')) : { skipped: 'BENCH_GO=0' };
  if (typeof goBinary !== 'string') {
    process.stderr.write(`bench: Go design skipped: ${goBinary.skipped}\n`);
    notes.push(`Go design skipped: ${goBinary.skipped}`);
  }

  const redis = await startRedis();
  const started: Spawned[] = [redis];
  const cleanups: Array<() => void> = [];
  let sse: SseFigures | string = 'not measured';
  let ok = false;
  try {
    // The baseline, on the same core, in the same run.
    const helloPort = await freePort();
    const hello = spawnPinned('hello', SERVER_CORE, process.execPath, [...TSX, join(__dirname, 'servers', 'hello.ts'), String(helloPort)]);
    started.push(hello);
    const helloUrl = `http://127.0.0.1:${helloPort}/`;
    await waitFor(async () => ((await fetch(helloUrl)).ok ? true : undefined), 15_000, 'baseline server');
    targets.push({ name: 'baseline node:http hello', server: hello, spec: { url: helloUrl } });

    // The Go design: same Redis, same core (GOMAXPROCS=1), same ticker settings.
    if (typeof goBinary === 'string') {
      const go = await startGoBaseline(goBinary, redis.url, { windowSize: WINDOW_SIZE, intervalSeconds: WINDOW_INTERVAL_S, activeWindowCount: ACTIVE_WINDOW_COUNT });
      started.push(go.server);
      let waiting = '';
      for (let i = 0; i < 2 * WINDOW_SIZE + 1; i++) waiting = await goJoin(go.base);
      targets.push({ name: 'go GET /status', server: go.server, spec: { url: `${go.base}/status`, headers: { Authorization: `Bearer ${waiting}` } } });
      targets.push({ name: 'go POST /join', server: go.server, spec: { url: `${go.base}/join`, method: 'POST' } });
    }

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
      ACTIVE_WINDOW_COUNT: String(ACTIVE_WINDOW_COUNT),
      LOG_LEVEL: 'info',
      // All load comes from 127.0.0.1: a join limit that never refuses, so each join still
      // pays for it (bench/join-limit.ts compares with the limit off).
      JOIN_LIMIT_BURST: '1000000000',
      JOIN_LIMIT_RATE: '1000000',
      // Every SSE stream comes from 127.0.0.1; the per-IP cap must not refuse them.
      SSE_MAX_STREAMS_PER_IP: String(Math.max(SSE_STREAMS, 1) + 100),
      // Nor may the per-address connection cap (1,024 by default): it refused 9,329 of 10,000 streams.
      HTTP_MAX_CONNECTIONS_PER_IP: '0',
    };

    // The service as it ships: node:http hot path in front of Express.
    const svc = await addWaitroom('waitroom', SERVER_ENTRY, env, 'bench-hot', NODE_ARGS);
    started.push(svc.s);
    if (FLOOR) started.push(...(await addFloors(targets.filter((t) => t.server === svc.s))));
    let other: { s: Spawned; base: string } | undefined;
    if (COMPARE) {
      other = await addWaitroom('waitroom-B', COMPARE, env, 'bench-compare', COMPARE_NODE_ARGS);
      started.push(other.s);
    }
    if (EXPRESS_ONLY) {
      // The same service with every route through Express (the analysis behind the hot path).
      const ex = await startService('express-only', [...TSX, join(__dirname, 'servers', 'express-only.ts')], { ...env, QUEUE_ID: 'bench-express' });
      started.push(ex.s);
      const exWaiting = (await joinMany(ex.base, 2 * WINDOW_SIZE + 1)).at(-1)!;
      targets.push({ name: 'express-only GET /status', server: ex.s, spec: { url: `${ex.base}/status`, headers: { Authorization: `Bearer ${exWaiting}` } } });
      targets.push({ name: 'express-only POST /join', server: ex.s, spec: { url: `${ex.base}/join`, method: 'POST' } });
    }

    const chosen = ONLY ? targets.filter((t) => ONLY.test(t.name)) : targets;
    for (let round = 1; round <= ROUNDS; round++) for (const t of roundOrder(chosen, round)) await measureOnce(t, round);

    notes.push(await joinBatching('waitroom', svc.base));
    if (other) notes.push(await joinBatching('waitroom-B', other.base));
    if (SSE_STREAMS === 0) sse = 'BENCH_SSE_STREAMS=0';
    else if (!(await routeExists(svc.base, 'GET', '/events'))) sse = 'GET /events does not exist in this build';
    else {
      // Alone on the core: the other servers are stopped first.
      for (const s of started) if (s !== svc.s && s !== redis) await s.stop();
      process.stderr.write(`bench: SSE with ${SSE_STREAMS} streams\n`);
      sse = await measureSse(svc.base, await joinMany(svc.base, SSE_STREAMS), svc.s.pid, WINDOW_INTERVAL_S * 1000);
    }
    // Many queues last, and alone: their tickers would otherwise add background work to the server core.
    if (QUEUES > 0) {
      for (const s of started) if (s !== redis) await s.stop();
      // With BENCH_COMPARE the other build's many-queue server follows, alone in its turn too.
      const builds: Array<[string, string, string[]]> = [['waitroom-mq', SERVER_ENTRY, NODE_ARGS]];
      if (COMPARE) builds.push(['waitroom-mq-B', COMPARE, COMPARE_NODE_ARGS]);
      for (const [name, entry, nodeArgs] of builds) {
        // A failure here must not throw away the figures measured above: it becomes a note and a non-zero exit.
        const before = targets.length;
        const mq = await addMultiQueue(env, QUEUES, name, entry, nodeArgs).catch((err: unknown) => {
          process.exitCode = 1;
          return `multi-queue run failed (${name}): ${(err as Error).message}`;
        });
        if (typeof mq === 'string') {
          notes.push(mq);
          continue;
        }
        started.push(mq.s);
        const mqTargets = targets.slice(before).filter((t) => !ONLY || ONLY.test(t.name));
        for (let round = 1; round <= ROUNDS; round++) for (const t of mqTargets) await measureOnce(t, round);
        // What the N queues cost with no request at all: each queue with visitors waiting
        // advances every interval, and its leader renews its lease (docs/benchmarks.md).
        const rest = await cpuShare(mq.s, DURATION);
        notes.push(`${name} at rest after its runs (${QUEUES} queues, visitors waiting in each): ${fmt(rest * 100, 1)}% of the server core over ${DURATION} s`);
        await mq.clear().catch((err: unknown) => {
          process.exitCode = 1;
          notes.push(`multi-queue cleanup failed (${name}): ${(err as Error).message}`);
        });
        await mq.s.stop();
      }
    }
    ok = true;
  } finally {
    for (const s of started.reverse()) await s.stop();
    for (const c of cleanups) c();
    if (!ok) process.stderr.write(`bench: logs in ${WORK_DIR}\n`);
  }
  report(sse);
  const failing = rowsOf().filter((r) => r.errors > 0 || r.non2xx > 0 || r.ok === 0);
  if (failing.length > 0) {
    process.stderr.write(`bench: ${failing.map((r) => r.name).join(', ')} had errors or non-2xx answers\n`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
