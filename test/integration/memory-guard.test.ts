import { readFileSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import { createMemoryCgroup, type MemoryCgroup } from '../../bench/lib/cgroup';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * The memory guard (SSE_MEMORY_HIGH_WATER, internal/health/memory-pressure.ts) against a
 * real kernel limit: a real server process in a memory cgroup of 192 MiB, with a heap of
 * 64 MiB of old generation (as an overlay's container command sizes it), asked for 8,000
 * event streams, more than that heap holds (6.4 KiB each). It must refuse the ones it
 * cannot hold with 429 and go on serving; without the guard the kernel or V8 kills it
 * (npm run bench:memory, docs/k8s.md). Needs write access to a cgroup filesystem (root),
 * which CI has; `npm run bench:memory` measures the same at full size.
 */
const LIMIT = 192 * 2 ** 20;
const STREAMS = 8000;

let redis: TestRedis;
const cgroups: MemoryCgroup[] = [];
const servers: ServerProcess[] = [];
const reqs: ClientRequest[] = [];

beforeAll(async () => {
  // Each side holds a socket per stream: this process and the server each need STREAMS descriptors.
  const open = Number(/^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]?.replace('unlimited', 'Infinity'));
  if (!(open >= STREAMS + 1000)) throw new Error(`this test needs ${STREAMS + 1000} open files per process (ulimit -n), has ${open}`);
  redis = await TestRedis.start();
});
afterEach(async () => {
  for (const r of reqs.splice(0)) r.destroy();
  for (const s of servers.splice(0)) await s.stop();
  for (const c of cgroups.splice(0)) c.remove();
});
afterAll(async () => {
  await redis.stop();
});

/** A server in a fresh 192 MiB memory cgroup with a 64 MiB old generation, and a ticket that waits the whole test. */
async function start(name: string, env: Record<string, string> = {}): Promise<{ s: ServerProcess; cg: MemoryCgroup; token: string }> {
  const cg = createMemoryCgroup(`waitroom-test-${name}-${process.pid}`, LIMIT);
  if (typeof cg === 'string') throw new Error(`this test needs a memory cgroup (root, and a cgroup filesystem with the memory controller): ${cg}`);
  cgroups.push(cg);
  const s = await ServerProcess.start(
    {
      REDIS_URL: redis.url,
      QUEUE_ID: `memory-guard-${name}`,
      WINDOW_SIZE: '1',
      WINDOW_INTERVAL: '60',
      SSE_MAX_STREAMS: String(STREAMS * 2),
      SSE_MAX_STREAMS_PER_IP: String(STREAMS * 2),
      HTTP_MAX_CONNECTIONS_PER_IP: '0',
      ...env,
    },
    { nodeArgs: ['--max-old-space-size=64', '--max-semi-space-size=4'], wrap: cg.wrap },
  );
  servers.push(s);
  // Ticket 1 is admitted at once (S = 1); the second waits for the whole test.
  await s.fetch('/join', { method: 'POST' });
  const joined = await s.fetch('/join', { method: 'POST' });
  expect(joined.status).toBe(201);
  return { s, cg, token: ((await joined.json()) as { token: string }).token };
}

/** Asks for STREAMS streams, 250 at a time, until the server is gone. */
async function askForStreams(s: ServerProcess, token: string): Promise<Array<{ status: number; body?: string }>> {
  const results: Array<{ status: number; body?: string }> = [];
  for (let i = 0; i < STREAMS && s.exitCode === null && s.signal === null; i += 250) {
    results.push(...(await Promise.all(Array.from({ length: Math.min(250, STREAMS - i) }, () => openStream(s.url, token)))));
  }
  return results;
}

/** Opens one stream; resolves with its status and, for a refusal, its JSON body. */
function openStream(url: string, token: string): Promise<{ status: number; body?: string }> {
  return new Promise((resolve) => {
    const req = request(`${url}/events`, { agent: false, headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode === 200) {
        res.on('data', () => undefined);
        res.on('error', () => undefined);
        resolve({ status: 200 });
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.end();
    reqs.push(req);
  });
}

describe('the memory guard under a real memory limit', () => {
  it('refuses the streams the replica cannot hold, keeps serving inside its cgroup, and accepts again once they close', async () => {
    const { s, cg, token } = await start('on');
    const results = await askForStreams(s, token);

    // Alive, inside its limit: neither the kernel nor V8 ended it.
    expect({ exitCode: s.exitCode, signal: s.signal, oomKills: cg.oomKills() }).toEqual({ exitCode: null, signal: null, oomKills: 0 });
    const opened = results.filter((r) => r.status === 200).length;
    const refused = results.filter((r) => r.status === 429);
    // It held some, then refused the rest for memory, and nothing else went wrong.
    expect(opened).toBeGreaterThan(500);
    expect(refused.length).toBeGreaterThan(0);
    expect(opened + refused.length).toBe(STREAMS);
    for (const r of refused) expect(JSON.parse(r.body ?? '{}')).toEqual({ error: { code: 'rate_limited', message: expect.stringContaining('short of memory') } });
    // The refused visitors poll instead, and get their place.
    const polled = await s.fetch('/status', { headers: { Authorization: `Bearer ${token}` } });
    expect(polled.status).toBe(200);
    expect(((await polled.json()) as { status: string }).status).toBe('waiting');
    const metrics = await (await s.fetch('/metrics')).text();
    expect(Number(/^waitroom_sse_streams (\d+)$/m.exec(metrics)?.[1])).toBe(opened);
    // The log says when and why, with the limit node read from the cgroup.
    await waitFor(() => s.logEntries().some((e) => e.msg === 'memory pressure: refusing new event streams (visitors poll /status instead)' && e.memoryLimitMiB === 192), {
      timeoutMs: 5000,
      what: 'the pressure log line',
    });

    // Once the streams are gone (and V8 has collected them), the replica takes streams again.
    for (const r of reqs.splice(0)) r.destroy();
    await waitFor(async () => /^waitroom_memory_pressure 0$/m.test(await (await s.fetch('/metrics')).text()), { timeoutMs: 90_000, intervalMs: 500, what: 'pressure to end' });
    expect((await openStream(s.url, token)).status).toBe(200);
  }, 180_000);

  it('is what keeps it alive: with SSE_MEMORY_HIGH_WATER=0 and SSE_HEAP_HIGH_WATER=0 the same request for streams ends the server', async () => {
    const { s, token } = await start('off', { SSE_MEMORY_HIGH_WATER: '0', SSE_HEAP_HIGH_WATER: '0' });
    const results = await askForStreams(s, token);
    await waitFor(() => s.exitCode !== null || s.signal !== null, { timeoutMs: 10_000, what: 'the server to die' });
    // V8 aborts when its old generation is full (SIGABRT), or the kernel kills it (SIGKILL).
    expect(['SIGABRT', 'SIGKILL']).toContain(s.signal);
    expect(results.filter((r) => r.status === 429)).toHaveLength(0);
  }, 120_000);
});
