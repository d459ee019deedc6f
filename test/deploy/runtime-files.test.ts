import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, relative } from 'node:path';
import { TestKeyDir } from '../helpers/pass-keys';
import { freePort, waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';

/**
 * The container image holds only what the Dockerfile's runtime stage copies.
 * This test copies exactly those paths (read from the Dockerfile, not a list
 * kept here) into an empty directory, starts `node dist/cmd/server/main.js`
 * there the way the image's ENTRYPOINT does, as PID 1 of its own PID
 * namespace when the test runs as root, and drives it against a real Redis.
 * A Lua script or static page that the build leaves out of dist/, or a
 * runtime import of a dev dependency, fails here instead of in a deployment.
 */

const ROOT = join(__dirname, '..', '..');
const STRONG_SECRET = 'runtime-files-test-secret-4f0c1a9e8b7d6c5e4f3a2b1c0d9e8f7a';

interface RuntimeCopy {
  from: string;
  to: string;
}

/** `COPY --from=build /app/<src> ./<dest>` lines of the last stage, in order. */
function runtimeCopies(dockerfile: string): RuntimeCopy[] {
  const stages = dockerfile.split(/^FROM\s/m);
  const last = stages[stages.length - 1] ?? '';
  const copies: RuntimeCopy[] = [];
  for (const line of last.split('\n')) {
    const m = /^COPY\s+--from=build\s+(?:--\S+\s+)*(\/app\/\S+)\s+(\S+)\s*$/.exec(line.trim());
    if (m) copies.push({ from: relative('/app', m[1] as string), to: (m[2] as string).replace(/^\.\//, '') });
  }
  return copies;
}

/** Directories of the production dependency tree, as `npm prune --omit=dev` leaves it. */
function productionPackages(): string[] {
  const out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && l !== ROOT)
    .map((l) => relative(ROOT, l));
}

/** Non-TypeScript, non-doc files under internal/: the runtime assets copy-assets.js must place in dist/. */
function runtimeAssets(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...runtimeAssets(p));
    else if (!['.ts', '.md'].includes(extname(entry.name))) found.push(relative(ROOT, p));
  }
  return found;
}

function copyAsDockerfileDoes(copies: RuntimeCopy[], dest: string): void {
  for (const c of copies) {
    if (c.from === 'node_modules') {
      for (const pkg of productionPackages()) {
        mkdirSync(dirname(join(dest, pkg)), { recursive: true });
        cpSync(join(ROOT, pkg), join(dest, pkg), { recursive: true, dereference: true });
      }
      // npm's own bookkeeping of the pruned tree.
      cpSync(join(ROOT, 'node_modules', '.package-lock.json'), join(dest, 'node_modules', '.package-lock.json'));
    } else {
      cpSync(join(ROOT, c.from), join(dest, c.to), { recursive: true });
    }
  }
}

describe('the built output a container image holds', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const copies = runtimeCopies(dockerfile);
  let dir: string;
  let redis: TestRedis;
  let keys: TestKeyDir;
  let proc: ChildProcess | undefined;
  let exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  const logs: string[] = [];
  let port: number;
  const base = () => `http://127.0.0.1:${port}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waitroom-image-'));
    copyAsDockerfileDoes(copies, dir);
    redis = await TestRedis.start();
    // Production requires PASS_KEYS_DIR: a mounted directory of <kid>.pem files.
    keys = new TestKeyDir().add('2026-01-a');
    port = await freePort();
    const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile);
    const argv = JSON.parse(entry?.[1] ?? '[]') as string[];
    expect(argv[0]).toBe('node');
    const env = {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      REDIS_URL: redis.url,
      JWT_SECRET: STRONG_SECRET,
      PASS_KEYS_DIR: keys.dir,
      WINDOW_SIZE: '2',
      WINDOW_INTERVAL: '0.05',
      LOG_LEVEL: 'info',
    };
    // As root, `unshare --pid --fork` makes node PID 1 of a new PID namespace,
    // as in a container: PID 1 only receives signals it installed a handler for.
    const asPid1 = process.getuid?.() === 0;
    const cmd = asPid1 ? 'unshare' : process.execPath;
    const args = asPid1 ? ['--pid', '--fork', '--kill-child', process.execPath, ...argv.slice(1)] : argv.slice(1);
    proc = spawn(cmd, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (d: Buffer) => logs.push(...d.toString('utf8').split('\n').filter(Boolean));
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    const p = proc;
    // 'close', not 'exit': the last log lines ("shutdown complete") may still be in the pipe when the process exits.
    exit = new Promise((resolve) => p.once('close', (code, signal) => resolve({ code, signal })));
    await waitFor(async () => (await fetch(`${base()}/readyz`)).status === 200, { timeoutMs: 15_000, what: 'copied build ready' }).catch(
      (err: Error) => {
        throw new Error(`${err.message}\n${logs.slice(-20).join('\n')}`);
      },
    );
  });

  afterAll(async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exit;
    }
    await redis?.close();
    keys?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('copies package.json, the production node_modules and dist/ and nothing from the source tree', () => {
    expect(copies.map((c) => c.from).sort()).toEqual(['dist', 'node_modules', 'package.json']);
    expect(existsSync(join(dir, 'internal'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules', 'jest'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules', 'express', 'package.json'))).toBe(true);
  });

  it('holds every runtime asset of internal/ (Lua scripts, static pages) next to the compiled code', () => {
    const assets = runtimeAssets(join(ROOT, 'internal'));
    expect(assets.filter((a) => a.endsWith('.lua')).length).toBeGreaterThanOrEqual(5);
    const missing = assets.filter((a) => !existsSync(join(dir, 'dist', a)));
    expect(missing).toEqual([]);
    for (const a of assets) expect(statSync(join(dir, 'dist', a)).size).toBe(statSync(join(ROOT, a)).size);
  });

  it('keeps the build inputs in the Docker build context', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8');
    const buildCopies = [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+\s*$/gm)].flatMap((m) => (m[1] as string).split(/\s+/));
    for (const src of buildCopies) {
      const name = src.replace(/\/$/, '');
      expect(ignore).toMatch(new RegExp(`^!${name.replace(/\./g, '\\.')}/?$`, 'm'));
    }
  });

  it('starts in production mode as the image entry point and serves /readyz, /join and /status', async () => {
    const ready = await fetch(`${base()}/readyz`);
    expect(ready.status).toBe(200);
    const joined = await fetch(`${base()}/join`, { method: 'POST' });
    expect(joined.status).toBe(201);
    const ticket = (await joined.json()) as { token: string; ticket: number; status: string };
    expect(ticket.ticket).toBe(1);
    // WINDOW_SIZE=2 every 50 ms: the first ticket turns active within a few ticks.
    const active = await waitFor(
      async () => {
        const r = await fetch(`${base()}/status`, { headers: { authorization: `Bearer ${ticket.token}` } });
        expect(r.status).toBe(200);
        expect(r.headers.get('cache-control')).toBe('no-store');
        const body = (await r.json()) as { status: string; ticket: number };
        return body.status === 'active' ? body : null;
      },
      { timeoutMs: 5_000, what: 'ticket 1 active' },
    );
    expect(active.ticket).toBe(1);
    const metrics = await (await fetch(`${base()}/metrics`)).text();
    expect(metrics).toMatch(/^waitroom_tickets_issued_total\{queue="default"\} 1$/m);
  });

  it('signs with the mounted pass keys: /.well-known/jwks.json publishes them', async () => {
    const r = await fetch(`${base()}/.well-known/jwks.json`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/json/);
    const jwks = (await r.json()) as { keys: Array<{ kid: string; alg: string; kty: string; crv: string; d?: string }> };
    expect(jwks.keys.map((k) => ({ kid: k.kid, alg: k.alg, kty: k.kty, crv: k.crv }))).toEqual([{ kid: '2026-01-a', alg: 'ES256', kty: 'EC', crv: 'P-256' }]);
    // Public halves only.
    expect(jwks.keys.some((k) => k.d !== undefined)).toBe(false);
    expect(logs.some((l) => l.includes('PASS_KEYS_DIR is not set'))).toBe(false);
  });

  it('holds the example origin that docker-compose.yml runs from the same image, and it starts', async () => {
    const originPort = await freePort();
    const origin = spawn(process.execPath, ['dist/examples/origin/server.js'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(originPort) },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => origin.once('exit', r));
    try {
      await waitFor(
        async () => {
          if (origin.exitCode !== null) throw new Error(`origin exited with ${origin.exitCode}`);
          return (await fetch(`http://127.0.0.1:${originPort}/healthz`)).status === 200;
        },
        { timeoutMs: 10_000, what: 'example origin from the copied build' },
      );
    } finally {
      origin.kill('SIGTERM');
      await exited;
    }
  });

  it('runs as PID 1 when it can and exits 0 on SIGTERM after draining', async () => {
    const entries = logs.flatMap((l) => {
      try {
        return [JSON.parse(l) as { pid?: number; msg?: string }];
      } catch {
        return [];
      }
    });
    const listening = entries.find((e) => String(e.msg).startsWith('waitroom listening on http://'));
    expect(listening).toBeDefined();
    // Signal node itself (the child of unshare when it runs as PID 1).
    const asPid1 = process.getuid?.() === 0;
    const nodePid = asPid1 ? Number(execFileSync('pgrep', ['-P', String(proc?.pid)], { encoding: 'utf8' }).trim()) : (proc?.pid as number);
    if (asPid1) {
      // NSpid lists the pid in each namespace, outermost first: the last one is 1.
      const nsPid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${nodePid}/status`, 'utf8'))?.[1]?.trim().split(/\s+/);
      expect(nsPid?.[nsPid.length - 1]).toBe('1');
    }
    process.kill(nodePid, 'SIGTERM');
    const result = await exit;
    expect(result).toEqual({ code: 0, signal: null });
    expect(logs.some((l) => l.includes('shutdown complete'))).toBe(true);
  });
});
