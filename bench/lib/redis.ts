import { join } from 'node:path';
import { createConnection } from 'node:net';
import { LOAD_CORE, WORK_DIR, freePort, spawnPinned, waitFor, type Spawned } from './procs';

/** PING over a raw socket: true once redis-server answers +PONG. */
function ping(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.setTimeout(500, () => s.destroy());
    s.on('error', () => resolve(undefined));
    s.on('close', () => resolve(undefined));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      resolve(d.toString().startsWith('+PONG') ? true : undefined);
      s.destroy();
    });
  });
}

/**
 * The benchmark's own redis-server on a free loopback port, without
 * persistence (the figures are about the service, not fsync), on the load
 * core so that the server core runs nothing but the service.
 */
export async function startRedis(): Promise<Spawned & { url: string }> {
  const port = await freePort();
  const r = spawnPinned('redis', LOAD_CORE, 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', join(WORK_DIR), '--save', '', '--appendonly', 'no',
  ]);
  await waitFor(() => ping(port), 10_000, `redis-server on ${port}`);
  return { ...r, url: `redis://127.0.0.1:${port}` };
}
