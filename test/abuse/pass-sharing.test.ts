import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';
import { closeAgents, httpFrom } from '../helpers/http-from';
import { waitFor } from '../helpers/ports';

/** Joins and claims from `from`: the first WINDOW_SIZE tickets are admitted at once. */
async function passFor(s: ServerProcess, from = '127.0.0.1'): Promise<string> {
  const j = await httpFrom(`${s.url}/join`, { from, method: 'POST' });
  expect(j.status).toBe(201);
  const token = j.json<{ token: string }>().token;
  const c = await httpFrom(`${s.url}/claim`, { from, method: 'POST', headers: { Authorization: `Bearer ${token}` } });
  expect(c.status).toBe(200);
  return c.json<{ pass: string }>().pass;
}

const verify = (s: ServerProcess, pass: string, from: string) => httpFrom(`${s.url}/verify`, { from, headers: { 'X-Waitroom-Pass': pass } });

describe('passes bound to their holder', () => {
  let redis: TestRedis;
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    redis = await TestRedis.start();
    const env = { REDIS_URL: redis.url, QUEUE_ID: 'share', WINDOW_SIZE: '100', PASS_MAX_CLIENTS: '3', PASS_SHARING_FLUSH_MS: '100' };
    [a, b] = await Promise.all([ServerProcess.start(env), ServerProcess.start(env)]);
  });

  afterAll(async () => {
    closeAgents();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.close();
  });

  it('a pass used from more distinct clients than the limit, over both replicas, is revoked on every gate', async () => {
    const pass = await passFor(a);
    // Three clients, two replicas: within the limit.
    for (const [s, from] of [[a, '127.0.0.11'], [b, '127.0.0.12'], [a, '127.0.0.13'], [b, '127.0.0.11']] as const) {
      expect((await verify(s, pass, from)).status).toBe(204);
    }
    // A fourth distinct client, on the other replica: the shared count passes 3.
    expect((await verify(b, pass, '127.0.0.14')).status).toBe(204);
    for (const s of [a, b]) {
      await waitFor(async () => (await verify(s, pass, '127.0.0.11')).status === 403, { timeoutMs: 10_000, what: 'the shared pass refused' });
    }
    const r = await verify(a, pass, '127.0.0.12');
    expect(r.json<{ error: { code: string } }>().error.code).toBe('pass_revoked');
    const counted = await Promise.all([a, b].map(async (s) => /^waitroom_passes_shared_total 1$/m.test(await (await s.fetch('/metrics')).text())));
    expect(counted.filter(Boolean)).toHaveLength(1);
    // The revocation is in Redis (pass-clients.lua counts it under "shared").
    expect(await redis.withClient((c) => c.hGet('waitroom:{share}:pass-stats', 'shared'))).toBe('1');
  });

  it('a pass used by one holder within the limit keeps working after the batches are counted', async () => {
    const pass = await passFor(b);
    for (let i = 0; i < 3; i++) {
      for (const from of ['127.0.0.21', '127.0.0.22']) expect((await verify(i % 2 ? a : b, pass, from)).status).toBe(204);
    }
    // Several flush periods later, still admitted.
    await new Promise((r) => setTimeout(r, 600));
    expect((await verify(a, pass, '127.0.0.21')).status).toBe(204);
    expect((await verify(b, pass, '127.0.0.22')).status).toBe(204);
  });
});

describe('PASS_BIND_PREFIX', () => {
  let s: ServerProcess;
  afterAll(async () => {
    closeAgents();
    await s?.stop();
  });

  it('refuses a pass outside the /24 it was claimed from with 403 pass_wrong_client', async () => {
    s = await ServerProcess.start({ QUEUE_ID: 'bind', WINDOW_SIZE: '100', PASS_BIND_PREFIX: 'true' });
    const pass = await passFor(s, '127.0.0.30');
    expect((await verify(s, pass, '127.0.0.31')).status).toBe(204);
    const other = await verify(s, pass, '127.0.1.30');
    expect(other.status).toBe(403);
    expect(other.json<{ error: { code: string } }>().error.code).toBe('pass_wrong_client');
  });
});
