import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { AbuseStore } from '../../internal/abuse/abuse-store';
import type { BucketLimits } from '../../internal/abuse/token-bucket';
import { QueueClosedError } from '../../internal/errors/errors';
import { type QueueSettings } from '../../internal/queue/queue-state';
import { MemoryAbuseStore } from '../../internal/store/abuse-store-memory';
import { RedisAbuseStore } from '../../internal/store/abuse-store-redis';
import { MemoryPassStore } from '../../internal/store/memory-pass-store';
import { queueKeys } from '../../internal/store/keys';
import { MemoryQueueStore } from '../../internal/store/memory-store';
import { RedisQueueStore } from '../../internal/store/redis-store';
import type { QueueStore } from '../../internal/store/store';
import { TestRedis } from '../helpers/redis-server';

/**
 * The join limit taken with the ticket (join.lua's limit step, MemoryQueueStore.issueTickets)
 * against both stores: only the joins whose bucket had a token get tickets, in their order;
 * the buckets are the ones takeJoinToken (rate-limit.lua) takes from; a refusal of the whole
 * batch or of the queue itself takes nothing it should not.
 */
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const OPEN: QueueSettings = Object.freeze({ windowSize: 3, intervalMs: 60_000, activeWindowCount: 2, mode: 'open', opensAtMs: 0 });
// Two at once, then one token every 1,000 s: nothing refills within a test.
const TWO: BucketLimits = { burst: 2, ratePerSecond: 0.001 };

interface Pair {
  readonly store: QueueStore;
  readonly abuse: AbuseStore;
}

interface Kit {
  setup(): Promise<void>;
  teardown(): Promise<void>;
  open(queueId: string): Promise<Pair>;
}

function redisKit(): Kit {
  let redis: TestRedis | undefined;
  const opened: RedisQueueStore[] = [];
  return {
    async setup() {
      redis = await TestRedis.start();
    },
    async teardown() {
      for (const s of opened) await s.close();
      await redis?.close();
    },
    async open(queueId) {
      const store = new RedisQueueStore({ url: redis!.url, queueId, logger });
      await store.connect();
      opened.push(store);
      return { store, abuse: new RedisAbuseStore(store) };
    },
  };
}

function memoryKit(): Kit {
  return {
    async setup() {},
    async teardown() {},
    async open(queueId) {
      const store = new MemoryQueueStore({ queueId, logger });
      await store.connect();
      return { store, abuse: new MemoryAbuseStore(store, new MemoryPassStore(store)) };
    },
  };
}

const id = () => `jl-${randomBytes(4).toString('hex')}`;

