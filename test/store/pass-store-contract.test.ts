import pino from 'pino';
import { UnavailableError } from '../../internal/errors/errors';
import { MemoryPassStore } from '../../internal/store/memory-pass-store';
import { MemoryQueueStore } from '../../internal/store/memory-store';
import { RedisPassStore, type PassStore } from '../../internal/store/pass-store';
import { RedisQueueStore } from '../../internal/store/redis-store';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';

/**
 * One contract for the admission pass store, run against RedisPassStore (on a
 * private redis-server) and MemoryPassStore (beside the embedded queue store):
 * one claim per ticket under both policies, done counted once and announced,
 * expired passes counted as abandoned by the sweep.
 */
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

interface Kit {
  setup(): Promise<void>;
  teardown(): Promise<void>;
  open(queueId: string): Promise<{ passes: PassStore; now: () => Promise<number>; close: () => Promise<void> }>;
}

function redisKit(): Kit {
  let redis: TestRedis | undefined;
  return {
    setup: async () => {
      redis = await TestRedis.start();
    },
    teardown: async () => redis?.close(),
    async open(queueId) {
      const q = new RedisQueueStore({ url: redis!.url, queueId, logger });
      await q.connect();
      return {
        passes: new RedisPassStore(q, logger),
        now: async () => {
          const [sec, usec] = (await q.redis.time()).map(Number) as [number, number];
          return sec * 1000 + Math.floor(usec / 1000);
        },
        close: () => q.close(),
      };
    },
  };
}

function memoryKit(): Kit {
  return {
    setup: async () => undefined,
    teardown: async () => undefined,
    async open(queueId) {
      const q = new MemoryQueueStore({ queueId, logger });
      return { passes: new MemoryPassStore(q), now: async () => q.clock(), close: () => q.close() };
    },
  };
}

let n = 0;
const pass = (expMs: number) => {
  n++;
  return { jti: `jti-${n}`, token: `pass-${n}`, expMs };
};

describe.each([
  ['redis', redisKit()],
  ['memory', memoryKit()],
] as const)('pass store contract: %s', (_name, kit) => {
  beforeAll(() => kit.setup());
  afterAll(() => kit.teardown());
  let q = 0;
  const open = () => kit.open(`passes-${_name}-${++q}`);

  test('one claim per ticket: "same" returns the first pass, "refuse" refuses', async () => {
    const s = await open();
    const exp = (await s.now()) + 60_000;
    const a = pass(exp);
    expect(await s.passes.claim('e1', 7, a, 60_000, 'same')).toEqual({ outcome: 'issued', pass: a.token });
    expect(await s.passes.claim('e1', 7, pass(exp), 60_000, 'same')).toEqual({ outcome: 'same', pass: a.token });
    expect(await s.passes.claim('e1', 7, pass(exp), 60_000, 'refuse')).toEqual({ outcome: 'refused' });
    // Another ticket, or the same number in another epoch, is another claim.
    expect((await s.passes.claim('e1', 8, pass(exp), 60_000, 'refuse')).outcome).toBe('issued');
    expect((await s.passes.claim('e2', 7, pass(exp), 60_000, 'refuse')).outcome).toBe('issued');
    expect((await s.passes.sweep(false)).stats).toMatchObject({ claimed: 3, active: 3 });
    await s.close();
  });

  test('50 concurrent claims of one ticket store exactly one pass', async () => {
    const s = await open();
    const exp = (await s.now()) + 60_000;
    const results = await Promise.all(Array.from({ length: 50 }, () => s.passes.claim('e', 1, pass(exp), 60_000, 'same')));
    expect(results.filter((r) => r.outcome === 'issued')).toHaveLength(1);
    expect(new Set(results.map((r) => ('pass' in r ? r.pass : ''))).size).toBe(1);
    expect((await s.passes.sweep(false)).stats.claimed).toBe(1);
    await s.close();
  });

  test('done is counted once, revokes, and is announced to subscribers', async () => {
    const s = await open();
    const heard: Array<[string, number]> = [];
    const sub = await s.passes.subscribeRevocations((jti, exp) => heard.push([jti, exp]));
    const exp = (await s.now()) + 60_000;
    const p = pass(exp);
    await s.passes.claim('e', 1, p, 60_000, 'same');
    expect(await s.passes.done(p.jti, 'completed')).toEqual({ outcome: 'done', expMs: exp });
    expect(await s.passes.done(p.jti, 'completed')).toEqual({ outcome: 'already_done', expMs: exp });
    expect(await s.passes.done('never-issued', 'abandoned')).toEqual({ outcome: 'unknown' });
    await waitFor(() => heard.length === 1, { what: 'the revocation announcement' });
    expect(heard[0]).toEqual([p.jti, exp]);
    const swept = await s.passes.sweep(true);
    expect(swept.stats).toMatchObject({ claimed: 1, completed: 1, abandoned: 0, active: 0 });
    expect(swept.revoked).toEqual([[p.jti, exp]]);
    await sub.close();
    await s.close();
  });

  test('a pass that expires unreported counts as abandoned and timed out, once', async () => {
    const s = await open();
    const now = await s.now();
    const short = pass(now + 30);
    await s.passes.claim('e', 1, short, 60_000, 'same');
    await s.passes.claim('e', 2, pass(now + 60_000), 60_000, 'same');
    await waitFor(async () => (await s.passes.sweep(false)).stats.timedOut === 1, { what: 'the sweep to retire the expired pass' });
    const { stats } = await s.passes.sweep(false);
    expect(stats).toMatchObject({ claimed: 2, abandoned: 1, timedOut: 1, active: 1 });
    expect(await s.passes.done(short.jti, 'completed')).toEqual({ outcome: 'unknown' });
    await s.close();
  });

  test('a closed store refuses with a typed 503', async () => {
    const s = await open();
    await s.close();
    await expect(s.passes.sweep(false)).rejects.toBeInstanceOf(UnavailableError);
  });
});
