import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { QueueSettings } from '../../internal/queue/queue-state';
import { DurabilityUnsupportedError } from '../../internal/store/durability';
import { queueKeys } from '../../internal/store/keys';
import { RedisQueueStore } from '../../internal/store/redis-store';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * JOIN_DURABILITY against real servers: a primary with a real replica
 * (redis-server --replicaof) for WAIT, and the installed Redis for the WAITAOF
 * support check (Redis before 7.2 has no WAITAOF and must be refused at start).
 */
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const SETTINGS: QueueSettings = { windowSize: 10, intervalMs: 60_000, activeWindowCount: 2, mode: 'open', opensAtMs: 0 };
const qid = () => `d-${randomBytes(5).toString('hex')}`;

let primary: TestRedis;
let replica: TestRedis;
const opened: RedisQueueStore[] = [];

beforeAll(async () => {
  primary = await TestRedis.start();
  replica = await TestRedis.start({ replicaOf: primary });
  await waitFor(async () => (await primary.withClient((c) => c.info('replication'))).includes('state=online') || undefined, {
    timeoutMs: 10_000,
    what: 'the replica to finish its first sync',
  });
});
afterAll(async () => {
  for (const s of opened) await s.close();
  await replica?.close();
  await primary?.close();
});

async function open(
  durability: ConstructorParameters<typeof RedisQueueStore>[0]['durability'],
  onShort?: () => void,
  onChanged?: (held: boolean) => void,
): Promise<RedisQueueStore> {
  const s = new RedisQueueStore({ url: primary.url, queueId: qid(), logger, durability, onDurabilityShortfall: onShort, onChanged });
  opened.push(s);
  await s.connect();
  return s;
}

test('replica: a join answers once a replica has the write, and the replica holds the counter', async () => {
  const store = await open({ mode: 'replica', replicas: 1, timeoutMs: 500 });
  const a = await store.issueTickets(5, SETTINGS);
  expect(a.first).toBe(1);
  // WAIT returned: the replica already has the counter, without polling for it.
  const keys = queueKeys(store.queueId);
  expect(await replica.withClient((c) => c.get(keys.counter))).toBe('5');
});

test('replica: a wait that falls short answers 503 store_unavailable and hands nothing out', async () => {
  let short = 0;
  const changes: boolean[] = [];
  // Two replicas asked, one exists: every WAIT times out with 1 acknowledgement.
  const store = await open({ mode: 'replica', replicas: 2, timeoutMs: 100 }, () => short++, (held) => changes.push(held));
  await store.ensureQueue(SETTINGS);
  changes.length = 0;
  await expect(store.issueTickets(1, SETTINGS)).rejects.toMatchObject({ status: 503, code: 'store_unavailable', message: expect.stringContaining('1 of 2 replicas') });
  expect(short).toBe(1);
  // The counter moved all the same: the change is logged for every replica, without an
  // author (this replica's copy does not apply the reply either). Before, nothing was logged.
  expect(changes).toEqual([false]);
  expect(Number(await primary.withClient((c) => c.get(queueKeys(store.queueId).counter)))).toBe(1);
});

test('replica: with the replica paused, joins fail within the timeout, and succeed again once it resumes', async () => {
  const store = await open({ mode: 'replica', replicas: 1, timeoutMs: 150 });
  await store.issueTickets(1, SETTINGS);
  replica.pause();
  try {
    const started = Date.now();
    await expect(store.issueTickets(1, SETTINGS)).rejects.toMatchObject({ code: 'store_unavailable' });
    expect(Date.now() - started).toBeLessThan(1500);
  } finally {
    replica.resume();
  }
  await waitFor(async () => (await store.issueTickets(1, SETTINGS).then(() => true, () => undefined)), { timeoutMs: 10_000, what: 'durable joins again' });
});

test('aof on a Redis without WAITAOF (before 7.2) or without the AOF is refused at connect, with a clear message', async () => {
  const s = new RedisQueueStore({ url: primary.url, queueId: qid(), logger, durability: { mode: 'aof', replicas: 0, timeoutMs: 100 } });
  opened.push(s);
  const err = await s.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DurabilityUnsupportedError);
  const version = (await primary.withClient((c) => c.info('server'))).match(/redis_version:(\d+)\.(\d+)/)!;
  const hasWaitAof = Number(version[1]) > 7 || (Number(version[1]) === 7 && Number(version[2]) >= 2);
  expect((err as Error).message).toMatch(hasWaitAof ? /appendonly no/ : /WAITAOF.*7\.2/);
});

test('a server process with JOIN_DURABILITY=aof on a Redis that cannot do it stops with exit code 78 and says why', async () => {
  const s = await ServerProcess.start({ REDIS_URL: primary.url, QUEUE_ID: qid(), JOIN_DURABILITY: 'aof' }, { waitReady: false });
  try {
    await waitFor(() => s.exitCode !== null || s.signal !== null || undefined, { timeoutMs: 15_000, what: 'the server to exit' });
    expect(s.exitCode).toBe(78);
    expect(s.logs.join('\n')).toMatch(/waitroom: JOIN_DURABILITY=aof needs (WAITAOF|the AOF)/);
  } finally {
    await s.stop();
  }
});

test('a server process with JOIN_DURABILITY=replica answers /join 201 with a replica, and the metric counts a shortfall', async () => {
  const s = await ServerProcess.start({ REDIS_URL: primary.url, QUEUE_ID: qid(), JOIN_DURABILITY: 'replica', JOIN_DURABILITY_TIMEOUT_MS: '100' });
  try {
    expect((await s.fetch('/join', { method: 'POST' })).status).toBe(201);
    replica.pause();
    let r: Response;
    try {
      r = await s.fetch('/join', { method: 'POST' });
    } finally {
      replica.resume();
    }
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('store_unavailable');
    expect(await (await s.fetch('/metrics')).text()).toMatch(/waitroom_join_durability_shortfalls_total\{queue="[^"]+"\} 1/);
  } finally {
    await s.stop();
  }
});
