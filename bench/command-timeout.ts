/**
 * npm run bench:command-timeout: the client CPU of one Redis command sent the way the
 * store sends it (RedisConnection.commands: no node-redis per-command timeout, the store's
 * own timer bounds it) against the client's default (node-redis's commandOptions timeout,
 * an AbortSignal.timeout per command). 100,000 GETs in batches of 50 per variant, three
 * alternating rounds, on the benchmark's own redis-server; this process pinned to the
 * server core. Prints CPU µs per command (user + system of this process).
 */
import pino from 'pino';
import { RedisConnection } from '../internal/store/redis-connection';
import { parseRedisUrl } from '../internal/store/redis-url';
import { pinSelf } from './lib/procs';
import { startRedis } from './lib/redis';

const COMMANDS = 100_000;
const BATCH = 50;
const ROUNDS = 3;

async function cpuPerCommand(send: () => Promise<unknown>): Promise<number> {
  const t0 = process.cpuUsage();
  for (let i = 0; i < COMMANDS; i += BATCH) await Promise.all(Array.from({ length: BATCH }, send));
  const u = process.cpuUsage(t0);
  return (u.user + u.system) / COMMANDS;
}

async function main(): Promise<void> {
  pinSelf();
  const redis = await startRedis();
  const conn = new RedisConnection({ target: parseRedisUrl(redis.url), commandTimeoutMs: 1000, logger: pino({ level: 'silent' }), onError: () => undefined });
  try {
    await conn.connect();
    const store = conn.commands;
    const raw = (conn as unknown as { client: typeof store }).client;
    const rows: Record<string, number[]> = { 'store commands (no per-command timer)': [], 'client default (AbortSignal.timeout per command)': [] };
    for (let r = 0; r < ROUNDS; r++) {
      rows['store commands (no per-command timer)']!.push(await cpuPerCommand(() => store.get('bench-key')));
      rows['client default (AbortSignal.timeout per command)']!.push(await cpuPerCommand(() => raw.get('bench-key')));
    }
    process.stdout.write(`${COMMANDS.toLocaleString('en-US')} GETs in batches of ${BATCH}, ${ROUNDS} alternating rounds, median\n\n| variant | client CPU µs per command |\n|---|---:|\n`);
    for (const [name, v] of Object.entries(rows)) process.stdout.write(`| ${name} | ${[...v].sort((a, b) => a - b)[1]!.toFixed(2)} |\n`);
  } finally {
    await conn.close();
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
