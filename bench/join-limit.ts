/**
 * The per-request cost of the join limit on POST /join: the same service, the
 * same Redis, the same load, once with JOIN_LIMIT_BURST=0 (no limit) and once
 * with a limit so high it never refuses (every join then pays rate-limit.lua
 * and nothing else changes). Reports joins/s, latency and the server's CPU per
 * join. Short by default (BENCH_JOIN_LIMIT_SECONDS=5, 3 alternating rounds):
 * `npm run bench:join-limit`. Loopback only; bounded in time.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad, type LoadResult } from './lib/load';
import { SERVER_CORE, cpuSeconds, freePort, machineDescription, pinSelf, spawnPinned, waitFor, type Spawned } from './lib/procs';
import { startRedis } from './lib/redis';

const ROOT = join(__dirname, '..');
const SERVER_ENTRY = join(ROOT, 'dist', 'cmd', 'server', 'main.js');
const SECONDS = Number(process.env.BENCH_JOIN_LIMIT_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_JOIN_LIMIT_ROUNDS ?? 3);
const CONNECTIONS = 32;

async function service(name: string, env: NodeJS.ProcessEnv): Promise<{ s: Spawned; base: string }> {
  const port = await freePort();
  const s = spawnPinned(name, SERVER_CORE, process.execPath, [SERVER_ENTRY], { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => ((await fetch(`${base}/readyz`).catch(() => undefined))?.ok ? true : undefined), 15_000, name);
  return { s, base };
}

async function main(): Promise<void> {
  pinSelf();
  const redis = await startRedis();
  const keysDir = mkdtempSync(join(tmpdir(), 'waitroom-bench-keys-'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(keysDir, 'bench-1.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const base = {
    NODE_ENV: 'production',
    PASS_KEYS_DIR: keysDir,
    REDIS_URL: redis.url,
    JWT_SECRET: randomBytes(48).toString('base64'),
    LOG_LEVEL: 'warn',
  };
  const variants = [
    { name: 'limit off (JOIN_LIMIT_BURST=0)', env: { JOIN_LIMIT_BURST: '0' } },
    { name: 'limit on, never refusing', env: { JOIN_LIMIT_BURST: '1000000000', JOIN_LIMIT_RATE: '1000000' } },
  ];
  const results = new Map<string, Array<LoadResult & { cpuUsPerReq: number }>>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of variants) {
        const svc = await service(`join-${round}`, { ...base, ...v.env, QUEUE_ID: `bench-limit-${round}-${v.env.JOIN_LIMIT_BURST}` });
        try {
          // Warm-up: JIT and the Redis scripts loaded.
          await runLoad('warmup', { url: `${svc.base}/join`, method: 'POST', connections: CONNECTIONS, durationSec: 1 });
          const cpu0 = cpuSeconds(svc.s.pid);
          const r = await runLoad(v.name, { url: `${svc.base}/join`, method: 'POST', connections: CONNECTIONS, durationSec: SECONDS });
          const cpu = cpuSeconds(svc.s.pid) - cpu0;
          if (r.non2xx > 0 || r.errors > 0) throw new Error(`${v.name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
          const list = results.get(v.name) ?? [];
          list.push({ ...r, cpuUsPerReq: (cpu * 1e6) / r.requests });
          results.set(v.name, list);
        } finally {
          await svc.s.stop();
        }
      }
    }
  } finally {
    await redis.stop();
    rmSync(keysDir, { recursive: true, force: true });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const lines = [`machine: ${machineDescription()}`, `POST /join, ${CONNECTIONS} connections, ${SECONDS} s x ${ROUNDS} rounds (median)`, ''];
  lines.push('| variant | joins/s | p50 ms | p99 ms | server CPU µs/join |', '|---|---:|---:|---:|---:|');
  for (const v of variants) {
    const rs = results.get(v.name)!;
    lines.push(
      `| ${v.name} | ${Math.round(median(rs.map((r) => r.rps)))} | ${median(rs.map((r) => r.p50Ms))} | ${median(rs.map((r) => r.p99Ms))} | ${median(rs.map((r) => r.cpuUsPerReq)).toFixed(1)} |`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
