import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryCgroup, type MemoryCgroup } from './lib/cgroup';
import { runLoad } from './lib/load';
import { SERVER_CORE, cpuSeconds, freePort, machineDescription, pinSelf, rssBytes, spawnPinned, tailLog, waitFor, type Spawned } from './lib/procs';
import { startRedis } from './lib/redis';
import { holdStreams } from './lib/sse';

/**
 * `npm run bench:memory`: does one replica stay inside its container memory limit
 * with every SSE stream it allows open and joins spread over many queues?
 *
 * For each variant (BENCH_MEMORY_VARIANTS, `;`-separated: node flags, optionally after
 * KEY=value settings for the server such as SSE_MEMORY_HIGH_WATER=0; `none` for
 * neither), one run, each with its own redis-server and server process:
 *   1. the server (`node <flags> dist/cmd/server/main.js`, as the container starts it)
 *      starts inside a memory cgroup of BENCH_MEMORY_LIMIT_MIB (the base overlay's
 *      256 MiB by default): the kernel enforces it as it does a pod's limit, and the
 *      V8 heap sizes itself from it as it does in a container;
 *   2. BENCH_QUEUES queues (default 1,000; S 10, I 2 s) are made through the admin API;
 *   3. BENCH_STREAMS /events streams (default 16,000, the base overlay's
 *      SSE_MAX_STREAMS) are opened for tickets that wait for the whole run;
 *   4. autocannon joins a queue chosen at random per request, 50 connections, for
 *      BENCH_DURATION seconds (default 30), while the server's RSS is read every 250 ms.
 * It prints, per variant: the V8 heap limit the flags give under that limit, the RSS
 * with the queues, with the streams, and at its peak (VmHWM), joins/s and server CPU
 * per join, the streams still open at the end, and whether the kernel killed the server.
 * Without a writable memory cgroup (not root, or no cgroup filesystem) it says so and
 * measures the same without a limit. Loopback only; bounded in count and time.
 */
