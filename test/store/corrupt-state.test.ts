import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { QueueSettings } from '../../internal/queue/queue-state';
import { queueKeys } from '../../internal/store/keys';
import { MemoryQueueStore } from '../../internal/store/memory-store';
import { RedisQueueStore } from '../../internal/store/redis-store';
import type { QueueStore } from '../../internal/store/store';
import { TestRedis } from '../helpers/redis-server';

/**
 * Every damaged value of every field the scripts read answers 503 state_corrupt from
 * every script that reads it (ensure-queue, join, advance), in the Redis store and in
 * the embedded store alike, is reported to the metrics hook, and is never written over.
 * The HTTP side (/status, /readyz, the metric) is in test/integration/faults.test.ts.
 */
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const SETTINGS: QueueSettings = { windowSize: 10, intervalMs: 60_000, activeWindowCount: 2, mode: 'open', opensAtMs: 0 };

const NOT_INTEGERS = ['nan', 'NaN', 'inf', '-inf', '1e400', '1e3', '1.5', '0x10', ' 7', '', 'abc', '99999999999999999999'];
const CASES: Array<[field: string, value: string]> = [];
for (const field of ['windowEnd', 'nextDueMs', 'windowSize', 'intervalMs', 'activeWindowCount', 'version', 'counter']) {
  for (const v of NOT_INTEGERS) CASES.push([field, v]);
  CASES.push([field, '-1']);
}
// Out of range although integers: S = 0, I = 0, K = 0, version 0, and above the bounds.
CASES.push(['windowSize', '0'], ['windowSize', '1000000001'], ['intervalMs', '0'], ['intervalMs', '604800001']);
CASES.push(['activeWindowCount', '0'], ['activeWindowCount', '1000001'], ['version', '0'], ['counter', '-100']);
CASES.push(['epoch', '']);
// The queue's state and opening time (absent means open, no opening time; never damaged).
for (const v of ['ajar', '', 'OPEN']) CASES.push(['mode', v]);
for (const v of ['nan', 'inf', '1e400', '1.5', '-1', 'abc']) CASES.push(['opensAtMs', v]);

type Call = [name: string, run: (s: QueueStore) => Promise<unknown>];
const CALLS: Call[] = [
  ['ensureQueue', (s) => s.ensureQueue(SETTINGS)],
  ['issueTickets', (s) => s.issueTickets(1, SETTINGS)],
  ['advance', (s) => s.advance('leader')],
];

async function expectCorrupt(p: Promise<unknown>): Promise<void> {
  await expect(p).rejects.toMatchObject({ status: 503, code: 'state_corrupt' });
}

describe('a damaged state in Redis: 503 state_corrupt from every script', () => {
  let redis: TestRedis;
  const stores: RedisQueueStore[] = [];
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    await redis.close();
  });

  test.each(CASES)('%s = %p', async (field, value) => {
    const queueId = `c-${randomBytes(5).toString('hex')}`;
    const corrupt: string[] = [];
    const store = new RedisQueueStore({ url: redis.url, queueId, logger, onCorrupt: (d) => corrupt.push(d) });
    stores.push(store);
    await store.connect();
    await store.issueTickets(3, SETTINGS);
    expect(await store.acquireLease('leader', 60_000)).toBe(true);
    const keys = queueKeys(queueId);
    await redis.withClient<unknown>((c) => (field === 'counter' ? c.set(keys.counter, value) : c.hSet(keys.state, field, value)));

    for (const [, run] of CALLS) await expectCorrupt(run(store));
    expect(corrupt).toHaveLength(CALLS.length);
    expect(corrupt[0]).toContain(field === 'counter' ? 'ticket counter' : field);
    // Nothing was "repaired": the damaged value is still there for the operator.
    const stored = await redis.withClient((c) => (field === 'counter' ? c.get(keys.counter) : c.hGet(keys.state, field)));
    expect(stored).toBe(value);
    await store.close();
  });

  // The length alert's fields (docs/events.md): read by join.lua and advance-window.lua
  // before either writes, so a damaged one refuses the join without issuing a ticket.
  test.each([
    ['lengthAlertThreshold', 'nan'],
    ['lengthAlertThreshold', '-1'],
    ['lengthAlertThreshold', '1e3'],
    ['lengthAlertClearBelow', 'inf'],
    ['lengthAlertFired', '2'],
    ['lengthAlertFired', 'yes'],
  ])('%s = %p: join and advance refuse, nothing issued', async (field, value) => {
    const queueId = `c-${randomBytes(5).toString('hex')}`;
    const store = new RedisQueueStore({ url: redis.url, queueId, logger });
    stores.push(store);
    await store.connect();
    await store.issueTickets(3, SETTINGS);
    expect(await store.acquireLease('leader', 60_000)).toBe(true);
    const keys = queueKeys(queueId);
    // Due now, so the advance goes past its not-due return to the alert's fields.
    await redis.withClient((c) => c.hSet(keys.state, { [field]: value, nextDueMs: '0' }));
    await expectCorrupt(store.issueTickets(1, SETTINGS));
    await expectCorrupt(store.advance('leader'));
    expect(await redis.withClient((c) => c.get(keys.counter))).toBe('3');
    expect(await redis.withClient((c) => c.hGet(keys.state, field))).toBe(value);
    await store.close();
  });

  test('a counter without a state, and a state without a counter', async () => {
    const queueId = `c-${randomBytes(5).toString('hex')}`;
    const store = new RedisQueueStore({ url: redis.url, queueId, logger });
    stores.push(store);
    await store.connect();
    await store.issueTickets(3, SETTINGS);
    await store.acquireLease('leader', 60_000);
    const keys = queueKeys(queueId);
    await redis.withClient((c) => c.del(keys.counter));
    for (const [, run] of CALLS) await expectCorrupt(run(store));
    await redis.withClient(async (c) => {
      await c.set(keys.counter, '3');
      await c.del(keys.state);
    });
    await expectCorrupt(store.ensureQueue(SETTINGS));
    await expectCorrupt(store.issueTickets(1, SETTINGS));
    expect(await redis.withClient((c) => c.get(keys.counter))).toBe('3');
  });

  test('a bad argument is refused by the script, never computed with', async () => {
    const store = new RedisQueueStore({ url: redis.url, queueId: `c-${randomBytes(5).toString('hex')}`, logger });
    stores.push(store);
    await store.connect();
    await expect(store.ensureQueue({ ...SETTINGS, windowSize: 0 })).rejects.toMatchObject({ status: 503, code: 'store_unavailable' });
    await expect(store.issueTickets(1, SETTINGS, { epoch: 'e', counter: Number.NaN, windowEnd: 0, version: 0, retired: [] })).rejects.toMatchObject({
      code: 'store_unavailable',
    });
  });
});

describe('a damaged state in the embedded store: the same answers', () => {
  // The embedded state lives in process memory, where only a bug could damage it; the test
  // writes into it directly to prove the same validation runs before any number is used.
  test.each(CASES)('%s = %p', async (field, value) => {
    const corrupt: string[] = [];
    const store = new MemoryQueueStore({ queueId: 'q', logger, onCorrupt: (d) => corrupt.push(d) });
    await store.issueTickets(3, SETTINGS);
    await store.acquireLease('leader', 60_000);
    (store as unknown as { cell: { state: Record<string, unknown> } }).cell.state[field] = value;
    for (const [, run] of CALLS) await expectCorrupt(run(store));
    expect(corrupt).toHaveLength(CALLS.length);
    expect((store as unknown as { cell: { state: Record<string, unknown> } }).cell.state[field]).toBe(value);
    await store.close();
  });
});
