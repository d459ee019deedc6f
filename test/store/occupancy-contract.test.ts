import type { AdvanceResult, QueueSettings } from '../../internal/queue/queue-state';
import { waitFor } from '../helpers/ports';
import { memoryKit, redisKit, type OpenedStores as Opened } from '../helpers/store-kits';

/**
 * The capacity cap's accounting (docs/system.md, "Occupancy"), one contract for both
 * stores: advance-window.lua and claim-pass.lua against a private redis-server, and the
 * embedded store that mirrors them. Occupancy = live passes + admitted tickets not yet
 * claimed whose claim window is open; an advance admits min(S − used, waiting, cap − occupancy).
 */

const settings = (over: Partial<QueueSettings>): QueueSettings => ({
  windowSize: 5,
  intervalMs: 100_000,
  activeWindowCount: 1,
  mode: 'open',
  opensAtMs: 0,
  maxActive: 3,
  ...over,
});

let jtis = 0;

describe.each([
  ['redis', redisKit()],
  ['memory', memoryKit()],
] as const)('occupancy contract: %s', (name, kit) => {
  beforeAll(() => kit.setup());
  afterAll(() => kit.teardown());
  let q = 0;
  const open = async (s: QueueSettings) => {
    const o = await kit.open(`occ-${name}-${++q}`);
    const created = await o.queue.ensureQueue(s);
    expect(await o.queue.acquireLease('me', 60_000)).toBe(true);
    return { ...o, epoch: created.epoch };
  };
  const claim = async (o: Opened & { epoch: string }, ticket: number, ttlMs = 60_000) => {
    const jti = `j-${++jtis}`;
    const r = await o.passes.claim(o.epoch, ticket, { jti, token: `t-${jti}`, expMs: (await o.now()) + ttlMs }, 60_000, 'same');
    return { jti, outcome: r.outcome };
  };
  const shape = (r: AdvanceResult) => ({ outcome: r.outcome, windowEnd: r.snapshot?.windowEnd, occupancy: r.occupancy });

  test('a capped queue starts with nobody admitted and admits its first batch through an advance', async () => {
    const o = await open(settings({}));
    const s = await o.queue.ensureQueue(settings({}));
    expect(s.windowEnd).toBe(0);
    expect(s.maxActive).toBe(3);
    await o.queue.issueTickets(10, settings({}));
    expect(shape(await o.queue.advance('me'))).toEqual({ outcome: 'advanced', windowEnd: 3, occupancy: 3 });
    await o.close();
  });

  test('a done pass frees a place at once: the started slot tops up, never past S', async () => {
    const o = await open(settings({}));
    await o.queue.issueTickets(10, settings({}));
    expect(shape(await o.queue.advance('me'))).toEqual({ outcome: 'advanced', windowEnd: 3, occupancy: 3 });
    // Full and the slot started: nothing moves.
    expect(shape(await o.queue.advance('me'))).toEqual({ outcome: 'not_due', windowEnd: 3, occupancy: 3 });
    // A claim inside the open window moves its place to the passes: occupancy unchanged.
    const c1 = await claim(o, 1);
    expect(c1.outcome).toBe('issued');
    expect(shape(await o.queue.advance('me'))).toEqual({ outcome: 'not_due', windowEnd: 3, occupancy: 3 });
    expect((await o.passes.done(c1.jti, 'completed')).outcome).toBe('done');
    expect(shape(await o.queue.advance('me'))).toEqual({ outcome: 'advanced', windowEnd: 4, occupancy: 3 });
    const c2 = await claim(o, 2);
    const c3 = await claim(o, 3);
    expect((await o.passes.done(c2.jti, 'completed')).outcome).toBe('done');
    expect((await o.passes.done(c3.jti, 'abandoned')).outcome).toBe('done');
    // Two places free, but S = 5 and this slot admitted 4: one more only.
    expect(shape(await o.queue.advance('me'))).toEqual({ outcome: 'advanced', windowEnd: 5, occupancy: 2 });
    expect(shape(await o.queue.advance('me'))).toEqual({ outcome: 'not_due', windowEnd: 5, occupancy: 2 });
    // A second done of the same pass frees nothing more.
    expect((await o.passes.done(c2.jti, 'completed')).outcome).toBe('already_done');
    expect(shape(await o.queue.advance('me'))).toEqual({ outcome: 'not_due', windowEnd: 5, occupancy: 2 });
    await o.close();
  });

  test('a claim window that closes unclaimed frees its places; a late claim then needs a free place', async () => {
    const s = settings({ intervalMs: 150, activeWindowCount: 1, windowSize: 3, maxActive: 3 });
    const o = await open(s);
    await o.queue.issueTickets(9, s);
    expect(shape(await o.queue.advance('me'))).toEqual({ outcome: 'advanced', windowEnd: 3, occupancy: 3 });
    const c1 = await claim(o, 1);
    expect(c1.outcome).toBe('issued');
    // Due again, but full until the window of tickets 1..3 closes (K·I = 150 ms after it opened).
    let r = await o.queue.advance('me');
    expect(['not_due', 'full', 'advanced']).toContain(r.outcome);
    await waitFor(async () => {
      r = await o.queue.advance('me');
      return r.outcome === 'advanced';
    }, { timeoutMs: 5000 });
    // Tickets 2 and 3 never claimed: their places went to tickets 4 and 5 (ticket 1 holds a pass).
    expect(shape(r)).toEqual({ outcome: 'advanced', windowEnd: 5, occupancy: 3 });
    // Ticket 2 comes back after its window closed: it would take a new place, and none is free.
    expect((await claim(o, 2)).outcome).toBe('full');
    // Once a place frees, a late claim may take it.
    expect((await o.passes.done(c1.jti, 'completed')).outcome).toBe('done');
    expect((await claim(o, 2)).outcome).toBe('issued');
    await o.close();
  });

  test('an expired pass frees its place (counted as abandoned and timed out)', async () => {
    // S = 3 over a cap of 2: the slot has room for one more once a place frees.
    const s = settings({ windowSize: 3, maxActive: 2 });
    const o = await open(s);
    await o.queue.issueTickets(5, s);
    expect(shape(await o.queue.advance('me'))).toEqual({ outcome: 'advanced', windowEnd: 2, occupancy: 2 });
    expect((await claim(o, 1, 100)).outcome).toBe('issued');
    expect((await claim(o, 2, 60_000)).outcome).toBe('issued');
    let r: AdvanceResult | undefined;
    await waitFor(async () => {
      r = await o.queue.advance('me');
      return r.outcome === 'advanced';
    }, { timeoutMs: 5000 });
    expect(shape(r!)).toEqual({ outcome: 'advanced', windowEnd: 3, occupancy: 2 });
    const st = (await o.passes.sweep(false)).stats;
    expect(st.timedOut).toBe(1);
    await o.close();
  });

  test('without a cap nothing changes: W += S per slot, past the counter', async () => {
    const s = settings({ maxActive: 0, windowSize: 4, intervalMs: 50 });
    const o = await open(s);
    const first = await o.queue.ensureQueue(s);
    expect(first.windowEnd).toBe(4);
    await o.queue.issueTickets(5, s);
    let r: AdvanceResult | undefined;
    await waitFor(async () => {
      r = await o.queue.advance('me');
      return r.outcome === 'advanced';
    }, { timeoutMs: 5000 });
    expect(r!.snapshot!.windowEnd).toBe(8);
    await o.close();
  });

  test('a full queue says when a place frees by itself', async () => {
    const s = settings({ windowSize: 1, maxActive: 1, intervalMs: 50 });
    const o = await open(s);
    await o.queue.issueTickets(3, s);
    expect(shape(await o.queue.advance('me'))).toEqual({ outcome: 'advanced', windowEnd: 1, occupancy: 1 });
    const t0 = await o.now();
    expect((await claim(o, 1, 30_000)).outcome).toBe('issued');
    let r: AdvanceResult | undefined;
    await waitFor(async () => {
      r = await o.queue.advance('me');
      return r.outcome === 'full';
    }, { timeoutMs: 5000 });
    expect(r!.nextFreeMs).toBeGreaterThanOrEqual(t0 + 29_000);
    expect(r!.nextFreeMs).toBeLessThanOrEqual(t0 + 31_000);
    await o.close();
  });
});
