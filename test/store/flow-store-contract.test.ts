import pino from 'pino';
import type { QueueSettings } from '../../internal/queue/queue-state';
import { FLOW_RETENTION_MS, RedisFlowStore, type FlowStore } from '../../internal/store/flow-store';
import { queueKeys } from '../../internal/store/keys';
import { MemoryCatalog } from '../../internal/store/memory-catalog';
import { RedisCatalog } from '../../internal/store/redis-catalog';
import type { QueueCatalog } from '../../internal/store/store';
import { TestRedis } from '../helpers/redis-server';

/**
 * One contract for the console's flow samples, run against flow-sample.lua (real
 * redis-server) and the embedded store: one sample per second at most, only on a
 * change, a minute sample for the first change of each minute, reads by time with
 * the sample before the range, trimming to the retention, and deletion with the queue.
 * Times are given explicitly (the import path of the script), so nothing waits.
 */
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const OPEN: QueueSettings = { windowSize: 2, intervalMs: 1000, activeWindowCount: 2, mode: 'open', opensAtMs: 0 };
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

let redis: TestRedis;
beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(async () => {
  await redis?.close();
});

let n = 0;
const fresh = () => `flow-${process.pid}-${++n}`;

describe.each<[string, () => Promise<{ cat: QueueCatalog; flow: (id: string) => FlowStore; size: (id: string) => Promise<[number, number]> }>]>([
  [
    'flow-sample.lua',
    async () => {
      const cat = new RedisCatalog({ url: redis.url, logger });
      await cat.connect();
      return {
        cat,
        flow: (id) => new RedisFlowStore(cat.queue(id)),
        size: (id) => redis.withClient(async (c) => [await c.xLen(queueKeys(id).flowSeconds), await c.xLen(queueKeys(id).flowMinutes)]),
      };
    },
  ],
  [
    'embedded store',
    async () => {
      const cat = new MemoryCatalog({ logger });
      return {
        cat,
        flow: (id) => cat.flowStore(id),
        size: async (id) => {
          const f = (cat as unknown as { cells: Map<string, { flow: { second: unknown[]; minute: unknown[] } }> }).cells.get(id)!.flow;
          return [f.second.length, f.minute.length];
        },
      };
    },
  ],
])('%s', (_name, open) => {
  let kit: Awaited<ReturnType<typeof open>>;
  beforeEach(async () => {
    kit = await open();
  });
  afterEach(async () => {
    await kit.cat.close();
  });

  it('writes only changes, at most one per second, and a minute sample for the first change of a minute', async () => {
    const id = fresh();
    await kit.cat.createQueue(id, '{}', OPEN);
    const flow = kit.flow(id);
    expect(await flow.record(T0 + 250)).toEqual({ outcome: 'written', t: T0 + 250, issued: 0, admitted: 2 });
    expect((await flow.record(T0 + 1500)).outcome).toBe('unchanged');
    await kit.cat.queue(id).issueTickets(5, OPEN);
    expect((await flow.record(T0 + 700)).outcome).toBe('same_second'); // the second of the last sample
    expect(await flow.record(T0 + 2100)).toEqual({ outcome: 'written', t: T0 + 2100, issued: 5, admitted: 2 });
    await kit.cat.queue(id).issueTickets(1, OPEN);
    expect((await flow.record(T0 + 61_000)).outcome).toBe('written');
    expect(await flow.read('second', T0, T0 + 120_000)).toEqual([
      { t: T0, issued: 0, admitted: 2 },
      { t: T0 + 2000, issued: 5, admitted: 2 },
      { t: T0 + 61_000, issued: 6, admitted: 2 },
    ]);
    // Minute samples: the first change of minute 0 and of minute 1 (the one at +2 s was in minute 0 too).
    expect(await flow.read('minute', T0, T0 + 120_000)).toEqual([
      { t: T0, issued: 0, admitted: 2 },
      { t: T0 + 60_000, issued: 6, admitted: 2 },
    ]);
  });

  it('reads a range with the sample before it, to fill forward from', async () => {
    const id = fresh();
    await kit.cat.createQueue(id, '{}', OPEN);
    const flow = kit.flow(id);
    for (let i = 0; i < 5; i++) {
      await kit.cat.queue(id).issueTickets(1, OPEN);
      await flow.record(T0 + i * 10_000);
    }
    expect((await flow.read('second', T0 + 15_000, T0 + 30_000)).map((s) => [s.t - T0, s.issued])).toEqual([
      [10_000, 2],
      [20_000, 3],
      [30_000, 4],
    ]);
    expect(await flow.read('second', T0 + 100_000, T0 + 200_000)).toEqual([{ t: T0 + 40_000, issued: 5, admitted: 2 }]);
    expect(await flow.read('second', T0 - 100_000, T0 - 50_000)).toEqual([]);
  });

  it('keeps an hour of seconds (plus at most one listpack node in Redis) and refuses nothing older than it needs', async () => {
    const id = fresh();
    await kit.cat.createQueue(id, '{}', OPEN);
    const flow = kit.flow(id);
    // 1 h 10 min of changes every 10 s: 420 samples, of which the last hour's 361 must be kept.
    for (let i = 0; i < 420; i++) {
      await kit.cat.queue(id).issueTickets(1, OPEN);
      await flow.record(T0 + i * 10_000);
    }
    const [seconds, minutes] = await kit.size(id);
    expect(seconds).toBeGreaterThanOrEqual(FLOW_RETENTION_MS.second / 10_000 + 1);
    expect(seconds).toBeLessThanOrEqual(FLOW_RETENTION_MS.second / 10_000 + 1 + 100);
    expect(minutes).toBe(70);
  });

  it('has nothing for a missing queue, and the samples go with a deleted queue', async () => {
    const id = fresh();
    expect((await kit.flow(id).record(T0)).outcome).toBe('missing');
    await kit.cat.createQueue(id, '{}', OPEN);
    await kit.flow(id).record(T0);
    expect((await kit.size(id))[0]).toBe(1);
    await kit.cat.deleteQueue(id);
    await kit.cat.createQueue(id, '{}', OPEN);
    expect(await kit.flow(id).read('second', 0, T0 * 2)).toEqual([]);
  });
});

it('flow-sample.lua refuses a time that is not a plain integer', async () => {
  const cat = new RedisCatalog({ url: redis.url, logger });
  await cat.connect();
  try {
    const id = fresh();
    await cat.createQueue(id, '{}', OPEN);
    const k = queueKeys(id);
    for (const bad of ['nan', 'inf', '1e400', '1.5', '-1']) {
      await expect(cat.queue(id).redis.flowSample(k.state, k.counter, k.flowSeconds, k.flowMinutes, bad, FLOW_RETENTION_MS.second, FLOW_RETENTION_MS.minute)).rejects.toThrow(/WAITROOM_ARG/);
    }
  } finally {
    await cat.close();
  }
});