describe.each([
  ['redis', redisKit()],
  ['memory', memoryKit()],
])('join limit with the ticket (%s store)', (_name, kit) => {
  beforeAll(() => kit.setup(), 30_000);
  afterAll(() => kit.teardown());

  it('issues tickets only to the joins whose bucket has a token, in their order', async () => {
    const { store } = await kit.open(id());
    const first = await store.issueTickets(1, OPEN);
    expect(first.first).toBe(1);
    const r = await store.issueTickets(5, OPEN, undefined, { clients: ['a', 'a', 'a', 'b', 'a'], limits: TWO });
    expect(r.verdicts?.map((v) => v.allowed)).toEqual([true, true, false, true, false]);
    expect(r.verdicts?.map((v) => v.remaining)).toEqual([1, 0, 0, 1, 0]);
    // A refused join is told when one token is back: 1 token at 0.001/s is 1,000 s.
    expect(r.verdicts?.[2]?.retryAfterMs).toBeGreaterThan(990_000);
    expect(r.verdicts?.[2]?.retryAfterMs).toBeLessThanOrEqual(1_000_000);
    expect(r.verdicts?.[0]?.retryAfterMs).toBe(0);
    expect(r.count).toBe(3);
    expect(r.first).toBe(2);
    expect(r.snapshot.counter).toBe(4);
    // The next join without a limit continues the numbering: no ticket was lost or repeated.
    expect((await store.issueTickets(1, OPEN)).first).toBe(5);
  });

  it('takes from the same buckets as takeJoinToken, both ways', async () => {
    const { store, abuse } = await kit.open(id());
    expect((await abuse.takeJoinToken('c', TWO)).allowed).toBe(true);
    const r = await store.issueTickets(2, OPEN, undefined, { clients: ['c', 'c'], limits: TWO });
    expect(r.verdicts?.map((v) => v.allowed)).toEqual([true, false]);
    expect((await abuse.takeJoinToken('c', TWO)).allowed).toBe(false);
    await store.issueTickets(2, OPEN, undefined, { clients: ['d', 'd'], limits: TWO });
    expect((await abuse.takeJoinToken('d', TWO)).allowed).toBe(false);
  });

  it('issues nothing when every join is refused, even as the first joins of a new queue', async () => {
    const { store, abuse } = await kit.open(id());
    await abuse.takeJoinToken('e', TWO);
    await abuse.takeJoinToken('e', TWO);
    // The state does not exist yet: the store creates it, then refuses the only join (counter 0).
    const r = await store.issueTickets(1, OPEN, undefined, { clients: ['e'], limits: TWO });
    expect(r.count).toBe(0);
    expect(r.verdicts?.map((v) => v.allowed)).toEqual([false]);
    expect(r.snapshot.counter).toBe(0);
    const next = await store.issueTickets(1, OPEN, undefined, { clients: ['f'], limits: TWO });
    expect([next.first, next.count, next.snapshot.counter]).toEqual([1, 1, 1]);
  });

  it('takes no token from a closed queue', async () => {
    const { store, abuse } = await kit.open(id());
    await store.ensureQueue({ ...OPEN, mode: 'closed' });
    await expect(store.issueTickets(2, { ...OPEN, mode: 'closed' }, undefined, { clients: ['g', 'g'], limits: TWO })).rejects.toBeInstanceOf(QueueClosedError);
    expect((await abuse.takeJoinToken('g', TWO)).remaining).toBe(1);
  });

  it('refuses a limit whose clients do not match the tickets asked for', async () => {
    const { store } = await kit.open(id());
    await expect(store.issueTickets(2, OPEN, undefined, { clients: ['h'], limits: TWO })).rejects.toThrow(/one client per ticket/);
  });
});

describe('join.lua limit arguments (redis)', () => {
  const kit = redisKit();
  let redis: RedisQueueStore;
  beforeAll(async () => {
    await kit.setup();
    redis = (await kit.open(id())).store as RedisQueueStore;
    await redis.issueTickets(1, OPEN);
  }, 30_000);
  afterAll(() => kit.teardown());

  const keys = () => queueKeys(redis.queueId);
  const call = (buckets: string[], burst: string, rate: string) => {
    const k = keys();
    return redis.redis.join([k.state, k.counter, k.eventStream, ...buckets], [buckets.length || 1, k.events, '', 0, 0, 0, 100, redis.queueId, burst, rate]);
  };

  it.each([
    ['nan', '1'],
    ['inf', '1'],
    ['1.5', '1'],
    ['-1', '1'],
    ['1e400', '1'],
    ['2', 'nan'],
    ['2', 'inf'],
    ['2', '0'],
    ['2', '-3'],
  ])('refuses burst %s with rate %s and issues nothing', async (burst, rate) => {
    const before = await redis.redis.get(keys().counter);
    await expect(call([keys().joinLimit('x')], burst, rate)).rejects.toThrow(/WAITROOM_ARG/);
    expect(await redis.redis.get(keys().counter)).toBe(before);
  });

  it('refuses a bucket count other than the tickets wanted', async () => {
    const k = keys();
    await expect(redis.redis.join([k.state, k.counter, k.eventStream, k.joinLimit('y')], [2, k.events, '', 0, 0, 0, 100, redis.queueId, 2, 1])).rejects.toThrow(/one bucket key per ticket/);
  });

  it('treats a bucket holding garbage as full', async () => {
    await redis.sendCommand(['HSET', keys().joinLimit('z'), 'tokens', 'nan', 'ts', 'inf']);
    const r = await redis.issueTickets(1, OPEN, undefined, { clients: ['z'], limits: TWO });
    expect(r.verdicts?.[0]).toMatchObject({ allowed: true, remaining: 1 });
  });
});
