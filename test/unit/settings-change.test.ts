import { viewTicket } from '../../internal/queue/arithmetic';
import type { QueueSettings } from '../../internal/queue/queue-state';
import { applySettingsChange, type ChangeableState } from '../../internal/queue/settings-change';

const NOW = 1_000_000;
const state = (o: Partial<ChangeableState> = {}): ChangeableState => ({
  windowEnd: 100,
  nextDueMs: NOW + 4000,
  counter: 130,
  windowSize: 10,
  intervalMs: 5000,
  activeWindowCount: 2,
  mode: 'open',
  opensAtMs: 0,
  ...o,
});
const settings = (s: ChangeableState, o: Partial<QueueSettings>): QueueSettings => ({
  windowSize: s.windowSize,
  intervalMs: s.intervalMs,
  activeWindowCount: s.activeWindowCount,
  mode: s.mode,
  opensAtMs: s.opensAtMs,
  ...o,
});

describe('applySettingsChange: the transitions of update-queue.lua', () => {
  it.each<[string, Partial<ChangeableState>, Partial<QueueSettings>, { windowEnd: number; nextDueMs: number }]>([
    ['S only: applies from the next advance', {}, { windowSize: 20 }, { windowEnd: 100, nextDueMs: NOW + 4000 }],
    ['a shorter I pulls the next advance in', {}, { intervalMs: 1000 }, { windowEnd: 100, nextDueMs: NOW + 1000 }],
    ['a shorter I that is still later than the due time changes nothing', {}, { intervalMs: 4500 }, { windowEnd: 100, nextDueMs: NOW + 4000 }],
    ['a longer I applies from the next advance', {}, { intervalMs: 60_000 }, { windowEnd: 100, nextDueMs: NOW + 4000 }],
    ['pause keeps the window', {}, { mode: 'paused' }, { windowEnd: 100, nextDueMs: NOW + 4000 }],
    ['resume: first advance one interval later', { mode: 'paused', nextDueMs: NOW - 50_000 }, { mode: 'open' }, { windowEnd: 100, nextDueMs: NOW + 5000 }],
    ['into passthrough: W catches up with the counter', {}, { mode: 'passthrough' }, { windowEnd: 130, nextDueMs: NOW + 4000 }],
    ['out of passthrough: W = max(W, counter)', { mode: 'passthrough', windowEnd: 120 }, { mode: 'open' }, { windowEnd: 130, nextDueMs: NOW + 5000 }],
    ['opensAt in the future: due then', {}, { opensAtMs: NOW + 60_000 }, { windowEnd: 100, nextDueMs: NOW + 60_000 }],
    ['opensAt moved to now: opens now', { opensAtMs: NOW + 60_000, nextDueMs: NOW + 60_000 }, { opensAtMs: NOW }, { windowEnd: 100, nextDueMs: NOW }],
  ])('%s', (_what, from, change, expected) => {
    const s = state(from);
    const r = applySettingsChange(s, settings(s, change), NOW);
    expect({ windowEnd: r.windowEnd, nextDueMs: r.nextDueMs }).toEqual(expected);
    expect(r.counter).toBe(s.counter);
  });

  it('gives the preview its numbers: the newest ticket before and after a rate change', () => {
    // 30 waiting (101..130); S = 10 every 5 s with the next advance in 4 s: 3 advances, 4 + 2 × 5 = 14 s.
    const s = state();
    expect(viewTicket(130, s, NOW).etaSeconds).toBe(14);
    // S = 30 every 1 s: one advance, due now + 1 s.
    const faster = applySettingsChange(s, settings(s, { windowSize: 30, intervalMs: 1000 }), NOW);
    expect(viewTicket(130, faster, NOW).etaSeconds).toBe(1);
    // Paused: no ETA that could hold.
    const paused = applySettingsChange(s, settings(s, { mode: 'paused' }), NOW);
    expect(viewTicket(130, paused, NOW).etaSeconds).toBeNull();
  });
});
