import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';
import { closeAgents, httpFrom, type Reply } from '../helpers/http-from';

/**
 * The per-client join limit, with two real replicas on one real Redis: the
 * limit is one budget per client address however the client spreads its joins
 * over replicas, and a client at its limit does not affect anyone else.
 */
describe('join limit per client address, shared by replicas', () => {
  let redis: TestRedis;
  let a: ServerProcess;
  let b: ServerProcess;
  const BURST = 20;

  beforeAll(async () => {
    redis = await TestRedis.start();
    // A slow refill (0.2/s) so that no token comes back while the flood runs.
    const env = { REDIS_URL: redis.url, QUEUE_ID: 'limits', JOIN_LIMIT_BURST: String(BURST), JOIN_LIMIT_RATE: '0.2', CLAIM_LIMIT_PER_MINUTE: '3' };
    [a, b] = await Promise.all([ServerProcess.start(env), ServerProcess.start(env)]);
  });

  afterAll(async () => {
    closeAgents();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.close();
  });

  it('a flood from one address gets 429 too_many_requests within its burst on every replica; other addresses are unaffected', async () => {
    const flood: Array<Reply & { via: string }> = [];
    // 60 joins from 127.0.0.2, alternating replicas, 10 at a time: bounded in count.
    for (let i = 0; i < 60; i += 10) {
      flood.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, async (_, j) => {
            const via = (i + j) % 2 ? a.url : b.url;
            return { ...(await httpFrom(`${via}/join`, { from: '127.0.0.2', method: 'POST' })), via };
          }),
        )),
      );
    }
    const ok = flood.filter((r) => r.status === 201);
    const limited = flood.filter((r) => r.status === 429);
    // The burst, plus at most one token refilled while the flood ran (0.2/s).
    expect(ok.length).toBeGreaterThanOrEqual(BURST);
    expect(ok.length).toBeLessThanOrEqual(BURST + 1);
    expect(limited.length).toBe(60 - ok.length);
    // The limit is taken in join.lua with the ticket: a refused join spends no ticket number,
    // so the joins allowed hold exactly 1..n, each once, across both replicas.
    const tickets = ok.map((x) => x.json<{ ticket: number }>().ticket).sort((p, q) => p - q);
    expect(tickets).toEqual(Array.from({ length: ok.length }, (_, i) => i + 1));
    const r = limited[0]!;
    expect(r.json<{ error: { code: string } }>().error.code).toBe('too_many_requests');
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(r.headers['ratelimit-policy']).toBe(`"join"; q=${BURST}; w=100`);
    expect(r.headers.ratelimit).toMatch(/^"join"; r=0; t=\d+$/);
    // Both replicas refused: the budget is shared.
    expect(new Set(limited.map((x) => x.via))).toEqual(new Set([a.url, b.url]));
    expect(ok[0]!.headers.ratelimit).toMatch(/^"join"; r=\d+; t=\d+$/);

    // Someone else (another address) joins normally on both replicas.
    for (const s of [a, b]) {
      const other = await httpFrom(`${s.url}/join`, { from: '127.0.0.3', method: 'POST' });
      expect(other.status).toBe(201);
    }
    // And the flooder still gets 429 on either replica.
    for (const s of [a, b]) expect((await httpFrom(`${s.url}/join`, { from: '127.0.0.2', method: 'POST' })).status).toBe(429);

    const metrics = await (await a.fetch('/metrics')).text();
    expect(metrics).toMatch(/^waitroom_rate_limited_total\{route="join"\} [1-9]\d*$/m);
  });

  it('POST /claim is limited per address per minute across replicas (express-rate-limit with rate-limit-redis)', async () => {
    const statuses: number[] = [];
    const last: Reply[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await httpFrom(`${i % 2 ? a.url : b.url}/claim`, { from: '127.0.0.4', method: 'POST', headers: { Authorization: 'Bearer not-a-ticket' } });
      statuses.push(r.status);
      last.push(r);
    }
    // Three requests reach the route (401: the ticket is no ticket); the fourth and fifth are limited.
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const limited = last[3]!;
    expect(limited.json<{ error: { code: string } }>().error.code).toBe('too_many_requests');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.headers['ratelimit-policy']).toMatch(/q=3; w=60/);
    expect(String(limited.headers['retry-after']).split(',')).toHaveLength(1);
    // Another address may still claim.
    expect((await httpFrom(`${a.url}/claim`, { from: '127.0.0.5', method: 'POST', headers: { Authorization: 'Bearer x' } })).status).toBe(401);
  });
});
