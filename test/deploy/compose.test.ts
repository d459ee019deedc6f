import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { parse } from 'yaml';
import { generateKeyPem, readKeyDir } from '../../internal/admission/pass-keys';
import { TestNginx } from '../helpers/nginx';
import { freePort, waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';
import { requireTool } from '../helpers/tools';

/**
 * docker-compose.yml cannot be run here (no container engine), so this test
 * checks its rules by reading it, and runs its load balancer for real: the
 * nginx config from deploy/compose/ in a real nginx, in front of three real
 * waitroom processes sharing one real Redis and one pass key directory filled
 * by the keys service's own script, exactly as the stack wires them except for
 * the upstream addresses and the listening port. In front of that, the gate
 * service (deploy/nginx template in a real nginx) protects the example origin
 * run with the origin service's command and environment.
 */

const ROOT = join(__dirname, '..', '..');

interface ComposeService {
  image?: string;
  build?: unknown;
  user?: string;
  entrypoint?: string[];
  command?: string[];
  expose?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  read_only?: boolean;
  cap_drop?: string[];
  stop_grace_period?: string;
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const nginxConf = readFileSync(join(ROOT, 'deploy', 'compose', 'nginx.conf'), 'utf8');
const gateTemplate = readFileSync(join(ROOT, 'deploy', 'nginx', 'waitroom-gate.conf.template'), 'utf8');
const replicas = Object.keys(compose.services).filter((n) => /^waitroom-\d+$/.test(n));
const svc = (name: string) => compose.services[name] as ComposeService;

/** A value as compose interpolates it with nothing set in the environment: ${X:-default} -> default, $$ -> $. */
function interpolate(v: string): string {
  return v.replace(/\$\{(\w+):-([^}]*)\}/g, (_m, _n, d: string) => d).replace(/\$\$/g, '$');
}

/** A compose service's environment as its container sees it, with the stack's host names swapped for loopback addresses. */
function envOf(name: string, hosts: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(svc(name).environment ?? {})) {
    let value = interpolate(String(v));
    for (const [from, to] of Object.entries(hosts)) value = value.split(from).join(to);
    out[k] = value;
  }
  return out;
}

