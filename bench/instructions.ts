/**
 * Instructions per request: how many user-space instructions a server executes for
 * one hot request, counted by valgrind's callgrind. CPU time on a shared machine
 * moves by a third between minutes and an A/B of two builds needs several rounds
 * both ways round to see 1 µs (docs/benchmarks.md); an instruction count does not
 * move with the machine's load. Two builds whose code for an endpoint is the same
 * differed by up to 1.5% in one run, so a change smaller than that is not seen.
 *
 *   npm run bench:instructions
 *   BENCH_COMPARE=<other checkout>/dist/cmd/server/main.js npm run bench:instructions
 *   BENCH_COMPARE=<a>/dist/cmd/server/main.js,<b>/dist/cmd/server/main.js ...   (several, one after another)
 *
 * Each build runs alone, as it ships (NODE_ENV=production, LOG_LEVEL=info, the default
 * log sampling), under `valgrind --tool=callgrind` on a private redis-server, with a
 * window interval of a day: an advance (a script call, a new snapshot, its listeners)
 * would otherwise land in some rounds and not others. Per
 * endpoint: BENCH_IR_WARMUP requests (the JIT settles), then BENCH_IR_ROUNDS rounds
 * of BENCH_IR_REQUESTS requests, each counted alone (callgrind_control zeroes the
 * counters before a round and dumps them after it); the figure is instructions per
 * request, the least of the rounds: work that is not the requests' (a major GC, an
 * optimising compile, a lease renewal) only ever adds to a round. Every round is
 * printed too.
 * Load: autocannon, 10 connections (POST /join: 20), a fixed count.
 *
 * Then (unless BENCH_FLOOR=0) the same for the node:http floor (bench/servers/floor.ts)
 * writing this build's own replies to those requests, captured as bench/run.ts captures
 * them: what any code behind node:http spends on them, so that the difference is the
 * build's own work.
 *
 * What it does not count: the kernel (the socket reads and writes, a third of a
 * request's CPU), cache misses, and time. It ranks changes to the server's own code;
 * `npm run bench` measures what they buy in requests per second and CPU.
 * POST /join is sent over 20 connections: the emulated server is always behind, so each
 * turn's joins share one join.lua call, ~20 of them as in `npm run bench` (its note on
 * batching says how many). How many shared each round's calls is printed with it, from
 * the service's own histogram read outside the counted rounds: a join's count moves with
 * it, since the Redis call is shared.
 *
 * With BENCH_IR_QUEUES=N, each build also makes N more queues through its admin API and
 * counts POST /q/{id}/join to a random one of them (20 connections): the join that
 * `npm run bench` measures with BENCH_QUEUES, where joins spread over the queues share
 * almost no join.lua call. That row of `npm run bench` runs its two builds one after the
 * other, not interleaved, and moved by ±10 µs of ~60 between runs; this count does not.
 * The window interval of a day keeps advances out of the rounds, and a lease of 10 minutes
 * (LEASE_TTL_MS, set only with BENCH_IR_QUEUES) most lease renewals; use a few hundred
 * queues, not thousands (each is made under emulation, and re-read every STATE_RESYNC_MS).
 *
 * Settings: BENCH_IR_REQUESTS (default 10,000), BENCH_IR_WARMUP (default 30,000),
 * BENCH_IR_ROUNDS (default 5), BENCH_IR_QUEUES (default 0: none), BENCH_IR_ONLY (a regular
 * expression: only the targets whose name matches), BENCH_COMPARE, BENCH_FLOOR.
 * Needs valgrind (Debian's package).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { TestKeyDir } from '../test/helpers/pass-keys';
import { freePort } from '../test/helpers/ports';
import { TestRedis } from '../test/helpers/redis-server';
import { captureReply, type FloorReply } from './lib/replies';

const ROOT = join(__dirname, '..');
const THIS = join(ROOT, 'dist', 'cmd', 'server', 'main.js');
/** Other builds to measure after this one (comma-separated main.js paths). */
const COMPARE = (process.env.BENCH_COMPARE ?? '').split(',').filter((p) => p !== '');
const count = (name: string, dflt: number, max: number) => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isSafeInteger(v) || v < 1 || v > max) throw new Error(`${name} must be an integer from 1 to ${max}`);
  return v;
};
const REQUESTS = count('BENCH_IR_REQUESTS', 10_000, 200_000);
const WARMUP = count('BENCH_IR_WARMUP', 30_000, 500_000);
const ROUNDS = count('BENCH_IR_ROUNDS', 5, 9);
/** BENCH_IR_ONLY: a regular expression; only the targets whose name matches are counted. */
const ONLY = process.env.BENCH_IR_ONLY ? new RegExp(process.env.BENCH_IR_ONLY) : undefined;
const QUEUES = process.env.BENCH_IR_QUEUES === undefined || process.env.BENCH_IR_QUEUES === '0' ? 0 : count('BENCH_IR_QUEUES', 0, 2000);
const CONNECTIONS = 10;
/** POST /join's: about as many joins share a join.lua call as in `npm run bench` (~20). */
const JOIN_CONNECTIONS = 20;
const LISTEN = '127.0.0.1';
/** BENCH_FLOOR=0 skips the node:http floor. */
const FLOOR = process.env.BENCH_FLOOR !== '0';

