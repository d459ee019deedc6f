import { parseEventEntry } from '../../internal/event-stream/event-types';
import { queueKeys } from '../../internal/store/keys';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * The event stream across a leader failover (docs/events.md): three real replicas on
 * one real Redis, the leader SIGKILLed mid-run. Every advance the queue state shows has
 * exactly one window.advanced event, in order, the ranges contiguous; every change made
 * through the admin API has its queue.updated event; and the events read back through
 * the admin API and through a consumer group (XREADGROUP) are the same.
 */
const S = 3;
const INTERVAL_MS = 50;
const ADMIN = 'ops:0123456789abcdef0123';
const AUTH = { Authorization: 'Bearer 0123456789abcdef0123', 'Content-Type': 'application/json' };

let redis: TestRedis;
let procs: ServerProcess[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await redis?.close();
});

async function leaderOf(queue: string, trio: ServerProcess[]): Promise<ServerProcess | undefined> {
  const owner = await redis.withClient((c) => c.get(queueKeys(queue).leader));
  const pid = owner ? Number(owner.split(':')[1]) : NaN;
  return trio.find((p) => p.proc.pid === pid);
}

async function windowEnd(queue: string): Promise<number> {
  return Number(await redis.withClient((c) => c.hGet(queueKeys(queue).state, 'windowEnd')));
}

test('exactly one window.advanced per advance, in order, across a SIGKILL of the leader; admin changes each have one event', async () => {
  const queue = 'failover';
  procs = await Promise.all(
    [0, 1, 2].map(() =>
      ServerProcess.start({
        REDIS_URL: redis.url,
        QUEUE_ID: queue,
        WINDOW_SIZE: String(S),
        WINDOW_INTERVAL: String(INTERVAL_MS / 1000),
        LEASE_TTL_MS: '600',
        LEASE_RENEW_MS: '150',
        STATE_REFRESH_MS: '200',
        ADMIN_TOKENS: ADMIN,
      }),
    ),
  );
  // A consumer group made before anything happens reads every event from the start.
  const stream = queueKeys(queue).eventStream;
  await redis.withClient((c) => c.xGroupCreate(stream, 'billing', '0', { MKSTREAM: true }));

  // 300 tickets: about 100 advances of S = 3, several seconds at 50 ms.
  for (let i = 0; i < 300; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, k) => procs[(i + k) % 3]!.fetch('/join', { method: 'POST' })));
  }
  await waitFor(async () => (await windowEnd(queue)) >= 60, { what: 'steady advances' });
  const leader = (await waitFor(() => leaderOf(queue, procs), { what: 'a leader' }))!;
  leader.kill('SIGKILL');
  await leader.exited;
  const survivors = procs.filter((p) => p !== leader);
  const atKill = await windowEnd(queue);
  await waitFor(async () => (await windowEnd(queue)) >= atKill + 30, { timeoutMs: 15_000, what: 'advances by the successor' });
  const patched = await survivors[0]!.fetch('/admin/api/v1/queues/failover', { method: 'PATCH', headers: AUTH, body: JSON.stringify({ message: 'hello' }) });
  expect(patched.status).toBe(200);
  const paused = await survivors[1]!.fetch('/admin/api/v1/queues/failover', { method: 'PATCH', headers: AUTH, body: JSON.stringify({ state: 'paused' }) });
  expect(paused.status).toBe(200);
  const finalW = await windowEnd(queue);

  // Read the whole stream through the admin API, page by page.
  const events: Array<{ streamId: string; type: string; data: Record<string, unknown> }> = [];
  for (let after = '0'; ; ) {
    const r = await survivors[0]!.fetch(`/admin/api/v1/queues/${queue}/events?after=${after}&limit=50`, { headers: AUTH });
    expect(r.status).toBe(200);
    const page = (await r.json()) as { events: typeof events; next: string };
    if (page.events.length === 0) break;
    events.push(...page.events);
    after = page.next;
  }
  const advances = events.filter((e) => e.type === 'window.advanced').map((e) => e.data as { fromTicket: number; toTicket: number });
  // The default queue's state starts with W = S (the first batch is admitted on creation).
  expect(advances[0]!.fromTicket).toBe(S + 1);
  for (let i = 1; i < advances.length; i++) expect(advances[i]!.fromTicket).toBe(advances[i - 1]!.toTicket + 1);
  for (const a of advances) expect(a.toTicket - a.fromTicket + 1).toBe(S);
  expect(advances[advances.length - 1]!.toTicket).toBe(finalW);
  expect(advances.length).toBe((finalW - S) / S);
  // The admin changes, in order, after the last advance before them.
  const tail = events.filter((e) => e.type.startsWith('queue.')).map((e) => [e.type, Object.keys((e.data.changes as object) ?? {})]);
  expect(tail).toEqual([
    ['queue.created', []],
    ['queue.updated', ['message']],
    ['queue.updated', ['state']],
    ['queue.state_changed', []],
  ]);
  // Stream ids strictly increase.
  const ids = events.map((e) => e.streamId.split('-').map(Number) as [number, number]);
  for (let i = 1; i < ids.length; i++) expect(ids[i]![0] > ids[i - 1]![0] || (ids[i]![0] === ids[i - 1]![0] && ids[i]![1] > ids[i - 1]![1])).toBe(true);

  // A consumer group sees the same events (XREADGROUP, then XACK).
  const viaGroup: string[] = [];
  await redis.withClient(async (c) => {
    for (;;) {
      const r = (await c.xReadGroup('billing', 'worker-1', { key: stream, id: '>' }, { COUNT: 100 })) as unknown as Array<{
        messages: Array<{ id: string; message: Record<string, string> }>;
      }> | null;
      const msgs = r?.[0]?.messages ?? [];
      if (msgs.length === 0) break;
      for (const m of msgs) {
        viaGroup.push(parseEventEntry(queue, { id: m.id, fields: m.message as Record<string, string> }).type);
        await c.xAck(stream, 'billing', m.id);
      }
    }
  });
  expect(viaGroup).toEqual(events.map((e) => e.type));
}, 60_000);
