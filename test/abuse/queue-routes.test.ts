import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';
import { closeAgents, httpFrom } from '../helpers/http-from';

/**
 * The per-queue visitor routes (/q/{id}/...) get exactly what the default
 * queue's routes get: the per-client join limit (one budget per queue, with
 * keys under the queue's hash tag), the ticket cookie named for the queue, and
 * the challenge (issued for that queue, refused on another). Only visitor
 * routes exist under /q/{id}/: /q/{id}/metrics or the admin API are 404.
 */
const ADMIN = 'queue-routes-admin-token-0123456789';

async function createQueue(s: ServerProcess, id: string): Promise<void> {
  const r = await s.fetch('/admin/api/v1/queues', {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id, windowSize: 1, intervalSeconds: 60 }),
  });
  expect(r.status).toBe(201);
}

describe('per-queue routes: join limit and ticket cookie (Redis, two replicas)', () => {
  let redis: TestRedis;
  let a: ServerProcess;
  let b: ServerProcess;
  const BURST = 4;

  beforeAll(async () => {
    redis = await TestRedis.start();
    // A slow refill (0.2/s) so that no token comes back while the test runs.
    const env = { REDIS_URL: redis.url, QUEUE_ID: 'main', ADMIN_TOKEN: ADMIN, JOIN_LIMIT_BURST: String(BURST), JOIN_LIMIT_RATE: '0.2' };
    [a, b] = await Promise.all([ServerProcess.start(env), ServerProcess.start(env)]);
    await createQueue(a, 'shop');
  });

  afterAll(async () => {
    closeAgents();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.close();
  });

  it('POST /q/shop/join is limited per address across replicas, with its own budget, and sets waitroom_ticket_shop', async () => {
    const statuses: number[] = [];
    let cookie = '';
    for (let i = 0; i < BURST + 2; i++) {
      // Waits for the queue to reach b (created on a: served by every replica within a second).
      const via = i % 2 ? a.url : b.url;
      let r = await httpFrom(`${via}/q/shop/join`, { from: '127.0.0.6', method: 'POST' });
      for (let t = 0; r.status === 404 && t < 50; t++) {
        await new Promise((res) => setTimeout(res, 50));
        r = await httpFrom(`${via}/q/shop/join`, { from: '127.0.0.6', method: 'POST' });
      }
      statuses.push(r.status);
      if (r.status === 201) {
        expect(r.headers.ratelimit).toMatch(/^"join"; r=\d+; t=\d+$/);
        cookie = String(r.headers['set-cookie'] ?? '');
        expect(r.json<{ queue: string }>().queue).toBe('shop');
      }
    }
    expect(statuses).toEqual([...Array<number>(BURST).fill(201), 429, 429]);
    expect(cookie).toMatch(/^waitroom_ticket_shop=[^;]+;.*HttpOnly/i);
    // The default queue keeps its own budget for the same address.
    const main = await httpFrom(`${a.url}/join`, { from: '127.0.0.6', method: 'POST' });
    expect(main.status).toBe(201);
    expect(String(main.headers['set-cookie'])).toMatch(/^waitroom_ticket_main=/);
    // The limit's keys carry the queue's hash tag (one slot with the queue's state on a cluster).
    const keys = await redis.withClient((c) => c.keys('waitroom:{shop}:limit:join:*'));
    expect(keys.length).toBeGreaterThan(0);
  });

  it('a join that holds a live ticket cookie of the queue gets its place back (200), on /q/shop/join too', async () => {
    const first = await httpFrom(`${a.url}/q/shop/join`, { from: '127.0.0.7', method: 'POST' });
    expect(first.status).toBe(201);
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    const again = await httpFrom(`${b.url}/q/shop/join`, { from: '127.0.0.7', method: 'POST', headers: { Cookie: cookie } });
    expect(again.status).toBe(200);
    expect(again.json<{ token: string }>().token).toBe(first.json<{ token: string }>().token);
  });

  it.each(['/q/shop/metrics', '/q/shop/admin/api/v1/queues', '/q/shop/readyz', '/q/shop/verify', '/q/shop/.well-known/jwks.json', '/q/shop/passes/stats'])(
    '%s is 404 (only visitor routes exist under /q/{id}/)',
    async (path) => {
      const r = await a.fetch(path, { headers: { Authorization: `Bearer ${ADMIN}` } });
      expect(r.status).toBe(404);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('not_found');
    },
  );
});

describe('per-queue routes: the challenge (embedded store)', () => {
  let s: ServerProcess;

  beforeAll(async () => {
    s = await ServerProcess.start({ QUEUE_ID: 'main', ADMIN_TOKEN: ADMIN, CHALLENGE_MODE: 'always', CHALLENGE_COST: '200' });
    await createQueue(s, 'shop');
  });

  afterAll(async () => {
    await s?.stop();
  });

  async function solvedFor(path: string): Promise<string> {
    const r = await s.fetch(path);
    expect(r.status).toBe(200);
    const challenge = (await r.json()) as Challenge;
    const solution = await solveChallenge({ challenge, deriveKey, timeout: 60_000 });
    if (!solution) throw new Error('the challenge could not be solved');
    return Buffer.from(JSON.stringify({ challenge, solution })).toString('base64');
  }

  it('POST /q/shop/join asks for a challenge; /q/shop/challenge gives one that joins shop but not the default queue', async () => {
    const bare = await s.fetch('/q/shop/join', { method: 'POST' });
    expect(bare.status).toBe(403);
    expect(((await bare.json()) as { error: { code: string } }).error.code).toBe('challenge_required');
    const forShop = await solvedFor('/q/shop/challenge');
    const wrongQueue = await s.fetch('/join', { method: 'POST', headers: { 'X-Waitroom-Challenge': forShop } });
    expect(wrongQueue.status).toBe(403);
    expect(((await wrongQueue.json()) as { error: { code: string } }).error.code).toBe('challenge_invalid');
    const ok = await s.fetch('/q/shop/join', { method: 'POST', headers: { 'X-Waitroom-Challenge': forShop } });
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { queue: string }).queue).toBe('shop');
  });

  it('/q/nope/challenge is 404 queue_not_found', async () => {
    const r = await s.fetch('/q/nope/challenge');
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('queue_not_found');
  });
});
