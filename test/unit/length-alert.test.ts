import { alertWaiting, lengthAlertStep, recoveredReason, type LengthAlertStep } from '../../internal/queue/length-alert';
import { LengthAlertSchema } from '../../internal/queues/queue-settings';

const A = { threshold: 1000, clearBelow: 800 };

describe('lengthAlertStep: fire once at the threshold, re-arm only below clearBelow', () => {
  it.each<[string, boolean, number, { threshold: number; clearBelow: number }, LengthAlertStep]>([
    ['armed, one below the threshold', false, 999, A, 'none'],
    ['armed, exactly at the threshold: fires', false, 1000, A, 'exceeded'],
    ['armed, far above (one big batch): fires', false, 50_000, A, 'exceeded'],
    ['fired, still above the threshold', true, 1001, A, 'none'],
    ['fired, back under the threshold but not below clearBelow (hovering)', true, 999, A, 'none'],
    ['fired, exactly at clearBelow: still fired', true, 800, A, 'none'],
    ['fired, one below clearBelow: re-arms', true, 799, A, 'recovered'],
    ['fired, line empty: re-arms', true, 0, A, 'recovered'],
    ['armed, below clearBelow: nothing to do', false, 10, A, 'none'],
    ['no alert, armed: nothing whatever the line', false, 1_000_000, { threshold: 0, clearBelow: 0 }, 'none'],
    ['alert removed after it fired: re-arms', true, 1_000_000, { threshold: 0, clearBelow: 0 }, 'recovered'],
    ['smallest alert (2 / 1), at 2: fires', false, 2, { threshold: 2, clearBelow: 1 }, 'exceeded'],
    ['smallest alert (2 / 1), fired, at 1: stays', true, 1, { threshold: 2, clearBelow: 1 }, 'none'],
    ['smallest alert (2 / 1), fired, at 0: re-arms', true, 0, { threshold: 2, clearBelow: 1 }, 'recovered'],
  ])('%s', (_name, fired, waiting, a, want) => {
    expect(lengthAlertStep(fired, waiting, a)).toBe(want);
  });

  it('a line hovering around the threshold fires once per drain below clearBelow', () => {
    let fired = false;
    const events: string[] = [];
    // Joins and advances alternating around 1,000, then a drain to 700 and a new rise.
    for (const waiting of [990, 1000, 995, 1005, 999, 1001, 850, 801, 1200, 799, 700, 999, 1000, 1000]) {
      const step = lengthAlertStep(fired, waiting, A);
      if (step !== 'none') events.push(`${step}@${waiting}`);
      if (step === 'exceeded') fired = true;
      if (step === 'recovered') fired = false;
    }
    expect(events).toEqual(['exceeded@1000', 'recovered@799', 'exceeded@1000']);
  });
});

describe('alertWaiting', () => {
  it.each<[number, number, 'open' | 'paused' | 'passthrough' | 'closed', number]>([
    [130, 100, 'open', 30],
    [100, 100, 'open', 0],
    // W = S at creation can be above the counter: nobody waits, never negative.
    [3, 10, 'open', 0],
    [130, 100, 'paused', 30],
    [130, 100, 'closed', 30],
    // Passthrough admits every ticket as it joins, though W catches up only when it ends.
    [130, 100, 'passthrough', 0],
  ])('counter %d, W %d, %s: %d', (counter, w, mode, want) => {
    expect(alertWaiting(counter, w, mode)).toBe(want);
  });

  it('names why it re-armed', () => {
    expect(recoveredReason(10)).toBe('below_clear');
    expect(recoveredReason(0)).toBe('alert_removed');
  });
});

describe('LengthAlertSchema', () => {
  it.each<[unknown, boolean]>([
    [{ threshold: 1000, clearBelow: 800 }, true],
    [{ threshold: 2, clearBelow: 1 }, true],
    [{ threshold: 1000, clearBelow: 1000 }, false],
    [{ threshold: 1000, clearBelow: 1001 }, false],
    [{ threshold: 1000, clearBelow: 0 }, false],
    [{ threshold: 1, clearBelow: 0 }, false],
    [{ threshold: 1000.5, clearBelow: 800 }, false],
    [{ threshold: 1000 }, false],
    [{ threshold: 1000, clearBelow: 800, extra: 1 }, false],
  ])('%j valid: %s', (v, ok) => {
    expect(LengthAlertSchema.safeParse(v).success).toBe(ok);
  });
});
