import pino from 'pino';
import type { QueueSettings } from '../../internal/queue/queue-state';
import { globalKeys, queueKeys } from '../../internal/store/keys';
import { MemoryCatalog } from '../../internal/store/memory-catalog';
import { RedisCatalog } from '../../internal/store/redis-catalog';
import type { QueueCatalog, RegistryChange } from '../../internal/store/store';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';

/**
 * One contract for the set of queues, run against the Redis catalog (real redis-server)
 * and the embedded one: create/read/update/delete with versions, the state transitions of
 * update-queue.lua, the registry and its announcements, heartbeats and the audit log.
 */
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const OPEN: QueueSettings = { windowSize: 10, intervalMs: 1000, activeWindowCount: 2, mode: 'open', opensAtMs: 0 };
const DOC = JSON.stringify({ name: 'q' });

let redis: TestRedis;
beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(async () => {
  await redis?.close();
});

let n = 0;
const fresh = () => `cq-${process.pid}-${++n}`;

/** Writes a damaged value into a queue's stored state, and reads it back. */
interface Damage {
  write(id: string, field: string, v: string): Promise<void>;
  read(id: string, field: string): Promise<unknown>;
}
type MemoryCells = { cells: Map<string, { state: Record<string, unknown> }> };

describe.each<[string, () => Promise<{ cat: QueueCatalog; damage: Damage }>]>([
  [
    'RedisCatalog',
    async () => {
      // Joins that publish nothing are logged 1 s later (coalesced): off here, tested apart below.
      const cat = new RedisCatalog({ url: redis.url, logger, joinLogMs: 0 });
      await cat.connect();
      const damage: Damage = {
        write: async (id, field, v) => void (await redis.withClient((c) => c.hSet(queueKeys(id).state, field, v))),
        read: (id, field) => redis.withClient((c) => c.hGet(queueKeys(id).state, field)),
      };
      return { cat, damage };
    },
  ],
  [
    'MemoryCatalog',
    async () => {
      const cat = new MemoryCatalog({ logger });
      // The embedded state lives in process memory, where only a bug could damage it: written directly.
      const cells = (cat as unknown as MemoryCells).cells;
      const damage: Damage = {
        write: async (id, field, v) => void (cells.get(id)!.state[field] = v),
        read: async (id, field) => cells.get(id)!.state[field],
      };
      return { cat, damage };
    },
  ],
])('%s', (_name, open) => {
  let cat: QueueCatalog;
  let damage: Damage;
  beforeEach(async () => {
    ({ cat, damage } = await open());
  });
  afterEach(async () => {
    await cat.close();
  });

  test('create, then a second create is exists with the same version; read returns what was stored', async () => {
    const id = fresh();
    expect(await cat.readQueue(id)).toBeNull();
    const c = await cat.createQueue(id, DOC, OPEN);
    if (c.outcome !== 'created') throw new Error('not created');
    expect(c.stored).toMatchObject({ id, doc: DOC, snapshot: { windowEnd: 10, counter: 0, mode: 'open', windowSize: 10, intervalMs: 1000, activeWindowCount: 2 } });
    expect(await cat.createQueue(id, '{}', OPEN)).toEqual({ outcome: 'exists', version: c.stored.version });
    expect(await cat.readQueue(id)).toMatchObject({ id, version: c.stored.version, doc: DOC });
  });

  test('update checks the version (conflict, missing) and bumps it', async () => {
    const id = fresh();
    const c = await cat.createQueue(id, DOC, OPEN);
    if (c.outcome !== 'created') throw new Error('not created');
    const v = c.stored.version;
    expect(await cat.updateQueue(id, v - 1, DOC, OPEN)).toEqual({ outcome: 'conflict', version: v });
    expect(await cat.updateQueue(fresh(), v, DOC, OPEN)).toEqual({ outcome: 'missing' });
    const u = await cat.updateQueue(id, v, '{"name":"new"}', { ...OPEN, windowSize: 3 });
    if (u.outcome !== 'updated') throw new Error('not updated');
    expect(u.stored.version).toBe(v + 1);
    expect(u.stored.snapshot.windowSize).toBe(3);
    expect(u.stored.snapshot.version).toBe(c.stored.snapshot.version + 1);
    expect((await cat.readQueue(id))!.doc).toBe('{"name":"new"}');
  });

  test('transitions: paused holds the advance; resume makes it due one interval later; passthrough lifts W to the counter', async () => {
    const id = fresh();
    const c = await cat.createQueue(id, DOC, OPEN);
    if (c.outcome !== 'created') throw new Error('not created');
    const store = cat.queue(id);
    await store.issueTickets(25, OPEN);
    let v = c.stored.version;
    const paused = await cat.updateQueue(id, v++, DOC, { ...OPEN, mode: 'paused' });
    if (paused.outcome !== 'updated') throw new Error('not updated');
    expect(await store.acquireLease('me', 5000)).toBe(true);
    expect((await store.advance('me')).outcome).toBe('held');
    const resumed = await cat.updateQueue(id, v++, DOC, OPEN);
    if (resumed.outcome !== 'updated') throw new Error('not updated');
    const s = resumed.stored.snapshot;
    expect(s.nextDueMs - s.storeNowMs).toBe(1000);
    const pass = await cat.updateQueue(id, v++, DOC, { ...OPEN, mode: 'passthrough' });
    if (pass.outcome !== 'updated') throw new Error('not updated');
    expect(pass.stored.snapshot.windowEnd).toBe(25);
    const closed = await cat.updateQueue(id, v++, DOC, { ...OPEN, mode: 'closed' });
    if (closed.outcome !== 'updated') throw new Error('not updated');
    await expect(store.issueTickets(1, OPEN)).rejects.toMatchObject({ status: 410, code: 'queue_closed' });
  });

  test('maxActive: stored, read and changed live; a capped queue starts at W = 0, due at once', async () => {
    const id = fresh();
    const c = await cat.createQueue(id, DOC, { ...OPEN, maxActive: 7 });
    if (c.outcome !== 'created') throw new Error('not created');
    expect(c.stored.snapshot).toMatchObject({ maxActive: 7, windowEnd: 0, originHold: 0 });
    expect(c.stored.snapshot.nextDueMs).toBe(c.stored.snapshot.storeNowMs);
    expect((await cat.readQueue(id))!.snapshot.maxActive).toBe(7);
    const u = await cat.updateQueue(id, c.stored.version, DOC, { ...OPEN, maxActive: 0 });
    if (u.outcome !== 'updated') throw new Error('not updated');
    expect(u.stored.snapshot.maxActive).toBe(0);
  });

  test('originHold: set and cleared by one call each, holds the advance, kept by a settings change', async () => {
    const id = fresh();
    const c = await cat.createQueue(id, DOC, OPEN);
    if (c.outcome !== 'created') throw new Error('not created');
    const store = cat.queue(id);
    await store.issueTickets(25, OPEN);
    const held = await store.setOriginHold(true, { source: 'probe', reason: 'GET /healthz answered 503' });
    expect(held).toMatchObject({ outcome: 'changed', snapshot: { originHold: 1 } });
    expect((await store.setOriginHold(true)).outcome).toBe('unchanged');
    // One event per change, none for a call that changed nothing (docs/events.md).
    const holdEvents = async () =>
      (await cat.readEvents(id, '0', 1000)).filter((e) => e.fields.type?.startsWith('queue.origin_')).map((e) => ({ type: e.fields.type, body: JSON.parse(e.fields.body ?? 'null') as unknown }));
    expect(await holdEvents()).toEqual([
      { type: 'queue.origin_held', body: { queue: id, epoch: held.outcome === 'changed' ? held.snapshot.epoch : '', source: 'probe', reason: 'GET /healthz answered 503', counter: 25, windowEnd: expect.any(Number) } },
    ]);
    expect(await store.acquireLease('me', 5000)).toBe(true);
    expect((await store.advance('me')).outcome).toBe('held');
    const u = await cat.updateQueue(id, c.stored.version, DOC, { ...OPEN, windowSize: 3 });
    if (u.outcome !== 'updated') throw new Error('not updated');
    expect(u.stored.snapshot.originHold).toBe(1);
    expect((await cat.readQueue(id))!.snapshot.originHold).toBe(1);
    expect(await store.setOriginHold(false, { source: 'site', reason: 'x'.repeat(600) })).toMatchObject({ outcome: 'changed', snapshot: { originHold: 0 } });
    const after = await holdEvents();
    expect(after.map((e) => e.type)).toEqual(['queue.origin_held', 'queue.origin_recovered']);
    // A reason is cut to 500 bytes.
    expect(after[1]!.body).toMatchObject({ source: 'site', reason: 'x'.repeat(500) });
    expect(await cat.queue(fresh()).setOriginHold(true)).toEqual({ outcome: 'missing' });
  });

  test('opensAt in the future: W = 0 and the first advance is due at opensAt exactly', async () => {
    const id = fresh();
    const probe = await cat.createQueue(fresh(), DOC, OPEN);
    if (probe.outcome !== 'created') throw new Error('not created');
    const opensAtMs = probe.stored.snapshot.storeNowMs + 60_000;
    const c = await cat.createQueue(id, DOC, { ...OPEN, opensAtMs });
    if (c.outcome !== 'created') throw new Error('not created');
    expect(c.stored.snapshot).toMatchObject({ windowEnd: 0, nextDueMs: opensAtMs, opensAtMs });
  });

  test('delete checks the version, removes settings and state; the id can be created again with a new version', async () => {
    const id = fresh();
    const c = await cat.createQueue(id, DOC, OPEN);
    if (c.outcome !== 'created') throw new Error('not created');
    expect(await cat.deleteQueue(id, c.stored.version + 1)).toEqual({ outcome: 'conflict', version: c.stored.version });
    expect(await cat.deleteQueue(id, c.stored.version)).toEqual({ outcome: 'deleted', version: c.stored.version });
    expect(await cat.deleteQueue(id)).toEqual({ outcome: 'missing' });
    expect(await cat.readQueue(id)).toBeNull();
    const again = await cat.createQueue(id, DOC, OPEN);
    if (again.outcome !== 'created') throw new Error('not created');
    expect(again.stored.version).toBeGreaterThan(c.stored.version);
    expect(again.stored.snapshot.counter).toBe(0);
  });

  test('the registry keeps the newest version and announces every change', async () => {
    const id = fresh();
    const seen: RegistryChange[] = [];
    const sub = await cat.subscribeRegistry((ch) => {
      if (ch.id === id) seen.push(ch);
    });
    await cat.registerQueue(id, 5);
    await cat.registerQueue(id, 3); // older: ignored
    expect((await cat.listQueues()).get(id)).toBe(5);
    await cat.unregisterQueue(id);
    expect((await cat.listQueues()).has(id)).toBe(false);
    await waitFor(() => seen.length >= 2, { what: 'two announcements' });
    expect(seen).toEqual([
      { op: 'set', id, version: 5 },
      { op: 'del', id },
    ]);
    await sub.close();
  });

  test('the change log lists a queue after each change others must learn of, and only then', async () => {
    const id = fresh();
    const other = fresh();
    const beyond = await cat.changesSince(Number.MAX_SAFE_INTEGER);
    // Asked from beyond the log (a replica that never polled, or a log Redis lost): re-read everything.
    expect(beyond.changed).toBeNull();
    let seq = beyond.seq;
    expect(await cat.changesSince(seq)).toEqual({ seq, changed: [] });
    /** The stores log after their write without waiting for it: poll until `steps` more changes are logged. */
    const logged = async (steps: number, what: string) => {
      const r = await waitFor(
        async () => {
          const x = await cat.changesSince(seq);
          return x.seq >= seq + steps ? x : undefined;
        },
        { what, timeoutMs: 3000 },
      );
      expect(r.seq).toBe(seq + steps);
      expect(r.changed).toEqual([id]);
      seq = r.seq;
    };
    const c = await cat.createQueue(id, DOC, { ...OPEN, windowSize: 2, intervalMs: 200 });
    if (c.outcome !== 'created') throw new Error('not created');
    await cat.registerQueue(id, c.stored.version);
    seq = (await waitFor(async () => {
      const x = await cat.changesSince(seq);
      return x.changed?.includes(id) ? x : undefined;
    }, { what: 'the new queue logged' })).seq;
    const store = cat.queue(id);
    // Two tickets admitted at once (W = S = 2): nothing to announce. The third is the first to wait: logged.
    await store.issueTickets(2, OPEN);
    await store.issueTickets(1, OPEN);
    await logged(1, 'the first waiting join');
    await store.issueTickets(1, OPEN);
    expect(await store.acquireLease('me', 5000)).toBe(true);
    // Due one interval (200 ms) after creation: the steps before then move nothing and log nothing.
    await waitFor(async () => (await store.advance('me')).outcome === 'advanced', { what: 'an advance', intervalMs: 50 });
    await logged(1, 'an advance');
    expect(['not_due', 'skipped']).toContain((await store.advance('me')).outcome);
    await cat.touch(other);
    const o = await cat.changesSince(seq);
    expect(o).toEqual({ seq: seq + 1, changed: [other] });
    seq = o.seq;
    expect((await store.setOriginHold(true)).outcome).toBe('changed');
    await logged(1, 'an origin hold');
    await cat.unregisterQueue(id);
    await logged(1, 'a deletion');
    // A log behind the reader (Redis lost it): re-read everything.
    expect((await cat.changesSince(seq + 100)).changed).toBeNull();
  });

  test('heartbeats: live replicas in id order; leave removes one at once', async () => {
    const x = `${fresh()}-x`;
    const y = `${fresh()}-y`;
    await cat.heartbeat(y, 60_000);
    const live = await cat.heartbeat(x, 60_000);
    expect(live).toEqual(expect.arrayContaining([x, y]));
    expect([...live]).toEqual([...live].sort());
    await cat.leave(y);
    expect(await cat.heartbeat(x, 60_000)).not.toContain(y);
  });

  test('the audit log: newest first, paged with before, capped', async () => {
    const tag = fresh();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await cat.appendAudit({ tag, i: String(i) }, 10_000));
    const mine = (await cat.readAudit(100)).filter((e) => e.fields.tag === tag);
    expect(mine.map((e) => e.fields.i)).toEqual(['4', '3', '2', '1', '0']);
    const page = await cat.readAudit(2, ids[3]);
    expect(page.map((e) => e.fields.i)).toEqual(['2', '1']);
    const capped = new MemoryCatalog({ logger });
    for (let i = 0; i < 20; i++) await capped.appendAudit({ i: String(i) }, 10);
    expect((await capped.readAudit(100)).length).toBe(10);
    await capped.close();
  });

  test('a damaged state is 503 state_corrupt from read and update, and is not written over', async () => {
    for (const [field, v] of [
      ['windowEnd', 'nan'],
      ['mode', 'ajar'],
      ['opensAtMs', '1e400'],
    ] as const) {
      const id = fresh();
      const c = await cat.createQueue(id, DOC, OPEN);
      if (c.outcome !== 'created') throw new Error('not created');
      await damage.write(id, field, v);
      await expect(cat.readQueue(id)).rejects.toMatchObject({ status: 503, code: 'state_corrupt' });
      await expect(cat.updateQueue(id, c.stored.version, DOC, OPEN)).rejects.toMatchObject({ status: 503, code: 'state_corrupt' });
      expect(await damage.read(id, field)).toBe(v);
    }
  });
});

