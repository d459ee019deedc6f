import { compensatedMove, NO_SHOW_MAX_MOVE } from '../../internal/queue/arithmetic';
import type { AdvanceResult, HighWater, QueueSettings } from '../../internal/queue/queue-state';
import { waitFor } from '../helpers/ports';
import { memoryKit, redisKit, type OpenedStores as Opened } from '../helpers/store-kits';

/**
 * No-show compensation (docs/system.md, "No-shows"), one contract for both stores:
 * mark-gone.lua, unmark-gone.lua, read-gone.lua, advance-window.lua's compensating step and
 * claim-pass.lua's skipped check against a private redis-server, and the embedded store that
 * mirrors them. Expected moves are computed with arithmetic.ts compensatedMove, so the Lua
 * (BITCOUNT in chunks, then bisection) and the embedded store (ticket by ticket) must agree with it.
 */

const settings = (over: Partial<QueueSettings>): QueueSettings => ({
  windowSize: 3,
  intervalMs: 50,
  activeWindowCount: 1,
  mode: 'open',
  opensAtMs: 0,
  maxActive: 0,
  ...over,
});

const B = NO_SHOW_MAX_MOVE;
const LIFE = 60_000;
let jtis = 0;

describe.each([
  ['redis', redisKit()],
  ['memory', memoryKit()],
] as const)('no-show contract: %s', (name, kit) => {
  beforeAll(() => kit.setup());
  afterAll(() => kit.teardown());
  let q = 0;
  const open = async (s: QueueSettings) => {
    const o = await kit.open(`noshow-${name}-${++q}`);
    const created = await o.queue.ensureQueue(s);
    expect(await o.queue.acquireLease('me', 60_000)).toBe(true);
    const seen: HighWater = { epoch: created.epoch, counter: 0, windowEnd: 0, version: 0, retired: [] };
    /** Polls advance() until the slot is due (anything but not_due). */
    const advance = (maxMove: number): Promise<AdvanceResult> =>
      waitFor(
        async () => {
          const r = await o.queue.advance('me', seen, { maxMove });
          return r.outcome === 'not_due' ? undefined : r;
        },
        { timeoutMs: 5000, intervalMs: 5, what: 'the next slot to fall due' },
      );
    return { ...o, epoch: created.epoch, advance };
  };
  const claim = async (o: Opened & { epoch: string }, ticket: number) => {
    const jti = `j-${++jtis}`;
    return (await o.passes.claim(o.epoch, ticket, { jti, token: `t-${jti}`, expMs: (await o.now()) + 60_000 }, 60_000, 'same')).outcome;
  };
  const shape = (r: AdvanceResult) => ({ outcome: r.outcome, windowEnd: r.snapshot?.windowEnd, skipped: r.skipped, occupancy: r.occupancy });

  test('leaving and coming back: idempotent, only while waiting, void in another epoch', async () => {
    const o = await open(settings({}));
    await o.queue.issueTickets(10, settings({}));
    // W = S = 3: tickets 1-3 are admitted, 4-10 wait.
    expect(await o.queue.markGone(o.epoch, [5], LIFE)).toEqual({ outcome: 'ok', windowEnd: 3, marked: 1, already: 0, admitted: 0 });
    expect(await o.queue.markGone(o.epoch, [5], LIFE)).toEqual({ outcome: 'ok', windowEnd: 3, marked: 0, already: 1, admitted: 0 });
    expect(await o.queue.markGone(o.epoch, [2, 6, 7, 5], LIFE)).toEqual({ outcome: 'ok', windowEnd: 3, marked: 2, already: 1, admitted: 1 });
    expect(await o.queue.markGone('another-epoch', [8], LIFE)).toEqual({ outcome: 'reset' });
    expect(await o.queue.readGone(o.epoch, 1, 10)).toEqual([5, 6, 7]);
    expect(await o.queue.readGone(o.epoch, 6, 6)).toEqual([6]);
    expect(await o.queue.unmarkGone(o.epoch, 5)).toEqual({ outcome: 'unmarked', windowEnd: 3 });
    expect(await o.queue.unmarkGone(o.epoch, 5)).toEqual({ outcome: 'present', windowEnd: 3 });
    expect(await o.queue.unmarkGone(o.epoch, 2)).toEqual({ outcome: 'admitted', windowEnd: 3 });
    expect(await o.queue.unmarkGone('another-epoch', 6)).toEqual({ outcome: 'reset' });
    expect(await o.queue.readGone(o.epoch, 1, 10)).toEqual([6, 7]);
    await o.close();
  });

  test('a presence sweep records who was heard from and marks only tickets no replica heard from', async () => {
    const o = await open(settings({}));
    await o.queue.issueTickets(20, settings({}));
    const sweep = (period: number, seen: number[], quiet: number[]) =>
      o.queue.sweepGone(o.epoch, { period, periodsChecked: 5, seen, quiet, goneLifetimeMs: LIFE, seenLifetimeMs: LIFE });
    // Replica B heard from 10 and 11 in period 100; replica A has not heard from 10, 12, 2 for its grace.
    expect(await sweep(100, [10, 11], [])).toEqual({ outcome: 'ok', windowEnd: 3, marked: 0 });
    expect(await sweep(102, [], [10, 12, 2])).toEqual({ outcome: 'ok', windowEnd: 3, marked: 1 });
    expect(await o.queue.readGone(o.epoch, 1, 20)).toEqual([12]);
    // Four periods later 10 was heard from in none of the five checked: marked now.
    expect(await sweep(105, [13], [10])).toEqual({ outcome: 'ok', windowEnd: 3, marked: 1 });
    expect(await o.queue.readGone(o.epoch, 1, 20)).toEqual([10, 12]);
    expect(await sweep(105, [], [13])).toEqual({ outcome: 'ok', windowEnd: 3, marked: 0 });
    expect(await o.queue.sweepGone('another-epoch', { period: 1, periodsChecked: 5, seen: [4], quiet: [5], goneLifetimeMs: LIFE, seenLifetimeMs: LIFE })).toEqual({
      outcome: 'reset',
    });
    await o.close();
  });

  test('a compensating advance admits S present visitors and skips the gone ones; they cannot claim', async () => {
    const o = await open(settings({}));
    await o.queue.issueTickets(12, settings({}));
    await o.queue.markGone(o.epoch, [5, 6, 8], LIFE);
    // After W = 3: 4 present, 5 gone, 6 gone, 7 present, 8 gone, 9 present -> W = 9, 3 skipped.
    expect(shape(await o.advance(B))).toMatchObject({ outcome: 'advanced', windowEnd: 9, skipped: 3 });
    expect(await o.queue.unmarkGone(o.epoch, 5)).toEqual({ outcome: 'skipped', windowEnd: 9 });
    expect(await o.queue.unmarkGone(o.epoch, 7)).toEqual({ outcome: 'admitted', windowEnd: 9 });
    expect(await claim(o, 6)).toBe('skipped');
    expect(await claim(o, 7)).toBe('issued');
    // A visitor who came back before the turn keeps the place: 11 leaves and returns.
    await o.queue.markGone(o.epoch, [11], LIFE);
    expect(await o.queue.unmarkGone(o.epoch, 11)).toEqual({ outcome: 'unmarked', windowEnd: 9 });
    expect(shape(await o.advance(B))).toMatchObject({ outcome: 'advanced', windowEnd: 12, skipped: 0 });
    expect(await claim(o, 11)).toBe('issued');
    await o.close();
  });

  test('without compensation the admitted range is counted whole: its marks are cleared', async () => {
    const o = await open(settings({}));
    await o.queue.issueTickets(9, settings({}));
    await o.queue.markGone(o.epoch, [4, 9], LIFE);
    expect(shape(await o.advance(0))).toMatchObject({ outcome: 'advanced', windowEnd: 6, skipped: 0 });
    expect(await o.queue.unmarkGone(o.epoch, 4)).toEqual({ outcome: 'admitted', windowEnd: 6 });
    expect(await claim(o, 4)).toBe('issued');
    // 9 is still waiting and still marked.
    expect(await o.queue.readGone(o.epoch, 1, 20)).toEqual([9]);
    await o.close();
  });

  test('without compensation a wide range is cleared whole bytes at a time, its ends bit by bit', async () => {
    const s = settings({ windowSize: 30 });
    const o = await open(s);
    await o.queue.issueTickets(100, s);
    const marks = Array.from({ length: 40 }, (_, i) => 31 + i); // 31..70; W = 30
    await o.queue.markGone(o.epoch, marks, LIFE);
    expect(shape(await o.advance(0))).toMatchObject({ outcome: 'advanced', windowEnd: 60, skipped: 0 });
    expect(await o.queue.readGone(o.epoch, 1, 100)).toEqual(marks.filter((t) => t > 60));
    await o.close();
  });

  test('the Lua search (chunks and bisection) and the embedded one agree with compensatedMove', async () => {
    const S = 40;
    const o = await open(settings({ windowSize: S, intervalMs: 20 }));
    await o.queue.issueTickets(3000, settings({ windowSize: S, intervalMs: 20 }));
    // Scattered leavers, a block longer than the bound (8·S = 320 tickets), then a dense tail.
    const gone = new Set<number>();
    for (let t = S + 1; t <= 3000; t++) if (t % 3 === 0 || (t >= 200 && t < 600) || (t > 1000 && t % 7 !== 0)) gone.add(t);
    const all = [...gone];
    for (let i = 0; i < all.length; i += 10_000) await o.queue.markGone(o.epoch, all.slice(i, i + 10_000), LIFE);
    let W = S;
    for (let step = 0; step < 12; step++) {
      const w0 = W;
      const want = compensatedMove(S, B * S, (i) => gone.has(w0 + i));
      const r = await o.advance(B);
      expect(shape(r)).toMatchObject({ outcome: 'advanced', windowEnd: W + want.move, skipped: want.move - want.present });
      W += want.move;
    }
    await o.close();
  });

  test('with a cap, skipped tickets take no place: occupancy agrees when their window closes', async () => {
    const s = settings({ intervalMs: 400, maxActive: 3 });
    const o = await open(s);
    await o.queue.issueTickets(10, s);
    await o.queue.markGone(o.epoch, [2, 3], LIFE);
    // A capped queue starts at W = 0: present 1, 4, 5 are admitted, 2 and 3 skipped.
    expect(shape(await o.advance(B))).toEqual({ outcome: 'advanced', windowEnd: 5, skipped: 2, occupancy: 3 });
    expect(await claim(o, 1)).toBe('issued');
    expect(await claim(o, 2)).toBe('skipped');
    // The claim window closes with the next slot: 4 and 5 never claimed free their places, the
    // skipped 2 and 3 had none (without that, pending would go below 0). Occupancy = 1 live pass,
    // so 2 more are admitted: 6 and 7.
    expect(shape(await o.advance(B))).toEqual({ outcome: 'advanced', windowEnd: 7, skipped: 0, occupancy: 3 });
    await o.close();
  });
});
