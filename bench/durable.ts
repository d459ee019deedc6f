/**
 * The cost of durable joins: POST /join per second on one core with
 * JOIN_DURABILITY=none and with JOIN_DURABILITY=replica (WAIT 1, a real
 * replica redis-server), measured in one run.
 *
 *   npm run bench:durable [seconds=5]
 *
 * The waitroom server is pinned to CPU 0 with taskset; this process (the
 * autocannon load) and both redis-servers run on CPU 1. Primary and replica are
 * private redis-servers on free loopback ports, without persistence. Each run
 * uses its own queue. Load is bounded in time (seconds per run) and count.
 *
 * JOIN_DURABILITY=aof (WAITAOF) needs Redis 7.2; on an older Redis the script
 * says so and measures the nearest thing the server has: a primary with
 * appendfsync always, where every write is fsynced before Redis replies.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort, waitFor } from '../test/helpers/ports';
import { TestRedis } from '../test/helpers/redis-server';

const ROOT = join(__dirname, '..');
const SECONDS = Math.max(1, Math.min(60, Number(process.argv[2] ?? 5)));
const MAX_REQUESTS = 2_000_000;
const CONNECTIONS = 32;

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

/** Joins per second and p99 latency in ms; every join must answer 201. */
async function load(url: string): Promise<{ rps: number; p99: number }> {
  const opts = { url: `${url}/join`, method: 'POST' as const, connections: CONNECTIONS, pipelining: 1 };
  // Warm-up (JIT, connection setup), then the measured run.
  await autocannon({ ...opts, duration: 1, maxOverallRequests: 200_000 });
  const r = await autocannon({ ...opts, duration: SECONDS, maxOverallRequests: MAX_REQUESTS });
  const bad = r.non2xx + r.errors + r.timeouts;
  if (bad > 0) throw new Error(`${url}/join: ${bad} failed requests`);
  return { rps: r.requests.average, p99: r.latency.p99 };
}

async function hasWaitAof(redis: TestRedis): Promise<boolean> {
  const cmd = (await redis.withClient((c) => c.sendCommand(['COMMAND', 'INFO', 'WAITAOF']))) as unknown[];
  return Array.isArray(cmd) && cmd[0] != null;
}

async function main(): Promise<void> {
  execFileSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
  const primary = await TestRedis.start();
  const replica = await TestRedis.start({ replicaOf: primary });
  const fsynced = await TestRedis.start({ persist: true });
  try {
    await waitFor(async () => (await primary.withClient((c) => c.info('replication'))).includes('state=online') || undefined, {
      timeoutMs: 10_000,
      what: 'the replica to finish its first sync',
    });
    const runs: Array<[string, string, Record<string, string>]> = [
      ['none', primary.url, {}],
      ['replica (WAIT 1)', primary.url, { JOIN_DURABILITY: 'replica', JOIN_DURABILITY_REPLICAS: '1', JOIN_DURABILITY_TIMEOUT_MS: '500' }],
    ];
    if (await hasWaitAof(fsynced)) {
      runs.push(['aof (WAITAOF 1 0)', fsynced.url, { JOIN_DURABILITY: 'aof', JOIN_DURABILITY_TIMEOUT_MS: '500' }]);
    } else {
      process.stdout.write('this Redis has no WAITAOF (7.2+): measuring appendfsync always without JOIN_DURABILITY instead\n');
      runs.push(['appendfsync always', fsynced.url, {}]);
    }
    let base = 0;
    for (const [i, [name, url, env]] of runs.entries()) {
      const { url: server, proc } = await startServer({ REDIS_URL: url, QUEUE_ID: `bench-durable-${i}`, WINDOW_SIZE: '1000', ...env });
      try {
        const { rps, p99 } = await load(server);
        if (i === 0) base = rps;
        process.stdout.write(`${name.padEnd(20)} ${rps.toFixed(0).padStart(7)} joins/s   p99 ${String(p99).padStart(4)} ms   ${(rps / base).toFixed(2)} of none\n`);
      } finally {
        await stop(proc);
      }
    }
  } finally {
    await fsynced.close();
    await replica.close();
    await primary.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/durable: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