test('RedisCatalog: the change log names a queue as a replica\'s own only while every change since the poll is that replica\'s', async () => {
  const cat = new RedisCatalog({ url: redis.url, logger, joinLogMs: 0 });
  await cat.connect();
  try {
    const id = fresh();
    const seqNow = async () => (await cat.changesSince(Number.MAX_SAFE_INTEGER)).seq;
    const own = async (since: number, author: string) => (await cat.changesSince(since, author)).authored;
    const s0 = await seqNow();
    await cat.touch(id, 'a');
    await cat.touch(id, 'a');
    // The queue's first logged change has no history to go by: no poll from before it may skip it.
    expect(await cat.changesSince(s0, 'a')).toEqual({ seq: s0 + 2, changed: [id], authored: [] });
    // From after it, both changes are a's own.
    expect(await cat.changesSince(s0 + 1, 'a')).toEqual({ seq: s0 + 2, changed: [id], authored: [id] });
    expect(await own(s0 + 1, 'b')).toEqual([]);
    // Without an author asked about, the log as before.
    expect(await cat.changesSince(s0)).toEqual({ seq: s0 + 2, changed: [id] });
    // Another replica's change between two of a's: not a's alone since s1, but since b's it is.
    const s1 = await seqNow();
    await cat.touch(id, 'b');
    const afterB = await seqNow();
    await cat.touch(id, 'a');
    expect(await own(s1, 'a')).toEqual([]);
    expect(await own(afterB, 'a')).toEqual([id]);
    // A change no replica holds (no author): nobody's own, and it ends a's run.
    const s2 = await seqNow();
    await cat.touch(id);
    const afterNone = await seqNow();
    await cat.touch(id, 'a');
    expect(await own(s2, 'a')).toEqual([]);
    expect(await own(afterNone, 'a')).toEqual([id]);
    // A settings change (registry-set.lua logs it without an author) after a's last: not a's.
    const s3 = await seqNow();
    await cat.touch(id, 'a');
    await cat.registerQueue(id, 7);
    expect(await own(s3, 'a')).toEqual([]);
    const afterSet = await seqNow();
    await cat.touch(id, 'a');
    expect(await own(afterSet, 'a')).toEqual([id]);
    expect(await own(s3, 'a')).toEqual([]);
    // An id the script would refuse as it is (a space) is logged under its hash, and found again.
    const s4 = await seqNow();
    await cat.touch(id, 'my host:1:ab');
    expect(await own(s4, 'my host:1:ab')).toEqual([id]);
    expect(await own(s4, 'a')).toEqual([]);
    // The queue's member lost from the log (an eviction, a DEL) while the sequence survives:
    // the next change has no history to go by, so it is not taken as a's run.
    await cat.touch(id, 'a');
    const s5 = await seqNow();
    await redis.withClient((c) => c.zRem(globalKeys.changed, id));
    await cat.touch(id, 'a');
    expect(await own(s5, 'a')).toEqual([]);
    // A score that is not a sequence never blocks a touch, and counts as no history either.
    await redis.withClient((c) => c.zAdd(globalKeys.changed, { score: 1.5, value: id }));
    const s6 = await seqNow();
    await cat.touch(id, 'a');
    expect(await own(s6, 'a')).toEqual([]);
    // A delete drops the queue's author entry (the hash does not keep every id ever deleted);
    // the delete itself is nobody's change, and a's changes after it are a's again.
    await cat.touch(id, 'a');
    expect(await redis.withClient((c) => c.hExists(globalKeys.changedBy, id))).toBeTruthy();
    const s7 = await seqNow();
    await cat.unregisterQueue(id);
    expect(await redis.withClient((c) => c.hExists(globalKeys.changedBy, id))).toBeFalsy();
    const afterDelete = await seqNow();
    await cat.touch(id, 'a');
    expect(await own(s7, 'a')).toEqual([]);
    expect(await own(afterDelete, 'a')).toEqual([id]);
    await cat.unregisterQueue(id);
  } finally {
    await cat.close();
  }
});

