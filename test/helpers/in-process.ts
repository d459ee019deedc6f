import pino from 'pino';
import { loadConfig } from '../../internal/config/config';
import { WaitroomServer } from '../../internal/server/waitroom-server';
import { waitFor } from './ports';
import { TestRedis } from './redis-server';
import { TEST_SECRET } from './server-process';

/**
 * A WaitroomServer inside the test process (for supertest against its
 * handler), talking to a real redis-server. Not listening: supertest binds
 * `server.http` to an ephemeral port per request.
 */
export async function startInProcess(env: Record<string, string>): Promise<WaitroomServer> {
  // JOIN_LIMIT_BURST=0: tests play thousands of visitors from one loopback address; the
  // join-limit tests (test/abuse/) set it.
  const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_SECRET, JOIN_LIMIT_BURST: '0', ...env });
  const server = new WaitroomServer(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  await server.start();
  await waitFor(() => server.readiness.reason() === null, { timeoutMs: 10_000, what: 'in-process server ready' });
  return server;
}

/**
 * For a test file: a private redis-server and an in-process server with the admin API on
 * (token `adminToken`), started before its tests and stopped after them. Read the server
 * through the returned getter inside tests.
 */
export function inProcessWithAdmin(adminToken: string): () => WaitroomServer {
  let redis: TestRedis | undefined;
  let server: WaitroomServer | undefined;
  beforeAll(async () => {
    redis = await TestRedis.start();
    server = await startInProcess({ REDIS_URL: redis.url, ADMIN_TOKENS: `ops:${adminToken}` });
  }, 30_000);
  afterAll(async () => {
    await server?.shutdown();
    await redis?.close();
  });
  return () => {
    if (!server) throw new Error('the in-process server is not started');
    return server;
  };
}
