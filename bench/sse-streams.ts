/**
 * SSE benchmark (npm run bench:sse): one real server process and one private
 * redis-server on loopback, 10,000 concurrent /events streams, each for its own
 * ticket. Prints, with a baseline measured in the same run:
 *   - live memory per open stream vs per idle keep-alive HTTP connection;
 *   - time to push one window advance to every stream (server fan-out and
 *     first-to-last arrival at the clients) vs the same visitors polling /status once;
 *   - heap growth after 10,000 connect/disconnect cycles.
 * Every loop is bounded in count and time; only 127.0.0.1 receives traffic.
 */
import { spawn } from 'node:child_process';
import { Agent, request, type ClientRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { TestRedis } from '../test/helpers/redis-server';
import { freePort, waitFor } from '../test/helpers/ports';

const N = Number(process.env.SSE_BENCH_STREAMS ?? 10_000);
const CYCLES = Number(process.env.SSE_BENCH_CYCLES ?? 10_000);
const PARALLEL = 200;
const INTERVAL_S = 15;
const ROOT = join(__dirname, '..');

type Mem = { heapUsed: number; rss: number };

async function main(): Promise<void> {
  const redis = await TestRedis.start();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // SSE_BENCH_NODE_ARGS: node flags for the server, e.g. the heap cap a deployment runs with.
  const nodeArgs = (process.env.SSE_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const server = spawn(process.execPath, [...nodeArgs, '--expose-gc', '-r', join(__dirname, 'support', 'gc-probe.js'), join(ROOT, 'dist', 'cmd', 'server', 'main.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      JWT_SECRET: 'bench-secret-0123456789abcdef0123456789abcdef',
      REDIS_URL: redis.url,
      QUEUE_ID: 'bench-sse',
      // One ticket per window and a long interval: every stream stays waiting and
      // each advance changes every ticket's place.
      WINDOW_SIZE: '1',
      WINDOW_INTERVAL: String(INTERVAL_S),
      SSE_MAX_STREAMS_PER_IP: String(N * 2),
      SSE_MAX_STREAMS: String(N * 2),
      // Every stream comes from 127.0.0.1: the per-address connection cap (1,024) must not refuse them.
      HTTP_MAX_CONNECTIONS_PER_IP: '0',
      // Nor may the per-address join limit refuse the N joins (it did: a 429 has no token,
      // and the stream opened with it got a 401).
      JOIN_LIMIT_BURST: '1000000000',
      JOIN_LIMIT_RATE: '1000000',
      LOG_LEVEL: process.env.SSE_BENCH_LOG ?? 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const mem = () =>
    new Promise<Mem>((resolve) => {
      server.once('message', (m: { mem: Mem }) => resolve(m.mem));
      server.send('mem');
    });
  const agent = new Agent({ keepAlive: true, maxSockets: PARALLEL });
  const call = (method: string, path: string, headers: Record<string, string> = {}, a: Agent | false = agent) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${base}${path}`, { method, headers, agent: a }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  const inBatches = async <T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> => {
    const out: T[] = new Array(n);
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < n) {
          const i = next++;
          out[i] = await fn(i);
        }
      }),
    );
    return out;
  };

  try {
    await waitFor(async () => (await call('GET', '/readyz')).status === 200, { timeoutMs: 15_000, what: 'server ready' });
    console.log(`joining ${N} tickets...`);
    // W starts at S = 1, so ticket 1 is admitted at once: take it first and leave it out.
    await call('POST', '/join');
    const tokens = await inBatches(N, async () => (JSON.parse((await call('POST', '/join')).body) as { token: string }).token);
    agent.destroy();
    const m0 = await mem();

    // Baseline: N idle keep-alive connections held open at once, each after one small request.
    const idle: Socket[] = [];
    await inBatches(N, () => {
      return new Promise<void>((resolve, reject) => {
        const sock = connect(port, '127.0.0.1', () => sock.write('GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
        sock.once('data', () => resolve());
        sock.on('error', reject);
        idle.push(sock);
      });
    });
    const mIdle = await mem();
    for (const sock of idle) sock.destroy();
    await new Promise((r) => setTimeout(r, 500));
    const m1 = await mem();

    // N streams, one per ticket.
    const streams: Array<{ req: ClientRequest; events: number; lastAt: number }> = [];
    const openedAt = Date.now();
    await inBatches(N, (i) => {
      return new Promise<void>((resolve, reject) => {
        const s = { req: undefined as unknown as ClientRequest, events: 0, lastAt: 0 };
        s.req = request(`${base}/events`, { headers: { Authorization: `Bearer ${tokens[i]}` }, agent: false }, (res) => {
          if (res.statusCode !== 200) return reject(new Error(`stream ${i}: HTTP ${res.statusCode}`));
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            const n = c.split('event: status').length - 1;
            if (n > 0) {
              s.events += n;
              s.lastAt = performance.now();
              if (s.events === 1) resolve();
            }
          });
        });
        s.req.on('error', reject);
        s.req.end();
        streams.push(s);
      });
    });
    const openMs = Date.now() - openedAt;
    const mStreams = await mem();

    // Wait for the next advance to reach every stream.
    await waitFor(() => streams.every((s) => s.events >= 2), { timeoutMs: (INTERVAL_S + 20) * 1000, intervalMs: 50, what: 'advance at every stream' });
    const arrivals = streams.map((s) => s.lastAt).sort((a, b) => a - b);
    const spreadMs = arrivals[arrivals.length - 1]! - arrivals[0]!;
    const metrics = (await call('GET', '/metrics', {}, false)).body;
    const fanSum = Number(/^waitroom_sse_fanout_seconds_sum (\S+)$/m.exec(metrics)?.[1] ?? NaN);
    const fanCount = Number(/^waitroom_sse_fanout_seconds_count (\S+)$/m.exec(metrics)?.[1] ?? NaN);
    const fanoutMs = (fanSum / fanCount) * 1000;

    for (const s of streams) s.req.destroy();
    await waitFor(async () => /^waitroom_sse_streams 0$/m.test((await call('GET', '/metrics', {}, false)).body), { timeoutMs: 20_000, what: 'streams closed' });

    // Polling baseline: the same N visitors each poll /status once.
    const pollAgent = new Agent({ keepAlive: true, maxSockets: PARALLEL });
    const pollStart = performance.now();
    await inBatches(N, (i) => call('GET', '/status', { Authorization: `Bearer ${tokens[i]}` }, pollAgent));
    const pollMs = performance.now() - pollStart;
    pollAgent.destroy();

    // Churn: CYCLES streams opened and dropped, PARALLEL at a time.
    await new Promise((r) => setTimeout(r, 500));
    const mBeforeChurn = await mem();
    await inBatches(CYCLES, (i) => {
      return new Promise<void>((resolve, reject) => {
        const req = request(`${base}/events?token=${tokens[i % N]}`, { agent: false }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', reject);
        req.end();
      });
    });
    await waitFor(async () => /^waitroom_sse_streams 0$/m.test((await call('GET', '/metrics', {}, false)).body), { timeoutMs: 20_000, what: 'churned streams closed' });
    await new Promise((r) => setTimeout(r, 500));
    const mAfterChurn = await mem();

    const kib = (b: number) => (b / 1024).toFixed(2);
    const perIdleHeap = (mIdle.heapUsed - m0.heapUsed) / N;
    const perIdleRss = (mIdle.rss - m0.rss) / N;
    const perStreamHeap = (mStreams.heapUsed - m1.heapUsed) / N;
    const perStreamRss = (mStreams.rss - m1.rss) / N;
    console.log(`\nSSE benchmark: ${N} concurrent streams on one replica (${N} distinct tickets)`);
    console.log(`  open ${N} streams:                 ${openMs} ms`);
    console.log(`  heap per stream:                    ${kib(perStreamHeap)} KiB   (idle keep-alive connection: ${kib(perIdleHeap)} KiB, ratio ${(perStreamHeap / perIdleHeap).toFixed(2)})`);
    console.log(`  RSS per stream:                     ${kib(perStreamRss)} KiB   (idle keep-alive connection: ${kib(perIdleRss)} KiB, ratio ${(perStreamRss / perIdleRss).toFixed(2)})`);
    console.log(`  server fan-out of one advance:      ${fanoutMs.toFixed(1)} ms (mean of ${fanCount})`);
    console.log(`  first-to-last arrival at clients:   ${spreadMs.toFixed(1)} ms`);
    console.log(`  baseline, ${N} visitors poll once:  ${pollMs.toFixed(1)} ms  (push/poll ratio ${(fanoutMs / pollMs).toFixed(3)})`);
    console.log(`  heap after ${CYCLES} open/close cycles: ${kib(mAfterChurn.heapUsed - mBeforeChurn.heapUsed)} KiB change (${((mAfterChurn.heapUsed / mBeforeChurn.heapUsed - 1) * 100).toFixed(1)} %)`);
  } finally {
    server.kill('SIGKILL');
    await redis.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
