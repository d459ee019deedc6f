import { createHash } from 'node:crypto';
import { lua } from '../internal/store/scripts';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { WORK_DIR, cpuSeconds, freePort, machineDescription, spawnPinned, SERVER_CORE, tailLog, waitFor, type Spawned } from './lib/procs';
import { monitorCalls } from '../test/helpers/redis-monitor';
import { startRedis } from './lib/redis';

/**
 * `npm run bench:queues`: the Redis load of many idle queues. Starts its own
 * redis-server and three replicas (`node dist/cmd/server/main.js`), creates
 * BENCH_QUEUES queues (default 1000) through the admin API, waits until every
 * replica serves all of them and the leases have settled, then counts the
 * commands Redis runs per second while nobody joins (INFO stats,
 * total_commands_processed, over BENCH_IDLE_SECONDS, default 10). Also counts the
 * commands run while every replica answers /status for a ticket of every queue:
 * /status reads the replica's cache, so that figure stays the idle one.
 * BENCH_STATE_REFRESH_MS sets the replicas' STATE_REFRESH_MS (the change-log poll) and
 * BENCH_STATE_RESYNC_MS their STATE_RESYNC_MS (each queue's full re-read; default: the
 * service's defaults). The output breaks the load down by command (INFO commandstats)
 * and by script and key (a 3 s MONITOR sample), which says which loop costs what.
 * It also reads the replicas' own CPU over the idle window (/proc, all three pinned to
 * one core): what the queues cost the servers, not Redis.
 * BENCH_QUEUE_JOINS (default 1) tickets per queue: with more than a window's worth, every
 * queue has visitors waiting and advances every interval during the window.
 * BENCH_COMPARE=<another build's dist/cmd/server/main.js> measures that build the same way
 * in the same run, BENCH_ROUNDS times each (default 1), alternating which goes first, and
 * prints both side by side. Loopback only; bounded in count and time.
 */
const QUEUES = Math.max(1, Math.min(5000, Number(process.env.BENCH_QUEUES ?? 1000)));
const IDLE_SECONDS = Math.max(2, Math.min(120, Number(process.env.BENCH_IDLE_SECONDS ?? 10)));
const TOKEN = 'bench-admin-token-0123456789abcdef';
const REFRESH = process.env.BENCH_STATE_REFRESH_MS;
const RESYNC = process.env.BENCH_STATE_RESYNC_MS;
/** The staleness bound must be at least twice the poll period (config.ts); 3x leaves room for one lost poll. */
const refreshEnv: Record<string, string> = {
  ...(REFRESH ? { STATE_REFRESH_MS: REFRESH, STATE_MAX_STALENESS_MS: String(Number(REFRESH) * 3) } : {}),
  ...(RESYNC ? { STATE_RESYNC_MS: RESYNC } : {}),
};
const ROOT = join(__dirname, '..');
const JOINS = Math.max(1, Math.min(1000, Number(process.env.BENCH_QUEUE_JOINS ?? 1)));
const COMPARE = process.env.BENCH_COMPARE;
const ROUNDS = Math.max(1, Math.min(9, Number(process.env.BENCH_ROUNDS ?? 1)));
const THIS_BUILD = join(ROOT, 'dist', 'cmd', 'server', 'main.js');

/** One INFO read over a raw socket (RESP bulk string), returned whole. */
function info(port: number, section: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    s.setTimeout(2000, () => s.destroy(new Error('INFO timed out')));
    s.on('error', reject);
    s.on('connect', () => s.write(`INFO ${section}\r\n`));
    s.on('data', (d) => {
      buf += d.toString();
      const m = /^\$(\d+)\r\n/.exec(buf);
      if (m && Buffer.byteLength(buf) >= m[0].length + Number(m[1])) {
        resolve(buf.slice(m[0].length));
        s.destroy();
      }
    });
  });
}

/** INFO stats: total_commands_processed. */
async function commandsProcessed(port: number): Promise<number> {
  return Number(/total_commands_processed:(\d+)/.exec(await info(port, 'stats'))?.[1] ?? NaN);
}

/** INFO commandstats: calls per command (scripts' inner commands count under their own names). */
async function commandStats(port: number): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const line of (await info(port, 'commandstats')).split('\r\n')) {
    const r = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (r) m.set(r[1]!, Number(r[2]));
  }
  return m;
}

