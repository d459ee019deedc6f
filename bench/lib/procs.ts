import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Process plumbing for the benchmark: CPU pinning, free loopback ports,
 * per-process CPU time and memory from /proc, and bounded waits.
 */

/** Where the benchmark keeps its logs and redis data (removed by the OS tmp cleaner). */
export const WORK_DIR = mkdtempSync(join(tmpdir(), 'waitroom-bench-'));

const hasTaskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;

/** True when the server and the load generator can each get a core of their own. */
export const PINNING = hasTaskset && availableParallelism() >= 2;

/** Core 0 serves; core 1 generates load (and runs Redis and this orchestrator). */
export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

/** Pins this orchestrator (and so every child not pinned elsewhere) to the load core. */
export function pinSelf(): void {
  if (PINNING) spawnSync('taskset', ['-pc', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' });
}

export interface Spawned {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  stop(): Promise<void>;
}

/**
 * Spawns `cmd args` pinned to `core` (taskset execs the command, so the pid is
 * the command's own). Output goes straight to a log file descriptor: piping it
 * through this orchestrator would cost CPU on the load core for every line a
 * server logs (the Go design logs each /join), and a chatty child never blocks
 * on a full pipe. With `captureStdout`, stdout is a pipe instead (autocannon's JSON).
 */
export function spawnPinned(
  name: string,
  core: number,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  opts: { captureStdout?: boolean } = {},
): Spawned {
  const logFile = join(WORK_DIR, `${name}.log`);
  const fd = openSync(logFile, 'w');
  const [file, argv] = PINNING ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args];
  let proc: ChildProcess;
  try {
    proc = spawn(file, argv, { env, stdio: ['ignore', opts.captureStdout ? 'pipe' : fd, fd] });
  } finally {
    closeSync(fd);
  }
  if (proc.pid === undefined) throw new Error(`could not start ${name}`);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    name,
    proc,
    pid: proc.pid,
    logFile,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}

export function tailLog(s: Spawned, lines = 20): string {
  try {
    return readFileSync(s.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** User + system CPU seconds the process has used so far (Linux /proc). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" closing the command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resident set size in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** A one-line description of this machine for the report. */
export function machineDescription(): string {
  const cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  const mem = /MemTotal:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
  const redis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim().split(' ')[2] ?? '?';
  // cpus(), not availableParallelism(): the latter counts only the cores this pinned process may use.
  return `${cpus().length} cores (${cpu}), ${mem ? Math.round(Number(mem) / 1024 / 1024) : '?'} GiB RAM, Linux, Node.js ${process.version}, Redis ${redis.replace('v=', '')}`;
}