test('RedisCatalog: a change log Redis lost is caught by its new id, even when its new sequence is past the one asked from', async () => {
  const cat = new RedisCatalog({ url: redis.url, logger, joinLogMs: 0 });
  await cat.connect();
  try {
    const id = fresh();
    let seq = (await cat.changesSince(Number.MAX_SAFE_INTEGER)).seq;
    const logId = await redis.withClient((c) => c.get(globalKeys.changeLogId));
    expect(logId).toMatch(/^\d+\.\d+$/);
    await cat.touch(id);
    const normal = await cat.changesSince(seq);
    expect(normal).toEqual({ seq: seq + 1, changed: [id] });
    seq = normal.seq;
    // The log lost (a Redis restarted without its data), then written again past `seq` before
    // this replica's next poll: by the sequence alone nothing looks wrong.
    await redis.withClient(async (c) => {
      await c.del([globalKeys.changeSeq, globalKeys.changed, globalKeys.changedBy, globalKeys.changeLogId]);
      await c.set(globalKeys.changeSeq, String(seq + 5));
    });
    const reset = await cat.changesSince(seq);
    expect(reset.changed).toBeNull();
    expect(reset.seq).toBe(seq + 5);
    const newId = await redis.withClient((c) => c.get(globalKeys.changeLogId));
    expect(newId).not.toBe(logId);
    // From the new log's sequence on, polls are as usual.
    await cat.touch(id);
    expect(await cat.changesSince(seq + 5)).toEqual({ seq: seq + 6, changed: [id] });
    expect(await cat.changesSince(seq + 6)).toEqual({ seq: seq + 6, changed: [] });
    await cat.unregisterQueue(id);
    // A Redis that refuses the id's write (out of memory under noeviction): the poll still
    // answers, with nothing to compare, rather than failing and leaving every copy unconfirmed.
    const at = (await cat.changesSince(Number.MAX_SAFE_INTEGER)).seq;
    await redis.withClient(async (c) => {
      await c.del(globalKeys.changeLogId);
      await c.configSet({ 'maxmemory-policy': 'noeviction', maxmemory: '1' });
    });
    try {
      expect(await cat.changesSince(at)).toEqual({ seq: at, changed: [] });
      expect(await redis.withClient((c) => c.get(globalKeys.changeLogId))).toBeNull();
    } finally {
      await redis.withClient((c) => c.configSet('maxmemory', '0'));
    }
    // Once Redis takes writes again, the next poll makes an id; a new one, so the log counts as replaced.
    expect((await cat.changesSince(at)).changed).toBeNull();
    expect((await cat.changesSince(at)).changed).toEqual([]);
  } finally {
    await cat.close();
  }
});

test('RedisCatalog: joins that publish nothing are logged once per period, after it (the counter other replicas show)', async () => {
  const cat = new RedisCatalog({ url: redis.url, logger, joinLogMs: 200 });
  await cat.connect();
  try {
    const id = fresh();
    const c = await cat.createQueue(id, DOC, { ...OPEN, windowSize: 100 });
    if (c.outcome !== 'created') throw new Error('not created');
    const seq = (await cat.changesSince(Number.MAX_SAFE_INTEGER)).seq;
    const store = cat.queue(id);
    // Five joins admitted at once (W = 100): one entry, within the period.
    for (let i = 0; i < 5; i++) await store.issueTickets(1, OPEN);
    const r = await waitFor(async () => {
      const x = await cat.changesSince(seq);
      return x.changed?.includes(id) ? x : undefined;
    }, { what: 'the joins logged', timeoutMs: 2000 });
    expect(r.seq).toBe(seq + 1);
  } finally {
    await cat.close();
  }
});