/** SHA1 of every Lua script -> its file name, to name the EVALSHA calls MONITOR shows. */
function scriptNames(): Map<string, string> {
  const dir = join(ROOT, 'internal', 'store', 'lua');
  const m = new Map<string, string>();
  // The text Redis runs: lua() puts the included libraries (lua/lib/) in, as registration does.
  for (const f of readdirSync(dir)) if (f.endsWith('.lua')) m.set(createHash('sha1').update(lua(f.slice(0, -'.lua'.length))).digest('hex'), f);
  return m;
}

/**
 * Top-level calls per second over `ms` of MONITOR, by what they are: a script's file name
 * or a command's name, with the kind of key it names (the part after the queue's hash tag),
 * so each loop's share can be told apart. Calls run inside scripts are left out (they are
 * in commandstats). MONITOR slows Redis down a little; the sample is short and separate
 * from the measured idle window.
 */
async function monitorSample(port: number, ms: number): Promise<Array<[string, number]>> {
  const names = scriptNames();
  const counts = new Map<string, number>();
  const keyKind = (k: string | undefined) => (k ? k.replace(/^waitroom:\{[^}]*\}:?/, '').replace(/:.*$/, '') || k : '');
  for (const args of await monitorCalls(port, ms)) {
    const cmd = (args[0] ?? '?').toLowerCase();
    let what: string;
    if (cmd === 'evalsha' || cmd === 'eval') what = `${names.get(args[1] ?? '') ?? 'script?'} (${keyKind(args[3])})`;
    else if (cmd === 'ping' || cmd === 'info' || cmd === 'monitor') what = cmd;
    else if (cmd === 'xreadgroup') what = `${cmd} ${keyKind(args[args.indexOf('STREAMS') + 1])}`;
    else what = `${cmd} ${keyKind(args[1])}`;
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return [...counts].map(([k, n]): [string, number] => [k, n / (ms / 1000)]).sort((a, b) => b[1] - a[1]);
}

/** Per-command calls/s between two commandstats reads, busiest first. */
function statsDiff(a: Map<string, number>, b: Map<string, number>, seconds: number): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const [cmd, n] of b) {
    const d = (n - (a.get(cmd) ?? 0)) / seconds;
    if (d > 0) out.push([cmd, d]);
  }
  return out.sort((x, y) => y[1] - x[1]);
}

interface Measured {
  readonly idlePerSecond: number;
  /** The three replicas' CPU over the idle window, as a share of one core. */
  readonly cpuShare: number;
}

