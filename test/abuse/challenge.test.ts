import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';
import { waitFor } from '../helpers/ports';

/** Fetches a challenge from a replica and solves it the way the widget's worker does (altcha-lib, PBKDF2). */
async function solved(s: ServerProcess): Promise<{ payload: string; challenge: Challenge }> {
  const r = await s.fetch('/challenge');
  expect(r.status).toBe(200);
  expect(r.headers.get('cache-control')).toBe('no-store');
  const challenge = (await r.json()) as Challenge;
  const solution = await solveChallenge({ challenge, deriveKey, timeout: 60_000 });
  if (!solution) throw new Error('the challenge could not be solved');
  return { payload: Buffer.from(JSON.stringify({ challenge, solution })).toString('base64'), challenge };
}

const join = (s: ServerProcess, payload?: string) =>
  s.fetch('/join', { method: 'POST', headers: payload ? { 'X-Waitroom-Challenge': payload } : {} });

async function code(r: Response): Promise<string> {
  return ((await r.json()) as { error: { code: string } }).error.code;
}

describe.each([
  ['Redis, two replicas', true],
  ['the embedded store', false],
])('ALTCHA challenge on join (%s)', (_name, withRedis) => {
  let redis: TestRedis | undefined;
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    if (withRedis) redis = await TestRedis.start();
    // A low cost keeps the solver quick in tests; the default is sized for a browser.
    const env: Record<string, string> = { QUEUE_ID: 'pow', CHALLENGE_MODE: 'always', CHALLENGE_COST: '200' };
    if (redis) env.REDIS_URL = redis.url;
    a = await ServerProcess.start(env);
    b = redis ? await ServerProcess.start(env) : a;
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.close();
  });

  it('refuses a join without a solution with 403 challenge_required and says where to get one', async () => {
    const r = await join(a);
    expect(r.status).toBe(403);
    const body = (await r.json()) as { error: { code: string; challengeUrl: string } };
    expect(body.error).toMatchObject({ code: 'challenge_required', challengeUrl: 'challenge' });
  });

  it('a solved challenge joins once; the same solution replayed (on any replica) is refused', async () => {
    const { payload } = await solved(a);
    const first = await join(b, payload);
    expect(first.status).toBe(201);
    const replay = await join(a, payload);
    expect(replay.status).toBe(403);
    expect(await code(replay)).toBe('challenge_replayed');
    const again = await join(b, payload);
    expect(await code(again)).toBe('challenge_replayed');
  });

  it('a forged solution, a tampered challenge or garbage is refused with challenge_invalid', async () => {
    const { challenge } = await solved(a);
    const wrong = Buffer.from(JSON.stringify({ challenge, solution: { counter: 1, derivedKey: '00'.repeat(32) } })).toString('base64');
    expect(await code(await join(a, wrong))).toBe('challenge_invalid');
    const { payload } = await solved(a);
    const decoded = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as { challenge: Challenge };
    decoded.challenge.parameters.cost = 1; // cheaper work, same signature
    expect(await code(await join(a, Buffer.from(JSON.stringify(decoded)).toString('base64')))).toBe('challenge_invalid');
    expect(await code(await join(a, 'not base64 json'))).toBe('challenge_invalid');
    // The untouched one still works: refusals did not use it up.
    expect((await join(a, payload)).status).toBe(201);
  });
});

describe('CHALLENGE_MODE=auto', () => {
  let s: ServerProcess;
  afterAll(async () => s?.stop());

  it('asks for a challenge only while joins per second over the queue exceed the threshold', async () => {
    s = await ServerProcess.start({ QUEUE_ID: 'auto', CHALLENGE_MODE: 'auto', CHALLENGE_AUTO_JOINS_PER_SECOND: '20', CHALLENGE_COST: '200' });
    expect((await join(s)).status).toBe(201);
    // A burst of joins: once the measured rate passes 20/s, joins need a solution.
    let asked = false;
    for (let i = 0; i < 40 && !asked; i++) {
      const rs = await Promise.all(Array.from({ length: 25 }, () => join(s)));
      asked = rs.some((r) => r.status === 403);
      await Promise.all(rs.map((r) => r.arrayBuffer()));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(asked).toBe(true);
    const { payload } = await solved(s);
    expect((await join(s, payload)).status).toBe(201);
    // Quiet again: after the 5 s measuring span, joins pass without one.
    await waitFor(async () => {
      const r = await join(s);
      await r.arrayBuffer();
      return r.status === 201;
    }, { timeoutMs: 15_000, intervalMs: 500, what: 'the challenge to lift once the queue is quiet' });
  });
});