interface Target {
  readonly name: string;
  readonly url: string;
  readonly method?: 'POST';
  readonly headers: Record<string, string>;
  /** Connections to send it over (CONNECTIONS unless set). */
  readonly connections?: number;
  /** Where the service's /metrics are, to tell how many joins shared a join.lua call in each round. */
  readonly metricsBase?: string;
  /** Paths to send it to, one chosen at random per request, in place of the url's. */
  readonly paths?: readonly string[];
}

function pick(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((n) => (env[n] === undefined ? [] : [[n, env[n]!]])));
}

/**
 * A server under callgrind (`node <args> <port>`: the port is appended for the floor, and
 * given as PORT to both), counting nothing that matters until the first round zeroes it.
 */
async function startUnderCallgrind(
  args: readonly string[],
  outDir: string,
  env: Record<string, string>,
  ready = '/readyz',
): Promise<{ base: string; proc: ChildProcess; port: number }> {
  const port = await freePort();
  const entry = args.join(' ');
  const log = join(outDir, 'server.log');
  const fd = openSync(log, 'w');
  const proc = spawn(
    'taskset',
    ['-c', '0', 'valgrind', '--tool=callgrind', `--callgrind-out-file=${join(outDir, 'cg.%p.out')}`, process.execPath, ...args.map((a) => a.replace('{port}', String(port)))],
    {
      env: {
        PATH: process.env.PATH ?? '',
        // callgrind_control reaches the process through vgdb, whose shared files are named for these.
        ...pick(process.env, ['HOME', 'USER', 'LOGNAME', 'TMPDIR']),
        NODE_ENV: 'production',
        HOST: LISTEN,
        PORT: String(port),
        JWT_SECRET: randomBytes(48).toString('base64'),
        LOG_LEVEL: 'info',
        SHUTDOWN_TIMEOUT_MS: '2000',
        ...env,
      },
      stdio: ['ignore', fd, fd],
    },
  );
  closeSync(fd);
  const base = `http://${LISTEN}:${port}`;
  try {
    // Emulated start-up takes 10-30 s on two cores.
    const deadline = Date.now() + 180_000;
    while ((await fetch(`${base}${ready}`, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined))?.status !== 200) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${entry} exited under callgrind`);
      if (Date.now() > deadline) throw new Error(`${entry} not ready under callgrind after 180 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (err) {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    }
    throw new Error(`${(err as Error).message}\n${readFileSync(log, 'utf8').split('\n').slice(-15).join('\n')}`);
  }
  return { base, proc, port };
}

/**
 * QUEUES more queues, made through the admin API; the POST /q/{id}/join target of a random one,
 * and a way to delete them again: the builds share one Redis, and every replica serves every
 * queue the registry lists, so the next build would otherwise serve (and renew the leases of)
 * this one's queues too.
 */
