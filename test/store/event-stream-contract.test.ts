import pino from 'pino';
import { parseEventEntry, type WaitroomEvent } from '../../internal/event-stream/event-types';
import type { QueueSettings } from '../../internal/queue/queue-state';
import { MemoryCatalog } from '../../internal/store/memory-catalog';
import { RedisPassStore, type PassStore } from '../../internal/store/pass-store';
import { RedisCatalog } from '../../internal/store/redis-catalog';
import type { QueueCatalog } from '../../internal/store/store';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';

/**
 * The event stream contract (docs/events.md), run against the Redis catalog (real
 * redis-server, the Lua scripts) and the embedded one: every change appends exactly
 * its events, in order, with the documented bodies (each checked against its zod
 * schema), and a change that does not happen (a conflict, a refused claim, a
 * repeated done, an advance not due) appends nothing.
 */
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const OPEN: QueueSettings = { windowSize: 5, intervalMs: 50, activeWindowCount: 2, mode: 'open', opensAtMs: 0 };
const DOC = JSON.stringify({ name: 'q' });

let redis: TestRedis;
beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(async () => {
  await redis?.close();
});

let n = 0;
const fresh = () => `ev-${process.pid}-${++n}`;

interface Kit {
  cat: QueueCatalog;
  passes(id: string): PassStore;
}

async function all(cat: QueueCatalog, id: string): Promise<WaitroomEvent[]> {
  return (await cat.readEvents(id, '0', 1000)).map((e) => parseEventEntry(id, e));
}

/** Bodies without the values that differ by run (epochs, times, versions, jti). */
const shape = (evs: WaitroomEvent[]) =>
  evs.map((e) => {
    const { epoch: _e, version: _v, expMs: _x, lagMs: _l, settings: _s, ...rest } = e.data as unknown as Record<string, unknown>;
    return { type: e.type, ...rest };
  });

const results = new Map<string, unknown>();

