import pino from 'pino';
import { loadConfig } from '../../internal/config/config';
import { WaitroomServer } from '../../internal/server/waitroom-server';
import { waitFor } from './ports';
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