function intSetting(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  const v = raw === undefined || raw === '' ? def : Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name} must be an integer in [${min}, ${max}], got ${raw}`);
  return v;
}
const LIMIT_MIB = intSetting('BENCH_MEMORY_LIMIT_MIB', 256, 0, 65_536);
const QUEUES = intSetting('BENCH_QUEUES', 1000, 1, 5000);
const STREAMS = intSetting('BENCH_STREAMS', 16_000, 0, 40_000);
const DURATION = intSetting('BENCH_DURATION', 30, 1, 300);
const CONNECTIONS = intSetting('BENCH_CONNECTIONS', 50, 1, 1000);
const VARIANTS = (process.env.BENCH_MEMORY_VARIANTS ?? 'none')
  .split(';')
  .map((v) => v.trim())
  .filter((v) => v !== '');
const ROOT = join(__dirname, '..');
const ENTRY = join(ROOT, 'dist', 'cmd', 'server', 'main.js');
const ADMIN_TOKEN = randomBytes(24).toString('hex');
const MiB = 1024 * 1024;

interface Result {
  readonly variant: string;
  /** The memory limit the server ran under, or why it ran without one. */
  readonly limit: string;
  readonly heapLimitMiB: number;
  readonly rssQueuesMiB: number;
  readonly rssStreamsMiB: number;
  readonly streamsOpened: number;
  readonly streamsRefused: number;
  readonly peakRssMiB: number;
  readonly joinsPerSec: number;
  readonly cpuPerJoinUs: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly streamsOpenAtEnd: number;
  readonly streamsClosedByServer: number;
  readonly killed: string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A variant is node flags, optionally after KEY=value settings for the server (e.g. `SSE_MEMORY_HIGH_WATER=0`); `none` is neither. */
function parseVariant(variant: string): { flags: string[]; env: Record<string, string> } {
  const env: Record<string, string> = {};
  const flags: string[] = [];
  for (const word of variant === 'none' ? [] : variant.split(/\s+/)) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(word);
    if (m) env[m[1] as string] = m[2] as string;
    else flags.push(word);
  }
  return { flags, env };
}

/** The heap limit V8 picks with these flags, inside the cgroup (node sizes its heap from the cgroup's limit). */
function heapLimitMiB(flags: string[], cg: MemoryCgroup | undefined): number {
  const args = [...flags, '-e', 'process.stdout.write(String(require("v8").getHeapStatistics().heap_size_limit))'];
  const { cmd, args: argv } = cg ? cg.wrap(process.execPath, args) : { cmd: process.execPath, args };
  return Number(spawnSync(cmd, argv, { encoding: 'utf8' }).stdout) / MiB;
}

/** VmHWM: the highest RSS the process has had (Linux /proc). */
function peakRssBytes(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function inParallel(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function runVariant(variant: string, index: number): Promise<Result> {
  const { flags, env: settings } = parseVariant(variant);
  const redis = await startRedis();
  let cg: MemoryCgroup | undefined;
  if (LIMIT_MIB > 0) {
    const made = createMemoryCgroup(`waitroom-bench-${process.pid}-${index}`, LIMIT_MIB * MiB);
    if (typeof made === 'string') process.stderr.write(`bench:memory: no memory limit (${made}); measuring without one\n`);
    else cg = made;
  }
  // Production mode requires pass signing keys: one ES256 key, made for this run only.
  const keysDir = mkdtempSync(join(tmpdir(), 'waitroom-bench-keys-'));
  writeFileSync(join(keysDir, 'bench-1.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  let server: Spawned | undefined;
  let streams: Awaited<ReturnType<typeof holdStreams>> | undefined;
  try {
    const heapLimit = heapLimitMiB(flags, cg);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      REDIS_URL: redis.url,
      PASS_KEYS_DIR: keysDir,
      JWT_SECRET: randomBytes(48).toString('base64'),
      ADMIN_TOKEN,
      QUEUE_ID: 'bench-streams',
      // The default queue holds the streams' tickets: one admitted a minute, so every one waits for the run.
      WINDOW_SIZE: '1',
      WINDOW_INTERVAL: '60',
      LOG_LEVEL: 'info',
      // All load comes from 127.0.0.1: no per-address limit may refuse it.
      JOIN_LIMIT_BURST: '1000000000',
      JOIN_LIMIT_RATE: '1000000',
      HTTP_MAX_CONNECTIONS_PER_IP: '0',
      SSE_MAX_STREAMS_PER_IP: String(STREAMS + 100),
      SSE_MAX_STREAMS: String(Math.max(STREAMS, 1)),
      ...settings,
    };
    const { cmd, args } = cg ? cg.wrap(process.execPath, [...flags, ENTRY]) : { cmd: process.execPath, args: [...flags, ENTRY] };
    server = spawnPinned(`memory-${index}`, SERVER_CORE, cmd, args, env);
    const s = server;
    await waitFor(async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined), 20_000, 'server ready').catch((err: Error) => {
      throw new Error(`${err.message}\n${tailLog(s)}`);
    });

    // Every stage checks the server is still there: the kernel may kill it at any of them.
    const alive = () => s.proc.exitCode === null && s.proc.signalCode === null;
    const rss = () => (alive() ? rssBytes(s.pid) : NaN);
    let peakSampled = 0;
    const sampler = setInterval(() => {
      const v = rss();
      if (v > peakSampled) peakSampled = v;
    }, 250);
    let stage = 'making the queues';
    const r: Mutable<Result> = {
      variant,
      limit: cg ? `${LIMIT_MIB} MiB` : 'none',
      heapLimitMiB: heapLimit,
      rssQueuesMiB: NaN,
      rssStreamsMiB: NaN,
      streamsOpened: 0,
      streamsRefused: 0,
      peakRssMiB: NaN,
      joinsPerSec: NaN,
      cpuPerJoinUs: NaN,
      non2xx: NaN,
      errors: NaN,
      streamsOpenAtEnd: 0,
      streamsClosedByServer: 0,
      killed: 'no',
    };
    try {
      const auth = { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' };
      const ids = Array.from({ length: QUEUES }, (_, i) => `bench-mem-q${i}`);
      await inParallel(QUEUES, 50, async (i) => {
        const body = { id: ids[i], name: ids[i], windowSize: 10, intervalSeconds: 2, activeWindowCount: 2 };
        const res = await fetch(`${base}/admin/api/v1/queues`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
        if (res.status !== 201) throw new Error(`POST /admin/api/v1/queues answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      });
      await new Promise((res) => setTimeout(res, 1000));
      r.rssQueuesMiB = rss() / MiB;

      stage = 'opening the streams';
      const tokens: string[] = new Array(STREAMS);
      await inParallel(STREAMS, 100, async (i) => {
        const res = await fetch(`${base}/join`, { method: 'POST' });
        if (res.status !== 201) throw new Error(`POST /join answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
        tokens[i] = ((await res.json()) as { token: string }).token;
      });
      streams = await holdStreams(base, tokens);
      r.streamsOpened = streams.open();
      r.streamsRefused = streams.refused;
      await new Promise((res) => setTimeout(res, 1000));
      r.rssStreamsMiB = rss() / MiB;
      if (!alive()) throw new Error('killed');

      stage = 'the join load';
      const cpu0 = cpuSeconds(s.pid);
      const load = await runLoad(`memory-join-${index}`, {
        url: `${base}/join`,
        method: 'POST',
        paths: ids.map((id) => `/q/${id}/join`),
        connections: CONNECTIONS,
        durationSec: DURATION,
      });
      r.joinsPerSec = load.rps;
      r.non2xx = load.non2xx;
      r.errors = load.errors;
      if (alive()) r.cpuPerJoinUs = load.requests > 0 ? ((cpuSeconds(s.pid) - cpu0) / load.requests) * 1e6 : NaN;
    } catch (err) {
      // A request cut off by the kill is the kill, reported below; anything else is a failure of the bench.
      if (alive()) throw err;
    } finally {
      clearInterval(sampler);
    }
    r.peakRssMiB = Math.max(alive() ? peakRssBytes(s.pid) : 0, peakSampled) / MiB;
    r.streamsOpenAtEnd = streams?.open() ?? 0;
    r.streamsClosedByServer = streams?.closedByServer() ?? 0;
    if (!alive()) {
      const kills = cg?.oomKills() ?? 0;
      r.killed = `yes, during ${stage} (${s.proc.signalCode ?? `exit ${s.proc.exitCode}`}${kills ? `, ${kills} OOM kill${kills > 1 ? 's' : ''}` : ''})`;
    }
    return r;
  } finally {
    streams?.close();
    await server?.stop();
    await redis.stop();
    cg?.remove();
    rmSync(keysDir, { recursive: true, force: true });
  }
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');

async function main(): Promise<void> {
  pinSelf();
  execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const results: Result[] = [];
  for (const [i, v] of VARIANTS.entries()) {
    process.stderr.write(`bench:memory: variant ${v}\n`);
    results.push(await runVariant(v, i));
  }
  const lines = [
    `# bench:memory: ${machineDescription()}`,
    `# memory cgroup asked for: ${LIMIT_MIB ? `${LIMIT_MIB} MiB` : 'none'} (the limit column says what each run got); ${QUEUES} queues (S 10, I 2 s); ${STREAMS} /events streams held open; joins to a random queue, ${CONNECTIONS} connections, ${DURATION} s`,
    '',
    '| node flags | memory limit | V8 heap limit MiB | RSS with queues MiB | + streams MiB (open, refused) | peak RSS MiB | joins/s | CPU µs/join | non-2xx | errors | streams open at end (closed by server) | killed |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...results.map(
      (r) =>
        `| ${r.variant} | ${r.limit} | ${fmt(r.heapLimitMiB)} | ${fmt(r.rssQueuesMiB)} | ${fmt(r.rssStreamsMiB)} (${fmt(r.streamsOpened)}, ${fmt(r.streamsRefused)}) | ${fmt(r.peakRssMiB)} | ${fmt(r.joinsPerSec)} | ${fmt(r.cpuPerJoinUs, 1)} | ${fmt(r.non2xx)} | ${fmt(r.errors)} | ${fmt(r.streamsOpenAtEnd)} (${fmt(r.streamsClosedByServer)}) | ${r.killed} |`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:memory failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