/** Runs the `keys` service's `node -e` script against a directory, as the container would. */
function runKeysService(dir: string, extraEnv: Record<string, string> = {}): { status: number | null; out: string } {
  const keys = svc('keys');
  expect(keys.entrypoint).toEqual(['node', '-e']);
  const env = { ...envOf('keys', {}), PASS_KEYS_DIR: dir, ...extraEnv };
  const r = spawnSync(process.execPath, ['-e', (keys.command ?? [])[0] as string], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

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

  it('gives every replica the same pass keys: a named volume the keys service fills, mounted read-only at PASS_KEYS_DIR', () => {
    const keys = svc('keys');
    const keysMount = (keys.volumes ?? [])[0]?.split(':') ?? [];
    expect(keysMount[1]).toBe(keys.environment?.PASS_KEYS_DIR);
    const volume = keysMount[0] as string;
    // A named volume, not a host path: no key file is ever written next to the repository.
    expect(Object.keys(compose.volumes)).toContain(volume);
    expect(keys.image).toBe(svc('waitroom-1').image);
    expect(keys.read_only).toBe(true);
    expect(keys.cap_drop).toEqual(['ALL']);
    for (const name of replicas) {
      const s = svc(name);
      expect(s.volumes).toContain(`${volume}:${s.environment?.PASS_KEYS_DIR}:ro`);
      expect(s.depends_on?.keys?.condition).toBe('service_completed_successfully');
    }
  });

  it('generates one P-256 key on first start, keeps it on later starts, and adds a newer one to rotate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'waitroom-compose-keys-'));
    try {
      const first = runKeysService(dir);
      expect(first).toEqual({ status: 0, out: expect.stringContaining('generated pass key') });
      const kid = readKeyDir(dir).signing.kid;
      expect(readKeyDir(dir).signing.alg).toBe('ES256');
      expect(runKeysService(dir)).toEqual({ status: 0, out: expect.stringContaining(`pass keys present: ${kid}.pem`) });
      expect(readdirSync(dir)).toEqual([`${kid}.pem`]);
      // Rotation: a new key whose kid sorts after the old one signs; the old one still verifies.
      writeFileSync(join(dir, 'compose-20000101T000000.pem'), generateKeyPem('ES256').privatePem);
      rmSync(join(dir, `${kid}.pem`));
      expect(runKeysService(dir, { ROTATE: '1' }).status).toBe(0);
      const set = readKeyDir(dir);
      expect(set.keys).toHaveLength(2);
      expect(set.signing.kid).not.toBe('compose-20000101T000000');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the example origin from the same image, unpublished, behind the nginx gate published on loopback', () => {
    const origin = svc('origin');
    expect(origin.image).toBe(svc('waitroom-1').image);
    expect(origin.entrypoint?.[0]).toBe('node');
    // The image holds dist/ as the build makes it (test/deploy/runtime-files.test.ts).
    expect(existsSync(join(ROOT, origin.entrypoint?.[1] as string))).toBe(true);
    expect(origin.ports).toBeUndefined();
    expect(origin.read_only).toBe(true);
    // The image's HEALTHCHECK probes the server's /livez; the origin has /healthz.
    expect(origin.healthcheck?.test?.join(' ')).toContain('/healthz');
    const env = envOf('origin', {});
    expect(env.JWKS_URL).toBe('http://lb:8080/.well-known/jwks.json');
    // The audience the replicas put in passes: the origin of their TARGET_URL.
    const replicaEnv = envOf('waitroom-1', {});
    expect(env.AUDIENCE).toBe(new URL(replicaEnv.TARGET_URL as string).origin);
    expect(env.WAITING_ROOM_URL).toBe(replicaEnv.WAITING_PAGE_URL);

    const gate = svc('gate');
    expect(gate.image).toMatch(/^nginx:\d+\.\d+\.\d+/);
    expect(gate.volumes).toContain('./deploy/nginx/waitroom-gate.conf.template:/etc/nginx/templates/waitroom-gate.conf.template:ro');
    const gateEnv = envOf('gate', {});
    // Every placeholder of the template is set, and the envsubst filter lets exactly those through.
    const placeholders = [...new Set([...gateTemplate.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1] as string))].sort();
    expect(placeholders).toEqual(['LISTEN_PORT', 'ORIGIN_UPSTREAM', 'WAITROOM_UPSTREAM']);
    for (const p of placeholders) expect(gateEnv[p]).toBeTruthy();
    const filter = new RegExp(gateEnv.NGINX_ENVSUBST_FILTER as string);
    expect(['PATH', 'HOSTNAME', 'NGINX_VERSION', ...placeholders].filter((n) => filter.test(n))).toEqual(placeholders);
    expect(gateEnv.WAITROOM_UPSTREAM).toBe('http://lb:8080');
    expect(gateEnv.ORIGIN_UPSTREAM).toBe(`http://origin:${origin.environment?.PORT}`);
    expect(gate.ports?.[0]).toMatch(new RegExp(`^127\\.0\\.0\\.1:.*:${gateEnv.LISTEN_PORT}$`));
    // The replicas send admitted visitors to the gate's published address, and
    // refused ones to the LB's, on the same host: the pass cookie (host-only,
    // and cookies ignore the port) set by the waiting page reaches the gate.
    const published = (s: ComposeService) => `http://localhost:${/:-(\d+)\}:/.exec(s.ports?.[0] ?? '')?.[1]}`;
    expect(replicaEnv.TARGET_URL).toBe(`${published(gate)}/`);
    expect(replicaEnv.WAITING_PAGE_URL).toBe(`${published(svc('lb'))}/`);
    expect(replicaEnv.PASS_COOKIE_DOMAIN ?? '').toBe('');
    expect(Object.keys(gate.depends_on ?? {}).sort()).toEqual(['lb', 'origin']);
  });
});