async function manyQueues(base: string, adminToken: string, prefix: string): Promise<{ target: Target; remove: () => Promise<void> }> {
  const headers = { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' };
  // Each build's own ids: the builds share one Redis.
  const ids = Array.from({ length: QUEUES }, (_, i) => `${prefix}-q${i}`);
  // Four at a time, each tried again on a 503: an emulated server can take longer than a store
  // call's 1 s to get to a reply (20 at a time failed so), and a create is safe to repeat
  // (a 409 then says the first try made it).
  const create = async (id: string) => {
    const body = JSON.stringify({ id, name: id, windowSize: 10, intervalSeconds: 86400, activeWindowCount: 1 });
    for (let attempt = 1; ; attempt++) {
      const r = await fetch(`${base}/admin/api/v1/queues`, { method: 'POST', headers, body, signal: AbortSignal.timeout(60_000) });
      if (r.status === 201 || (r.status === 409 && attempt > 1)) return;
      if (r.status !== 503 || attempt === 5) throw new Error(`POST /admin/api/v1/queues answered ${r.status}: ${await r.text()}`);
      await new Promise((res) => setTimeout(res, 1000));
    }
  };
  for (let i = 0; i < ids.length; i += 4) await Promise.all(ids.slice(i, i + 4).map(create));
  const remove = async () => {
    for (const id of ids) {
      const r = await fetch(`${base}/admin/api/v1/queues/${id}`, { method: 'DELETE', headers, signal: AbortSignal.timeout(60_000) });
      if (r.status !== 204 && r.status !== 404) throw new Error(`DELETE /admin/api/v1/queues/${id} answered ${r.status}: ${await r.text()}`);
    }
  };
  return {
    target: {
      name: `POST /q/{id}/join (${QUEUES} queues, random)`,
      url: `${base}/q/${ids[0]}/join`,
      method: 'POST',
      headers: {},
      connections: JOIN_CONNECTIONS,
      metricsBase: base,
      paths: ids.map((id) => `/q/${id}/join`),
    },
    remove,
  };
}

async function targetsOf(base: string): Promise<Target[]> {
  const post = async (path: string, headers: Record<string, string> = {}) => {
    const r = await fetch(`${base}${path}`, { method: 'POST', headers, signal: AbortSignal.timeout(60_000) });
    if (!r.ok) throw new Error(`POST ${path} answered ${r.status}: ${await r.text()}`);
    return r;
  };
  // Ticket 1 of a new queue is active (W = S): claim its pass for /verify.
  const first = (await (await post('/join')).json()) as { token: string };
  const claim = await post('/claim', { Authorization: `Bearer ${first.token}` });
  const cookie = claim.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  // /status of a waiting ticket: more joins than the window holds.
  let waiting = first.token;
  for (let i = 0; i < 30; i++) waiting = ((await (await post('/join')).json()) as { token: string }).token;
  return [
    { name: 'GET /status', url: `${base}/status`, headers: { Authorization: `Bearer ${waiting}` } },
    { name: 'GET /verify', url: `${base}/verify`, headers: { Cookie: cookie } },
    { name: 'POST /join', url: `${base}/join`, method: 'POST', headers: {}, connections: JOIN_CONNECTIONS, metricsBase: base },
  ];
}

async function send(t: Target, amount: number): Promise<void> {
  const paths = t.paths;
  const r = await autocannon({
    url: t.url,
    method: t.method ?? 'GET',
    headers: t.headers,
    connections: t.connections ?? CONNECTIONS,
    amount,
    timeout: 60,
    ...(paths ? { requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, path: paths[Math.floor(Math.random() * paths.length)]! }) }] } : {}),
  });
  const bad = r.non2xx + r.errors + r.timeouts;
  if (bad > 0) throw new Error(`${t.name}: ${bad} of ${amount} requests failed`);
}