describe.each<[string, () => Promise<Kit>]>([
  [
    'RedisCatalog',
    async () => {
      const cat = new RedisCatalog({ url: redis.url, logger, eventStreamMaxLength: 1000 });
      await cat.connect();
      return { cat, passes: (id) => new RedisPassStore(cat.queue(id), logger) };
    },
  ],
  [
    'MemoryCatalog',
    async () => {
      const cat = new MemoryCatalog({ logger, eventStreamMaxLength: 1000 });
      return { cat, passes: (id) => cat.passStore(id) };
    },
  ],
])('%s', (name, open) => {
  let kit: Kit;
  beforeEach(async () => {
    kit = await open();
  });
  afterEach(async () => {
    await kit.cat.close();
  });

  test('queue lifecycle: created, updated with the change, state_changed, passthrough window, deleted; nothing for a conflict', async () => {
    const { cat } = kit;
    const id = fresh();
    const c = await cat.createQueue(id, DOC, OPEN);
    if (c.outcome !== 'created') throw new Error('not created');
    let v = c.stored.version;
    await cat.queue(id).issueTickets(12, OPEN);
    expect((await cat.updateQueue(id, v + 100, DOC, OPEN)).outcome).toBe('conflict');
    const u1 = await cat.updateQueue(id, v, DOC, { ...OPEN, mode: 'paused' }, { state: { before: 'open', after: 'paused' } });
    if (u1.outcome !== 'updated') throw new Error('not updated');
    v = u1.stored.version;
    const u2 = await cat.updateQueue(id, v, DOC, { ...OPEN, mode: 'passthrough' }, { state: { before: 'paused', after: 'passthrough' } });
    if (u2.outcome !== 'updated') throw new Error('not updated');
    expect((await cat.deleteQueue(id, u2.stored.version)).outcome).toBe('deleted');
    const evs = await all(cat, id);
    expect(shape(evs)).toEqual([
      { type: 'queue.created', queue: id, state: 'open', windowSize: 5, intervalMs: 50, activeWindowCount: 2, opensAtMs: 0, counter: 0, windowEnd: 5 },
      { type: 'queue.updated', queue: id, changes: { state: { before: 'open', after: 'paused' } } },
      { type: 'queue.state_changed', queue: id, from: 'open', to: 'paused', counter: 12, windowEnd: 5 },
      { type: 'queue.updated', queue: id, changes: { state: { before: 'paused', after: 'passthrough' } } },
      { type: 'queue.state_changed', queue: id, from: 'paused', to: 'passthrough', counter: 12, windowEnd: 12 },
      { type: 'window.advanced', queue: id, fromTicket: 6, toTicket: 12, counter: 12, windowSize: 5, reason: 'passthrough' },
      { type: 'queue.deleted', queue: id },
    ]);
    expect(evs[0]!.data).toMatchObject({ settings: { name: 'q' } });
    // Ids are ordered and unique; times are ISO.
    const ids = evs.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const e of evs) expect(new Date(e.time).toISOString()).toBe(e.time);
    results.set(`${name}:lifecycle`, shape(evs).map((e) => ({ ...e, queue: 'x' })));
  });

  test('window.advanced: one event per advance with the admitted range; none when not due or nobody waits', async () => {
    const { cat } = kit;
    const id = fresh();
    await cat.createQueue(id, DOC, OPEN);
    const q = cat.queue(id);
    expect(await q.acquireLease('me', 5000)).toBe(true);
    // Nobody waits beyond W = 5: a due advance is skipped, no event.
    await waitFor(async () => (await q.advance('me')).outcome === 'skipped', { timeoutMs: 3000 });
    await q.issueTickets(13, OPEN);
    const advanced: number[] = [];
    await waitFor(async () => {
      const r = await q.advance('me');
      if (r.outcome === 'advanced' && r.snapshot) advanced.push(r.snapshot.windowEnd);
      return advanced.length === 2;
    }, { timeoutMs: 5000 });
    expect((await q.advance('other')).outcome).toBe('not_leader');
    const evs = (await all(cat, id)).filter((e) => e.type === 'window.advanced');
    expect(evs.map((e) => [e.data.queue, (e.data as { fromTicket: number }).fromTicket, (e.data as { toTicket: number }).toTicket])).toEqual([
      [id, 6, 10],
      [id, 11, 15],
    ]);
    expect(advanced).toEqual([10, 15]);
  });

  test('passes: claimed once, completed then revoked once, expired ones abandoned with reason timed_out', async () => {
    const { cat } = kit;
    const id = fresh();
    await cat.createQueue(id, DOC, OPEN);
    const passes = kit.passes(id);
    const far = Date.now() + 3_600_000;
    expect((await passes.claim('e1', 1, { jti: 'j1', token: 't1', expMs: far }, 60_000, 'same')).outcome).toBe('issued');
    expect((await passes.claim('e1', 1, { jti: 'j1b', token: 't1b', expMs: far }, 60_000, 'same')).outcome).toBe('same');
    expect((await passes.claim('e1', 2, { jti: 'j2', token: 't2', expMs: Date.now() + 50 }, 60_000, 'refuse')).outcome).toBe('issued');
    expect((await passes.done('j1', 'completed')).outcome).toBe('done');
    expect((await passes.done('j1', 'completed')).outcome).toBe('already_done');
    expect((await passes.done('nope', 'abandoned')).outcome).toBe('unknown');
    await waitFor(async () => (await passes.sweep(false)).stats.timedOut === 1, { timeoutMs: 3000 });
    await passes.sweep(false);
    const evs = await all(cat, id);
    expect(shape(evs.slice(1))).toEqual([
      { type: 'pass.claimed', queue: id, jti: 'j1', ticket: 1 },
      { type: 'pass.claimed', queue: id, jti: 'j2', ticket: 2 },
      { type: 'pass.completed', queue: id, jti: 'j1', reason: 'reported' },
      { type: 'pass.revoked', queue: id, jti: 'j1', reason: 'reported' },
      { type: 'pass.abandoned', queue: id, jti: 'j2', reason: 'timed_out' },
    ]);
    expect(evs[1]!.data).toMatchObject({ epoch: 'e1', expMs: far });
  });

  /** Advances once (the lease held by `me`), waiting for the advance to come due. */
  async function advanceOnce(cat: QueueCatalog, id: string): Promise<void> {
    await waitFor(async () => (await cat.queue(id).advance('me')).outcome === 'advanced', { timeoutMs: 5000, what: 'an advance' });
  }
  const lengthEvents = async (cat: QueueCatalog, id: string) =>
    (await all(cat, id))
      .filter((e) => e.type.startsWith('queue.length_'))
      .map((e) => {
        const d = e.data as { waiting: number; threshold: number; clearBelow: number; counter: number; windowEnd: number; reason?: string };
        return [e.type, d.waiting, d.threshold, d.clearBelow, d.counter, d.windowEnd, ...(d.reason ? [d.reason] : [])];
      });

  test('queue.length_exceeded: once when the line reaches the threshold, not again while it hovers, re-armed below clearBelow', async () => {
    const { cat } = kit;
    const id = fresh();
    // S = 5, W starts at 5; fire at 10 waiting, re-arm below 6.
    const ALERT: QueueSettings = { ...OPEN, lengthAlertThreshold: 10, lengthAlertClearBelow: 6 };
    await cat.createQueue(id, DOC, ALERT);
    const q = cat.queue(id);
    expect(await q.acquireLease('me', 10_000)).toBe(true);
    await q.issueTickets(14, ALERT); // waiting 9: below the threshold
    expect(await lengthEvents(cat, id)).toEqual([]);
    await q.issueTickets(1, ALERT); // waiting 10: crosses up
    await q.issueTickets(3, ALERT); // 13: already fired
    await advanceOnce(cat, id); // W 10, waiting 8: not below 6, stays fired
    await q.issueTickets(2, ALERT); // 10 again: no second event (hovering)
    await advanceOnce(cat, id); // W 15, waiting 5: below 6, re-armed
    await q.issueTickets(4, ALERT); // 9
    await q.issueTickets(1, ALERT); // 10: fires again
    expect(await lengthEvents(cat, id)).toEqual([
      ['queue.length_exceeded', 10, 10, 6, 15, 5],
      ['queue.length_recovered', 5, 10, 6, 20, 15, 'below_clear'],
      ['queue.length_exceeded', 10, 10, 6, 25, 15],
    ]);
    // Events sit in the stream right after the change that caused them.
    const types = (await all(cat, id)).map((e) => e.type);
    expect(types.filter((t) => t !== 'pass.abandoned')).toEqual([
      'queue.created',
      'queue.length_exceeded',
      'window.advanced',
      'window.advanced',
      'queue.length_recovered',
      'queue.length_exceeded',
    ]);
    results.set(`${name}:length`, await lengthEvents(cat, id));
  });

  test('a settings change crosses the length alert both ways; passthrough empties the line; removing the alert re-arms it', async () => {
    const { cat } = kit;
    const id = fresh();
    const c = await cat.createQueue(id, DOC, OPEN);
    if (c.outcome !== 'created') throw new Error('not created');
    let v = c.stored.version;
    await cat.queue(id).issueTickets(25, OPEN); // W 5: waiting 20, no alert set
    const update = async (s: QueueSettings) => {
      const u = await cat.updateQueue(id, v, DOC, s);
      if (u.outcome !== 'updated') throw new Error(`not updated: ${u.outcome}`);
      v = u.stored.version;
    };
    await update({ ...OPEN, lengthAlertThreshold: 15, lengthAlertClearBelow: 10 }); // 20 >= 15: fires
    await update({ ...OPEN, lengthAlertThreshold: 30, lengthAlertClearBelow: 18 }); // 20, fired, not below 18: stays
    await update({ ...OPEN, lengthAlertThreshold: 30, lengthAlertClearBelow: 21 }); // 20 < 21: re-armed
    await update({ ...OPEN, lengthAlertThreshold: 20, lengthAlertClearBelow: 5 }); // 20 >= 20: fires
    await update(OPEN); // removed: re-armed
    await update({ ...OPEN, lengthAlertThreshold: 20, lengthAlertClearBelow: 5 }); // fires
    await update({ ...OPEN, mode: 'passthrough', lengthAlertThreshold: 20, lengthAlertClearBelow: 5 }); // W = counter: 0 waiting
    await cat.queue(id).issueTickets(30, { ...OPEN, mode: 'passthrough' }); // passthrough admits as it joins: never waiting
    expect(await lengthEvents(cat, id)).toEqual([
      ['queue.length_exceeded', 20, 15, 10, 25, 5],
      ['queue.length_recovered', 20, 30, 21, 25, 5, 'below_clear'],
      ['queue.length_exceeded', 20, 20, 5, 25, 5],
      ['queue.length_recovered', 20, 0, 0, 25, 5, 'alert_removed'],
      ['queue.length_exceeded', 20, 20, 5, 25, 5],
      ['queue.length_recovered', 0, 20, 5, 25, 25, 'below_clear'],
    ]);
    results.set(`${name}:length-settings`, await lengthEvents(cat, id));
  });

  test('a new epoch appends queue.epoch_started (and re-arms a fired alert); a sound state appends nothing', async () => {
    const { cat } = kit;
    const id = fresh();
    const ALERT: QueueSettings = { ...OPEN, lengthAlertThreshold: 3, lengthAlertClearBelow: 1 };
    await cat.createQueue(id, DOC, ALERT);
    const q = cat.queue(id);
    const a = await q.issueTickets(9, ALERT); // waiting 4: fires
    const seen = { epoch: a.snapshot.epoch, counter: a.snapshot.counter, windowEnd: a.snapshot.windowEnd, version: a.snapshot.version, retired: [] };
    // Reads and joins against a sound state: no event but the join's own.
    for (let i = 0; i < 3; i++) expect((await q.ensureQueue(ALERT, seen)).created).toBe(false);
    const before = (await all(cat, id)).length;
    // Another replica saw ticket 20 of this epoch: the store went backwards.
    const r = await q.ensureQueue(ALERT, { ...seen, counter: 20 });
    expect(r).toMatchObject({ created: true, rollback: 'counter_below_seen', counter: 0 });
    expect((await q.ensureQueue(ALERT)).created).toBe(false);
    const evs = (await all(cat, id)).slice(before);
    expect(evs.map((e) => e.type)).toEqual(['queue.epoch_started', 'queue.length_recovered']);
    expect(evs[0]!.data).toEqual({
      queue: id,
      epoch: r.epoch,
      previousEpoch: a.snapshot.epoch,
      reason: 'counter_below_seen',
      version: r.version,
      state: 'open',
      counter: 0,
      windowEnd: 5,
    });
    expect(evs[1]!.data).toMatchObject({ epoch: r.epoch, waiting: 0, threshold: 3, clearBelow: 1, reason: 'new_epoch' });
    // The new epoch keeps the stored alert, armed: the next crossing fires again.
    await q.issueTickets(8, ALERT);
    expect((await all(cat, id)).slice(before + 2).map((e) => [e.type, (e.data as { epoch?: string }).epoch])).toEqual([['queue.length_exceeded', r.epoch]]);

    // A state that is missing (lost): created with previousEpoch null.
    const lost = fresh();
    const m = await cat.queue(lost).ensureQueue(OPEN);
    expect(m.created).toBe(true);
    const lostEvents = await all(cat, lost);
    expect(lostEvents.map((e) => e.data)).toEqual([
      { queue: lost, epoch: m.epoch, previousEpoch: null, reason: 'missing', version: m.version, state: 'open', counter: 0, windowEnd: 5 },
    ]);
  });

  test('the stream reads page by page from an entry id, oldest first', async () => {
    const { cat } = kit;
    const id = fresh();
    await cat.createQueue(id, DOC, OPEN);
    const passes = kit.passes(id);
    for (let i = 1; i <= 30; i++) await passes.claim('e', i, { jti: `p${i}`, token: 't', expMs: Date.now() + 3_600_000 }, 60_000, 'same');
    const first = await cat.readEvents(id, '0', 10);
    const next = await cat.readEvents(id, first[9]!.id, 10);
    expect(next[0]!.id).not.toBe(first[9]!.id);
    expect([...first, ...next].map((e) => parseEventEntry(id, e).type)).toEqual(['queue.created', ...Array(19).fill('pass.claimed')]);
  });
});

test('both stores write the same events', () => {
  for (const k of ['lifecycle', 'length', 'length-settings']) {
    expect(results.get(`RedisCatalog:${k}`)).toBeDefined();
    expect(results.get(`RedisCatalog:${k}`)).toEqual(results.get(`MemoryCatalog:${k}`));
  }
});
