import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { freePort, waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * docker-compose.yml cannot be run here (no container engine), so this test
 * checks its rules by reading it, and runs its load balancer for real: the
 * nginx config from deploy/compose/ in a real nginx, in front of three real
 * waitroom processes sharing one real Redis, exactly as the stack wires them
 * except for the upstream addresses and the listening port.
 */

const ROOT = join(__dirname, '..', '..');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  healthcheck?: unknown;
  read_only?: boolean;
  cap_drop?: string[];
  stop_grace_period?: string;
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const nginxConf = readFileSync(join(ROOT, 'deploy', 'compose', 'nginx.conf'), 'utf8');
const replicas = Object.keys(compose.services).filter((n) => /^waitroom-\d+$/.test(n));

describe('docker-compose.yml', () => {
  it('runs Redis with AOF persistence on a named volume and never evicts', () => {
    const redis = compose.services.redis as ComposeService;
    expect(redis.image).toMatch(/^redis:\d+\.\d+\.\d+/);
    const cmd = (redis.command ?? []).join(' ');
    expect(cmd).toContain('--appendonly yes');
    expect(cmd).toContain('--maxmemory-policy noeviction');
    const vol = (redis.volumes ?? []).find((v) => v.endsWith(':/data'));
    expect(vol).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(vol?.split(':')[0]);
    expect(redis.healthcheck).toBeDefined();
  });

  it('runs three hardened production replicas on the shared Redis with one secret from the environment', () => {
    expect(replicas).toEqual(['waitroom-1', 'waitroom-2', 'waitroom-3']);
    for (const name of replicas) {
      const s = compose.services[name] as ComposeService;
      expect(s.environment?.NODE_ENV).toBe('production');
      expect(s.environment?.REDIS_URL).toBe('redis://redis:6379/0');
      // Interpolated by compose, never a literal secret in the file.
      expect(s.environment?.JWT_SECRET).toMatch(/^\$\{JWT_SECRET:\?/);
      expect(s.environment?.TRUST_PROXY).toBe('true');
      expect(s.depends_on?.redis?.condition).toBe('service_healthy');
      expect(s.read_only).toBe(true);
      expect(s.cap_drop).toEqual(['ALL']);
      // Docker's stop timeout must outlast the server's own drain timeout.
      const graceS = Number(/^(\d+)s$/.exec(s.stop_grace_period ?? '')?.[1]);
      expect(graceS * 1000).toBeGreaterThan(Number(s.environment?.SHUTDOWN_DELAY_MS ?? 0) + Number(s.environment?.SHUTDOWN_TIMEOUT_MS));
    }
  });

  it('puts nginx with the deploy/compose config in front of exactly those replicas, published on loopback only', () => {
    const lb = compose.services.lb as ComposeService;
    expect(lb.image).toMatch(/^nginx:\d+\.\d+\.\d+/);
    expect(lb.volumes).toContain('./deploy/compose/nginx.conf:/etc/nginx/nginx.conf:ro');
    expect(lb.ports?.[0]).toMatch(/^127\.0\.0\.1:.*:8080$/);
    const upstreams = [...nginxConf.matchAll(/^\s*server\s+([\w-]+):8080\b/gm)].map((m) => m[1]);
    expect(upstreams).toEqual(replicas);
    expect(Object.keys(lb.depends_on ?? {}).sort()).toEqual(replicas);
  });
});

describe('the compose load balancer (real nginx, three real replicas)', () => {
  let redis: TestRedis;
  const servers: ServerProcess[] = [];
  let nginx: ChildProcess | undefined;
  let nginxExit: Promise<void>;
  let dir: string;
  let lbPort: number;
  const nginxLogs: string[] = [];
  const lb = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${lbPort}${path}`, init);

  beforeAll(async () => {
    redis = await TestRedis.start();
    // WINDOW_INTERVAL of 50 ms so admissions happen within the test.
    // The compose file's own drain settings, so a replica stops as it would there.
    const composeEnv = (compose.services['waitroom-1'] as ComposeService).environment ?? {};
    const env = {
      REDIS_URL: redis.url,
      WINDOW_SIZE: '3',
      WINDOW_INTERVAL: '0.05',
      TRUST_PROXY: 'true',
      LOG_LEVEL: 'warn',
      SHUTDOWN_DELAY_MS: composeEnv.SHUTDOWN_DELAY_MS ?? '0',
      SHUTDOWN_TIMEOUT_MS: composeEnv.SHUTDOWN_TIMEOUT_MS ?? '10000',
    };
    servers.push(...(await Promise.all([1, 2, 3].map(() => ServerProcess.start(env)))));
    dir = mkdtempSync(join(tmpdir(), 'waitroom-lb-'));
    mkdirSync(join(dir, 'logs'));
    lbPort = await freePort();
    let i = 0;
    const conf = nginxConf
      .replace(/^(\s*server\s+)waitroom-\d+:8080\b/gm, (_m, lead: string) => `${lead}127.0.0.1:${(servers[i++] as ServerProcess).port}`)
      .replace(/^(\s*listen\s+)8080;/m, `$1127.0.0.1:${lbPort};`);
    expect(i).toBe(3);
    writeFileSync(join(dir, 'nginx.conf'), conf);
    nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (d: Buffer) => nginxLogs.push(d.toString('utf8'));
    nginx.stdout?.on('data', collect);
    nginx.stderr?.on('data', collect);
    const n = nginx;
    nginxExit = new Promise((r) => n.once('exit', () => r()));
    await waitFor(async () => {
      if (n.exitCode !== null) throw new Error(`nginx exited with ${n.exitCode}`);
      return (await lb('/readyz')).status === 200;
    }, { timeoutMs: 10_000, what: 'nginx in front of the replicas' }).catch((err: Error) => {
      throw new Error(`${err.message}\n${nginxLogs.join('')}`);
    });
  });

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      nginx.kill('SIGTERM');
      await nginxExit;
    }
    await Promise.all(servers.map((s) => s.stop()));
    await redis?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('spreads joins over all three replicas and every ticket is distinct', async () => {
    const tickets: number[] = [];
    for (let k = 0; k < 12; k++) {
      const r = await lb('/join', { method: 'POST' });
      expect(r.status).toBe(201);
      tickets.push(((await r.json()) as { ticket: number }).ticket);
    }
    expect(new Set(tickets).size).toBe(12);
    for (const s of servers) {
      const text = await (await s.fetch('/metrics')).text();
      const issued = Number(/^waitroom_tickets_issued_total\{queue="default"\} (\d+)$/m.exec(text)?.[1] ?? 0);
      expect(issued).toBeGreaterThanOrEqual(2);
    }
  });

  it('answers /status through any replica and admits the ticket', async () => {
    const joined = (await (await lb('/join', { method: 'POST' })).json()) as { token: string };
    const body = await waitFor(
      async () => {
        const r = await lb('/status', { headers: { authorization: `Bearer ${joined.token}` } });
        expect(r.status).toBe(200);
        const b = (await r.json()) as { status: string };
        return b.status === 'active' ? b : null;
      },
      { timeoutMs: 5_000, what: 'ticket active through the LB' },
    );
    expect(body.status).toBe('active');
  });

  it('keeps the API error shape at the edge: bad tokens pass through, /metrics is not public', async () => {
    const bad = await lb('/status', { headers: { authorization: 'Bearer nope' } });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_token');
    const metrics = await lb('/metrics');
    expect(metrics.status).toBe(404);
    expect(await metrics.json()).toEqual({ error: { code: 'not_found', message: 'no such endpoint' } });
  });

  it('keeps serving while a replica shuts down, and answers JSON 503 when none is left', async () => {
    const first = servers[0] as ServerProcess;
    first.kill('SIGTERM');
    // Joins during the drain (SHUTDOWN_DELAY_MS, /readyz already 503) and after
    // the listener closed all succeed: nginx moves them to the other replicas.
    const statuses: number[] = [];
    while (first.exitCode === null && statuses.length < 500) statuses.push((await lb('/join', { method: 'POST' })).status);
    await first.exited;
    expect(first.exitCode).toBe(0);
    for (let k = 0; k < 6; k++) statuses.push((await lb('/join', { method: 'POST' })).status);
    expect(statuses.filter((s) => s !== 201)).toEqual([]);
    const rest = servers.slice(1);
    for (const s of rest) s.kill('SIGTERM');
    await Promise.all(rest.map((s) => s.exited));
    const r = await lb('/readyz');
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('2');
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('not_ready');
  });
});