function callgrindControl(args: string[]): void {
  // valgrind names its vgdb files after $HOST, which is the server's listen address here.
  const r = spawnSync('callgrind_control', args, { encoding: 'utf8', env: { ...process.env, HOST: LISTEN } });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

/**
 * The instructions of dump number `n` in `dir`, once callgrind has written it (the
 * file can appear a little after callgrind_control returns).
 */
async function dumpTotal(dir: string, pid: number, n: number): Promise<number> {
  const file = join(dir, `cg.${pid}.out.${n}`);
  const deadline = Date.now() + 60_000;
  for (;;) {
    // The line's newline too: the file may still be being written.
    const m = existsSync(file) ? /^(?:summary|totals): (\d+)\n/m.exec(readFileSync(file, 'utf8')) : null;
    if (m) return Number(m[1]);
    if (Date.now() > deadline) throw new Error(`callgrind wrote no dump ${file}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
  await exited;
  clearTimeout(timer);
}

/** [tickets, join.lua calls] so far, from the service's join batch histogram. */
async function joinCalls(base: string): Promise<[number, number]> {
  const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(60_000) })).text();
  const value = (metric: string) => Number(new RegExp(`^${metric}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return [value('waitroom_join_batch_size_sum'), value('waitroom_join_batch_size_count')];
}

/** Joins per join.lua call of each counted round, by target (only targets with metricsBase). */
const batching = new Map<string, number[]>();

/** Warm-up, then ROUNDS counted rounds of each target on a server under callgrind; instructions per request. */
async function countRounds(label: string, key: string, proc: ChildProcess, outDir: string, targets: readonly Target[]): Promise<Map<string, number[]>> {
  const figures = new Map<string, number[]>();
  const pid = proc.pid!;
  let dumps = 0;
  for (const t of targets) {
    process.stderr.write(`bench: ${label}: ${t.name}, ${WARMUP} warm-up requests, then ${ROUNDS} × ${REQUESTS}\n`);
    await send(t, WARMUP);
    const perRound: number[] = [];
    const shared: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Read outside the counted round, so that the reads are not counted.
      const before = t.metricsBase ? await joinCalls(t.metricsBase) : undefined;
      callgrindControl(['--zero', String(pid)]);
      await send(t, REQUESTS);
      callgrindControl([`--dump=${t.name.replace(/\W+/g, '-')}-${r}`, String(pid)]);
      perRound.push((await dumpTotal(outDir, pid, ++dumps)) / REQUESTS);
      if (t.metricsBase && before) {
        const after = await joinCalls(t.metricsBase);
        // NaN where the build has no such histogram (an older build) or made no call.
        shared.push((after[0] - before[0]) / (after[1] - before[1]));
      }
    }
    figures.set(t.name, perRound);
    if (shared.length > 0) batching.set(`${key}\u0000${t.name}`, shared);
  }
  return figures;
}

/** Instructions per request of each target of one build, per round; with `capture`, also the build's replies. */
async function measure(
  entry: string,
  redisUrl: string,
  keysDir: string,
  queueId: string,
  capture: boolean,
): Promise<{ figures: Map<string, number[]>; replies?: Record<string, FloorReply> }> {
  const outDir = mkdtempSync(join(tmpdir(), 'waitroom-ir-'));
  const adminToken = randomBytes(24).toString('hex');
  const { base, proc } = await startUnderCallgrind([entry], outDir, {
    // With many queues, a lease of 10 min: each queue's ticker renews its lease every third of
    // it, and with the default 5 s those renewals (120 a second for 200 queues) landed in every
    // round in proportion to its length, which under emulation is tens of seconds.
    ...(QUEUES > 0 ? { ADMIN_TOKEN: adminToken, LEASE_TTL_MS: '600000' } : {}),
    REDIS_URL: redisUrl,
    PASS_KEYS_DIR: keysDir,
    QUEUE_ID: queueId,
    WINDOW_SIZE: '10',
    WINDOW_INTERVAL: '86400',
    // All load comes from 127.0.0.1: a join limit that never refuses, so each join still pays for it (as in bench/run.ts).
    JOIN_LIMIT_BURST: '1000000000',
    JOIN_LIMIT_RATE: '1000000',
  });
  try {
    const targets = await targetsOf(base);
    const many = QUEUES > 0 ? await manyQueues(base, adminToken, queueId) : undefined;
    const counted = (many ? [...targets, many.target] : targets).filter((t) => !ONLY || ONLY.test(t.name));
    const figures = await countRounds(entry, queueId, proc, outDir, counted);
    await many?.remove();
    // Each build's rounds as soon as they are counted: a later build's failure does not lose them.
    for (const [name, rounds] of figures) process.stderr.write(`bench: ${entry}: ${name}: ${rounds.map(fmt).join(', ')} instructions per request\n`);
    if (!capture) return { figures };
    const replies: Record<string, FloorReply> = {};
    for (const t of targets) if (!ONLY || ONLY.test(t.name)) replies[t.name] = await captureReply(t);
    return { figures, replies };
  } finally {
    await stop(proc);
    rmSync(outDir, { recursive: true, force: true });
  }
}

/**
 * The node:http floor (bench/servers/floor.ts) writing this build's own replies, counted
 * the same way: what any code behind node:http spends on those requests and replies.
 */
async function measureFloor(replies: Record<string, FloorReply>, targets: readonly string[]): Promise<Map<string, number[]>> {
  const outDir = mkdtempSync(join(tmpdir(), 'waitroom-ir-'));
  const file = join(outDir, 'replies.json');
  writeFileSync(file, JSON.stringify(replies));
  const { base, proc } = await startUnderCallgrind(['--import', 'tsx', join(__dirname, 'servers', 'floor.ts'), '{port}', file, 'http'], outDir, {}, '/status');
  try {
    // The floor answers by path; the headers the build needed (a ticket, a pass) do not matter to it.
    const floorTargets = targets.map((name): Target => {
      const [method, path] = name.split(' ');
      return { name, url: `${base}${path}`, headers: {}, ...(method === 'POST' ? { method: 'POST', connections: JOIN_CONNECTIONS } : {}) };
    });
    return await countRounds('floor node:http', 'floor', proc, outDir, floorTargets);
  } finally {
    await stop(proc);
    rmSync(outDir, { recursive: true, force: true });
  }
}

const least = (xs: readonly number[]) => Math.min(...xs);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('valgrind is not installed (Debian: apt-get install valgrind)');
  spawnSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
  const redis = await TestRedis.start();
  const keys = new TestKeyDir().add('bench-ir', 'ES256');
  try {
    const builds: Array<[string, string]> = [['this build', THIS], ...COMPARE.map((c, i): [string, string] => [COMPARE.length > 1 ? `other build ${i + 1}` : 'other build', c])];
    const results: Array<Map<string, number[]>> = [];
    let replies: Record<string, FloorReply> | undefined;
    for (const [i, [, entry]] of builds.entries()) {
      const m = await measure(entry, redis.url, keys.dir, `bench-ir-${i}`, i === 0);
      results.push(m.figures);
      replies ??= m.replies;
    }
    const names = [...results[0]!.keys()];
    if (FLOOR && replies) {
      // The floor writes the replies captured on the default queue; the many-queue join has none.
      results.push(await measureFloor(replies, Object.keys(replies)));
      builds.push(['floor node:http', 'bench/servers/floor.ts']);
    }
    process.stdout.write(`\ninstructions per request (user space, callgrind; ${ROUNDS} rounds of ${fmt(REQUESTS)} after ${fmt(WARMUP)} warm-up; the least round)\n\n`);
    // The difference columns: this build against each other build.
    const others = builds.slice(1).map(([n]) => ` this ÷ ${n} |`).join('');
    process.stdout.write(`| endpoint | ${builds.map(([n]) => n).join(' | ')} |${others}\n`);
    process.stdout.write(`|---|${builds.map(() => '---:').join('|')}|${builds.slice(1).map(() => '---:|').join('')}\n`);
    const warnings: string[] = [];
    for (const name of names) {
      const cells = results.map((r) => (r.has(name) ? least(r.get(name)!) : NaN));
      const diffs = cells.slice(1).map((c) => (Number.isNaN(c) ? ' n/a |' : ` ${((cells[0]! / c - 1) * 100).toFixed(2)}% |`)).join('');
      process.stdout.write(`| ${name} | ${cells.map((c) => (Number.isNaN(c) ? 'n/a' : fmt(c))).join(' | ')} |${diffs}\n`);
      // A join's count falls as more joins share its call: say so when the least rounds compared shared differently.
      const sharedInLeast = builds.map((_, i) => {
        const rounds = results[i]!.get(name);
        return rounds ? batching.get(`bench-ir-${i}\u0000${name}`)?.[rounds.indexOf(least(rounds))] : undefined;
      });
      const known = sharedInLeast.filter((x): x is number => x !== undefined && Number.isFinite(x));
      if (known.length > 1 && Math.max(...known) > 1.1 * Math.min(...known)) {
        warnings.push(`${name}: the least rounds shared a join.lua call among ${known.map((x) => x.toFixed(1)).join(', ')} joins: more than 10% apart, so the difference is partly the sharing`);
      }
    }
    for (const w of warnings) process.stdout.write(`\nnote: ${w}\n`);
    process.stdout.write('\nper round:\n');
    for (const name of names) {
      for (const [i, [label]] of builds.entries()) {
        if (!results[i]!.has(name)) continue;
        const shared = batching.get(`bench-ir-${i}\u0000${name}`);
        const note = shared ? ` (joins per join.lua call: ${shared.map((x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a')).join(', ')})` : '';
        process.stdout.write(`  ${name}, ${label}: ${results[i]!.get(name)!.map(fmt).join(', ')}${note}\n`);
      }
    }
  } finally {
    await redis.close();
    keys.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/instructions: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