describe('the compose load balancer and gate (real nginx, three real replicas, the example origin)', () => {
  let redis: TestRedis;
  const servers: ServerProcess[] = [];
  let nginx: ChildProcess | undefined;
  let nginxExit: Promise<void>;
  let dir: string;
  let lbPort: number;
  let gatePort: number;
  let originPort: number;
  let origin: ChildProcess | undefined;
  let originExit: Promise<void>;
  let gate: TestNginx | undefined;
  const nginxLogs: string[] = [];
  const lb = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${lbPort}${path}`, init);
  const site = () => `http://127.0.0.1:${gatePort}`;
  const hosts = () => ({
    'http://localhost:8081': site(),
    'http://localhost:8080': `http://127.0.0.1:${lbPort}`,
    'http://lb:8080': `http://127.0.0.1:${lbPort}`,
    'http://origin:3000': `http://127.0.0.1:${originPort}`,
  });

  beforeAll(async () => {
    redis = await TestRedis.start();
    dir = mkdtempSync(join(tmpdir(), 'waitroom-lb-'));
    mkdirSync(join(dir, 'logs'));
    mkdirSync(join(dir, 'pass-keys'));
    lbPort = await freePort();
    gatePort = await freePort();
    originPort = await freePort();
    // The keys service fills the shared volume; every replica mounts it.
    expect(runKeysService(join(dir, 'pass-keys')).status).toBe(0);
    const replicaEnv = envOf('waitroom-1', hosts());
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
      // Admission as compose sets it, on loopback ports.
      PASS_KEYS_DIR: join(dir, 'pass-keys'),
      TARGET_URL: replicaEnv.TARGET_URL as string,
      WAITING_PAGE_URL: replicaEnv.WAITING_PAGE_URL as string,
      PASS_COOKIE_SECURE: replicaEnv.PASS_COOKIE_SECURE as string,
    };
    servers.push(...(await Promise.all([1, 2, 3].map(() => ServerProcess.start(env)))));
    let i = 0;
    const conf = nginxConf
      .replace(/^(\s*server\s+)waitroom-\d+:8080\b/gm, (_m, lead: string) => `${lead}127.0.0.1:${(servers[i++] as ServerProcess).port}`)
      .replace(/^(\s*listen\s+)8080;/m, `$1127.0.0.1:${lbPort};`);
    expect(i).toBe(3);
    writeFileSync(join(dir, 'nginx.conf'), conf);
    nginx = spawn(requireTool('nginx'), ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], {
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
    // The example origin as the origin service runs it, then the gate in front of it.
    const o = svc('origin');
    const originEnv = { ...envOf('origin', hosts()), HOST: '127.0.0.1', PORT: String(originPort) };
    const originProc = spawn(process.execPath, [join(ROOT, (o.entrypoint ?? [])[1] as string)], { env: { PATH: process.env.PATH ?? '', ...originEnv }, stdio: 'ignore' });
    origin = originProc;
    originExit = new Promise((r) => originProc.once('exit', () => r()));
    await waitFor(async () => {
      if (originProc.exitCode !== null) throw new Error(`origin exited with ${originProc.exitCode}`);
      return (await fetch(`http://127.0.0.1:${originPort}/healthz`)).status === 200;
    }, { timeoutMs: 10_000, what: 'example origin' });
    const gateEnv = envOf('gate', hosts());
    gate = await TestNginx.start({ WAITROOM_UPSTREAM: gateEnv.WAITROOM_UPSTREAM as string, ORIGIN_UPSTREAM: gateEnv.ORIGIN_UPSTREAM as string }, gatePort);
  });

  afterAll(async () => {
    await gate?.stop();
    if (origin && origin.exitCode === null) {
      origin.kill('SIGTERM');
      await originExit;
    }
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

  /** A GET through the gate with node:http (fetch would force Sec-Fetch-Mode: cors). */
  const viaGate = (path: string, headers: Record<string, string>, base = site()) =>
    new Promise<{ status: number; location: string | undefined; body: string }>((resolve, reject) => {
      const req = httpRequest(base + path, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end();
    });
  const PAGE = { Accept: 'text/html', 'Sec-Fetch-Mode': 'navigate' };
  const API = { Accept: 'application/json' };

  it('gates the example origin: no pass is sent to the waiting page; a claimed pass gets through gate and origin', async () => {
    const page = await viaGate('/shop?x=1', PAGE);
    expect(page.status).toBe(302);
    const loc = new URL(page.location ?? '');
    expect(`${loc.origin}${loc.pathname}`).toBe(`http://127.0.0.1:${lbPort}/`);
    expect(loc.searchParams.get('return_to')).toBe(`${site()}/shop?x=1`);
    // The waiting page it points to is served there.
    expect(await (await fetch(loc)).text()).toContain('<script src="app.js"');
    const api = await viaGate('/api/whoami', API);
    expect(api.status).toBe(401);
    expect((JSON.parse(api.body) as { error: { code: string } }).error.code).toBe('pass_missing');

    // The waiting room API on the site's host, through the gate and the load balancer.
    const joined = (await (await fetch(`${site()}/waitroom/join`, { method: 'POST' })).json()) as { token: string; ticket: number };
    const claimed = await waitFor(
      async () => {
        const r = await fetch(`${site()}/waitroom/claim`, { method: 'POST', headers: { authorization: `Bearer ${joined.token}` } });
        return r.status === 200 ? r : null;
      },
      { timeoutMs: 5_000, what: 'a claimed pass through the gate' },
    );
    const { pass, redirectUrl } = (await claimed.json()) as { pass: string; redirectUrl: string };
    expect(redirectUrl).toBe(`${site()}/`);
    const cookie = claimed.headers.get('set-cookie') ?? '';
    expect(cookie).toContain(`waitroom_pass=${pass}`);
    expect(cookie).not.toMatch(/;\s*Secure/i);
    // Signed with the key the keys service generated, published by every replica through the LB.
    const kid = readKeyDir(join(dir, 'pass-keys')).signing.kid;
    expect(decodeProtectedHeader(pass).kid).toBe(kid);
    const jwks = (await (await lb('/.well-known/jwks.json')).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).toEqual([kid]);

    const who = await viaGate('/api/whoami', { ...API, Cookie: `waitroom_pass=${pass}` });
    expect(who.status).toBe(200);
    expect(JSON.parse(who.body)).toEqual({ origin: 'example', queue: 'default', ticket: joined.ticket, passId: decodeJwt(pass).jti });
    const shop = await viaGate('/', { ...PAGE, Cookie: `waitroom_pass=${pass}` });
    expect(shop.status).toBe(200);
    expect(shop.body).toContain(`ticket ${joined.ticket}`);
  });

  it('has the origin check passes itself (against the JWKS through the LB), so bypassing the gate gets nowhere', async () => {
    const direct = `http://127.0.0.1:${originPort}`;
    const none = await viaGate('/api/whoami', API, direct);
    expect(none.status).toBe(401);
    const forged = await viaGate('/api/whoami', { ...API, 'X-Waitroom-Ticket': '1', 'X-Waitroom-Queue': 'default' }, direct);
    expect(forged.status).toBe(401);
    const joined = (await (await lb('/join', { method: 'POST' })).json()) as { token: string; ticket: number };
    const r = await waitFor(
      async () => {
        const c = await lb('/claim', { method: 'POST', headers: { authorization: `Bearer ${joined.token}` } });
        return c.status === 200 ? c : null;
      },
      { timeoutMs: 5_000, what: 'a claimed pass' },
    );
    const { pass } = (await r.json()) as { pass: string };
    const ok = await viaGate('/api/whoami', { ...API, Cookie: `waitroom_pass=${pass}` }, direct);
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as { ticket: number }).ticket).toBe(joined.ticket);
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
