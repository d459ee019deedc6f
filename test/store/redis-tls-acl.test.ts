import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../helpers/ports';
import { ServerProcess } from '../helpers/server-process';
import { requireTool } from '../helpers/tools';

/**
 * rediss:// with an ACL user: a real redis-server that accepts TLS only (its
 * certificate signed by a CA made here with openssl) and has the default user
 * switched off. waitroom reaches it with REDIS_TLS_CA_FILE and user:password.
 */
jest.setTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), 'waitroom-tls-'));
let redis: ChildProcess | undefined;
let port = 0;
let server: ServerProcess | undefined;

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

beforeAll(async () => {
  requireTool('redis-server');
  requireTool('openssl');
  requireTool('redis-cli');
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=waitroom-test-ca']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext']);
  port = await freePort();
  redis = spawn(
    'redis-server',
    [
      '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--tls-cert-file', 'server.pem', '--tls-key-file', 'server.key', '--tls-ca-cert-file', 'ca.pem', '--tls-auth-clients', 'no',
      // Only the waitroom ACL user may connect; the default (password-less) user is off.
      '--user', 'default', 'off',
      '--user', 'waitroom', 'on', '>s3cret/pw', '~waitroom:*', '&waitroom:*', '+@all',
    ],
    { stdio: 'ignore', cwd: dir },
  );
  await waitFor(() => spawnSync('redis-cli', ['-p', String(port), '--tls', '--cacert', join(dir, 'ca.pem'), '--user', 'waitroom', '--pass', 's3cret/pw', 'PING'], { encoding: 'utf8' }).stdout.includes('PONG'), {
    timeoutMs: 10_000,
    what: 'TLS redis-server',
  });
});

afterAll(async () => {
  await server?.stop();
  redis?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('joins and statuses over TLS as an ACL user', async () => {
  server = await ServerProcess.start({
    REDIS_URL: `rediss://waitroom:${encodeURIComponent('s3cret/pw')}@127.0.0.1:${port}`,
    REDIS_TLS_CA_FILE: join(dir, 'ca.pem'),
    QUEUE_ID: 'tls',
  });
  const j = await server.fetch('/join', { method: 'POST' });
  expect(j.status).toBe(201);
  const { token } = (await j.json()) as { token: string };
  expect((await server.fetch('/status', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
});

test('a wrong password is never ready and never hands out a ticket', async () => {
  const bad = await ServerProcess.start(
    { REDIS_URL: `rediss://waitroom:wrong@127.0.0.1:${port}`, REDIS_TLS_CA_FILE: join(dir, 'ca.pem'), QUEUE_ID: 'tls' },
    { waitReady: false },
  );
  try {
    // Either it refuses to start, naming the cause, or it runs and answers 503.
    await waitFor(async () => bad.exitCode !== null || (await bad.fetch('/livez').catch(() => null))?.status === 200, { timeoutMs: 15_000, what: 'bad server up or exited' });
    if (bad.exitCode !== null) {
      expect(bad.exitCode).not.toBe(0);
      expect(bad.logs.join('\n')).toMatch(/WRONGPASS|invalid username-password/);
    } else {
      expect((await bad.fetch('/readyz')).status).toBe(503);
      const j = await bad.fetch('/join', { method: 'POST' });
      expect(j.status).toBe(503);
      expect(j.headers.get('retry-after')).toMatch(/^\d+$/);
    }
  } finally {
    await bad.stop();
  }
});
