import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { SERVER_CORE, spawnPinned, tailLog, waitFor, type Spawned } from './procs';

/**
 * The original Go design (session-queue), built from the baselines folder that
 * sits next to the repository (`../shared/baselines/`: `build-session-queue.sh`
 * and the `session-queue/` sources, whose PORT.md says how the build differs
 * from upstream). It runs beside waitroom in the same benchmark run, on the
 * same core and Redis, with GOMAXPROCS=1 so that its figures are per core too.
 *
 * The binary is cached under node_modules/.cache, keyed by a hash of the
 * sources and the build script, so repeated runs skip the ~40 s Go build.
 */

export interface GoBaseline {
  readonly server: Spawned;
  readonly base: string;
}

/** Every file under `dir`, sorted, for the cache key. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

function sourceHash(baselines: string): string {
  const h = createHash('sha256');
  const files = [join(baselines, 'build-session-queue.sh'), ...filesUnder(join(baselines, 'session-queue'))];
  for (const f of files) h.update(relative(baselines, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex').slice(0, 16);
}

/**
 * Builds (or reuses) the Go binary. Returns its path, or a one-line reason
 * why the Go design cannot be measured here (no baselines folder, or the
 * build script could not install Go or build).
 */
export async function buildGoBaseline(baselines: string, cacheDir: string): Promise<string | { skipped: string }> {
  const script = join(baselines, 'build-session-queue.sh');
  if (!existsSync(script) || !existsSync(join(baselines, 'session-queue'))) {
    return { skipped: `no Go design at ${baselines} (set BENCH_GO_BASELINES to the folder holding build-session-queue.sh)` };
  }
  const out = join(cacheDir, `session-queue-${sourceHash(baselines)}`);
  if (existsSync(out) && statSync(out).size > 0) return out;
  mkdirSync(cacheDir, { recursive: true });
  process.stderr.write('bench: building the Go design (installs Go 1.19 from Debian when missing; ~40 s)\n');
  return new Promise((resolve) => {
    // Bounded: apt-get plus a cold Go build take ~1 min on 2 cores; 10 min means something hangs.
    execFile('bash', [script, out], { timeout: 600_000, maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      if (err || !existsSync(out)) {
        const why = (stderr || (err?.message ?? '')).trim().split('\n').slice(-3).join(' / ');
        resolve({ skipped: `the Go design could not be built (Go not installable here?): ${why}` });
      } else {
        resolve(out);
      }
    });
  });
}

/**
 * A free TCP port below the ephemeral range (32768): the Go design listens on
 * ":PORT" (every address) and ignores a listen error, so a port another
 * process holds would leave it running without serving (PORT.md).
 */
async function freeLowPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below 32768 for the Go design');
}

/** Starts the Go design against `redisUrl`, pinned to the server core, and waits until it serves. */
export async function startGoBaseline(
  binary: string,
  redisUrl: string,
  settings: { windowSize: number; intervalSeconds: number; activeWindowCount: number },
): Promise<GoBaseline> {
  const port = await freeLowPort();
  const u = new URL(redisUrl);
  const server = spawnPinned('go-session-queue', SERVER_CORE, binary, [], {
    PATH: process.env.PATH ?? '',
    GOMAXPROCS: '1',
    REDIS_ADDR: `${u.hostname}:${u.port}`,
    PORT: String(port),
    JWT_SECRET: createHash('sha256').update(String(Math.random())).digest('hex'),
    WINDOW_SIZE: String(settings.windowSize),
    // The Go design takes whole seconds.
    WINDOW_INTERVAL: String(Math.max(1, Math.round(settings.intervalSeconds))),
    ACTIVE_WINDOW_COUNT: String(settings.activeWindowCount),
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined), 20_000, 'the Go design ready');
  } catch (err) {
    await server.stop();
    throw new Error(`${(err as Error).message}\n${tailLog(server)}`);
  }
  return { server, base };
}

/** POST /join on the Go design: its body is {"token": "..."}. */
export async function goJoin(base: string): Promise<string> {
  const r = await fetch(`${base}/join`, { method: 'POST' });
  if (r.status !== 200) throw new Error(`Go POST /join answered ${r.status}: ${await r.text()}`);
  return ((await r.json()) as { token: string }).token;
}