async function measure(entry: string, label: string): Promise<Measured> {
  const redis = await startRedis();
  const redisPort = Number(new URL(redis.url).port);
  const replicas: Array<Spawned & { port: number }> = [];
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const p = spawnPinned(`replica-${i}`, SERVER_CORE, process.execPath, [entry], {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: String(port),
        REDIS_URL: redis.url,
        JWT_SECRET: 'bench-secret-0123456789abcdef0123456789abcdef',
        ADMIN_TOKENS: `bench:${TOKEN}`,
        LOG_LEVEL: 'warn',
        TARGET_URL: 'https://shop.example.com/',
        ...refreshEnv,
      });
      replicas.push({ ...p, port });
    }
    for (const r of replicas) {
      await waitFor(async () => ((await fetch(`http://127.0.0.1:${r.port}/readyz`).catch(() => undefined))?.status === 200 ? true : undefined), 20_000, `replica ${r.port}`).catch(
        (err: unknown) => {
          throw new Error(`${(err as Error).message}\n${tailLog(r)}`);
        },
      );
    }
    const api = `http://127.0.0.1:${replicas[0]!.port}/admin/api/v1`;
    const started = Date.now();
    for (let i = 0; i < QUEUES; i++) {
      const r = await fetch(`${api}/queues`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ id: `q-${i}`, windowSize: 10, intervalSeconds: 5 }),
      });
      if (r.status !== 201) throw new Error(`create q-${i}: ${r.status} ${await r.text()}`);
    }
    const createdMs = Date.now() - started;
    const last = `q-${QUEUES - 1}`;
    for (const r of replicas) {
      await waitFor(async () => ((await fetch(`http://127.0.0.1:${r.port}/q/${last}/window`)).status === 200 ? true : undefined), 60_000, `${last} on ${r.port}`);
    }
    // One ticket per queue (BENCH_QUEUE_JOINS), so /status has something to read, then let leases settle.
    const tokens: string[] = [];
    for (let i = 0; i < QUEUES; i++) {
      const joins = await Promise.all(
        Array.from({ length: JOINS }, async () => {
          const r = await fetch(`http://127.0.0.1:${replicas[i % 3]!.port}/q/q-${i}/join`, { method: 'POST' });
          return ((await r.json()) as { token: string }).token;
        }),
      );
      tokens.push(joins[0]!);
    }
    await new Promise((r) => setTimeout(r, 8000));

    const before = await commandsProcessed(redisPort);
    const statsBefore = await commandStats(redisPort);
    const cpu0 = replicas.map((r) => cpuSeconds(r.pid));
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const idleSeconds = (Date.now() - t0) / 1000;
    const cpuShare = replicas.reduce((n, r, i) => n + cpuSeconds(r.pid) - cpu0[i]!, 0) / idleSeconds;
    const idlePerSecond = ((await commandsProcessed(redisPort)) - before) / idleSeconds;
    const breakdown = statsDiff(statsBefore, await commandStats(redisPort), idleSeconds);

    const sample = await monitorSample(redisPort, 3000);

    // /status of every ticket on every replica: read from each replica's cache.
    const b2 = await commandsProcessed(redisPort);
    const t2 = Date.now();
    let answered = 0;
    const other = new Map<number, number>();
    for (const r of replicas) {
      for (const token of tokens) {
        const s = await fetch(`http://127.0.0.1:${r.port}/status`, { headers: { Authorization: `Bearer ${token}` } });
        await s.arrayBuffer();
        if (s.status === 200) answered++;
        else other.set(s.status, (other.get(s.status) ?? 0) + 1);
      }
    }
    const statusSeconds = (Date.now() - t2) / 1000;
    const duringStatus = (await commandsProcessed(redisPort)) - b2;

    console.log(`== ${label}: ${entry}`);
    console.log(`machine: ${machineDescription()}`);
    console.log(`STATE_REFRESH_MS: ${REFRESH ?? 'default'}, STATE_RESYNC_MS: ${RESYNC ?? 'default'}`);
    console.log(`${QUEUES} queues on 3 replicas (created through the admin API in ${(createdMs / 1000).toFixed(1)} s), ${JOINS} ticket(s) each`);
    console.log(`idle Redis load: ${idlePerSecond.toFixed(0)} commands/s over ${IDLE_SECONDS} s (${(idlePerSecond / QUEUES).toFixed(2)} per queue per second, all replicas together)`);
    console.log(`idle replica CPU: ${(cpuShare * 100).toFixed(1)}% of one core for the three replicas together (${((cpuShare * 100) / 3).toFixed(1)}% each on average)`);
    console.log('idle commands/s by command (INFO commandstats; a script counts once as evalsha plus once per command it runs):');
    for (const [cmd, rate] of breakdown) console.log(`  ${cmd.padEnd(28)} ${rate.toFixed(1).padStart(9)}`);
    console.log('top-level calls/s by script or command and key (MONITOR, 3 s right after the idle window):');
    for (const [what, rate] of sample) console.log(`  ${what.padEnd(44)} ${rate.toFixed(1).padStart(9)}`);
    console.log(
      `during ${answered} /status answers in ${statusSeconds.toFixed(1)} s: ${duringStatus} commands, ${(duringStatus / statusSeconds).toFixed(0)}/s (the idle rate: /status makes no Redis call)`,
    );
    if (other.size > 0) console.log(`/status answers other than 200: ${JSON.stringify(Object.fromEntries(other))}`);
    console.log(`logs: ${WORK_DIR}`);
    return { idlePerSecond, cpuShare };
  } finally {
    for (const r of replicas) await r.stop();
    await redis.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const builds: Array<[string, string]> = [['this build', THIS_BUILD]];
  if (COMPARE) builds.push(['compared build', COMPARE]);
  const results = new Map<string, Measured[]>(builds.map(([label]) => [label, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const [label, entry] of order) results.get(label)!.push(await measure(entry, `${label}, round ${round + 1}/${ROUNDS}`));
  }
  if (builds.length < 2 && ROUNDS < 2) return;
  console.log(`\n| build | queues | tickets per queue | replica CPU, % of one core (3 replicas) | per round | idle Redis commands/s |`);
  console.log('|---|---:|---:|---:|---|---:|');
  for (const [label] of builds) {
    const r = results.get(label)!;
    const cpu = r.map((x) => x.cpuShare * 100);
    console.log(
      `| ${label} | ${QUEUES} | ${JOINS} | ${median(cpu).toFixed(1)} | ${cpu.map((c) => c.toFixed(1)).join(', ')} | ${median(r.map((x) => x.idlePerSecond)).toFixed(0)} |`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
