import { Metrics } from '../../internal/observability/metrics';
import { queueGauges, type QueueGaugeValues } from '../../internal/observability/queue-gauges';
import type { QueueSnapshot } from '../../internal/queue/queue-state';

const NOW = 1_700_000_000_000;

function snap(windowEnd: number, counter: number, nextDueMs: number, windowSize = 10, intervalMs = 10_000): QueueSnapshot {
  return { epoch: 'e', windowEnd, nextDueMs, windowSize, intervalMs, activeWindowCount: 1, version: 1, counter, storeNowMs: NOW - 5000, mode: 'open', opensAtMs: 0 };
}

describe('queueGauges: the per-queue gauges at scrape time', () => {
  test.each<[string, QueueSnapshot | undefined, number, number, QueueGaugeValues]>([
    ['never loaded: age -1, no window gauges', undefined, NOW, Infinity, { stateAgeSeconds: -1 }],
    ['never loaded (finite age from a clock): still -1', undefined, NOW, 1234, { stateAgeSeconds: -1 }],
    ['nobody waiting: ETA 0', snap(10, 7, NOW + 4000), NOW, 250, { stateAgeSeconds: 0.25, window: { windowEnd: 10, lastTicket: 7, waiting: 0, lastTicketEtaSeconds: 0 } }],
    ['counter = W: ETA 0', snap(10, 10, NOW + 4000), NOW, 0, { stateAgeSeconds: 0, window: { windowEnd: 10, lastTicket: 10, waiting: 0, lastTicketEtaSeconds: 0 } }],
    ['one waiting, next advance in 4 s', snap(10, 11, NOW + 4000), NOW, 0, { stateAgeSeconds: 0, window: { windowEnd: 10, lastTicket: 11, waiting: 1, lastTicketEtaSeconds: 4 } }],
    ['S+1 waiting need two advances: 4 s + one interval', snap(10, 21, NOW + 4000), NOW, 0, { stateAgeSeconds: 0, window: { windowEnd: 10, lastTicket: 21, waiting: 11, lastTicketEtaSeconds: 14 } }],
    // The ETA counts down with the clock rather than freezing at the last join's value.
    // Paused or closed: no ETA holds, so the ETA gauge is absent (the other gauges stay).
    ['paused: no ETA gauge', { ...snap(10, 21, NOW + 4000), mode: 'paused' }, NOW, 0, { stateAgeSeconds: 0, window: { windowEnd: 10, lastTicket: 21, waiting: 11, lastTicketEtaSeconds: undefined } }],
    ['same state 3 s later', snap(10, 21, NOW + 4000), NOW + 3000, 0, { stateAgeSeconds: 0, window: { windowEnd: 10, lastTicket: 21, waiting: 11, lastTicketEtaSeconds: 11 } }],
    ['due time passed (idle leader, first waiter): ETA of the later advances only', snap(10, 21, NOW - 60_000), NOW, 0, { stateAgeSeconds: 0, window: { windowEnd: 10, lastTicket: 21, waiting: 11, lastTicketEtaSeconds: 10 } }],
    ['a negative age (clock step) reads as 0', snap(10, 7, NOW), NOW, -5, { stateAgeSeconds: 0, window: { windowEnd: 10, lastTicket: 7, waiting: 0, lastTicketEtaSeconds: 0 } }],
  ])('%s', (_name, s, now, age, expected) => {
    expect(queueGauges(s, now, age)).toEqual(expected);
  });
});

describe('Metrics.trackQueue', () => {
  /** The exposition text's lines for one metric name. */
  async function lines(m: Metrics, name: string): Promise<string[]> {
    const text = await m.registry.metrics();
    return text.split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
  }

  test('exports every queue separately, reads gauges at scrape time and starts counters at 0', async () => {
    const m = new Metrics({ defaultMetrics: false });
    let eta = 30;
    m.trackQueue('a', () => ({ stateAgeSeconds: 0.5, window: { windowEnd: 10, lastTicket: 40, waiting: 30, lastTicketEtaSeconds: eta } }));
    m.trackQueue('b', () => ({ stateAgeSeconds: -1 }));
    expect(await lines(m, 'waitroom_last_ticket_eta_seconds')).toEqual(['waitroom_last_ticket_eta_seconds{queue="a"} 30']);
    eta = 20;
    expect(await lines(m, 'waitroom_last_ticket_eta_seconds')).toEqual(['waitroom_last_ticket_eta_seconds{queue="a"} 20']);
    expect(await lines(m, 'waitroom_state_age_seconds')).toEqual(['waitroom_state_age_seconds{queue="a"} 0.5', 'waitroom_state_age_seconds{queue="b"} -1']);
    expect(await lines(m, 'waitroom_last_ticket')).toEqual(['waitroom_last_ticket{queue="a"} 40']);
    expect(await lines(m, 'waitroom_window_advances_skipped_total')).toEqual([
      'waitroom_window_advances_skipped_total{queue="a"} 0',
      'waitroom_window_advances_skipped_total{queue="b"} 0',
    ]);
    expect(await lines(m, 'waitroom_leadership_changes_total')).toHaveLength(4);
    expect(await lines(m, 'waitroom_state_corrupt_total')).toEqual(['waitroom_state_corrupt_total{queue="a"} 0', 'waitroom_state_corrupt_total{queue="b"} 0']);
    expect((await lines(m, 'waitroom_state_rollbacks_total')).filter((l) => l.includes('queue="a"') && l.endsWith(' 0'))).toHaveLength(5);
    expect(await lines(m, 'waitroom_tick_lag_seconds')).toEqual(['waitroom_tick_lag_seconds{queue="a"} 0', 'waitroom_tick_lag_seconds{queue="b"} 0']);
  });

  test('untracking a queue removes its series and leaves the others', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const stopA = m.trackQueue('a', () => ({ stateAgeSeconds: 1, window: { windowEnd: 10, lastTicket: 12, waiting: 2, lastTicketEtaSeconds: 5 } }));
    m.trackQueue('b', () => ({ stateAgeSeconds: 2, window: { windowEnd: 20, lastTicket: 20, waiting: 0, lastTicketEtaSeconds: 0 } }));
    m.advances.inc({ queue: 'a' }, 3);
    stopA();
    stopA();
    const text = await m.registry.metrics();
    expect(text).not.toMatch(/queue="a"/);
    expect(await lines(m, 'waitroom_window_end')).toEqual(['waitroom_window_end{queue="b"} 20']);
    expect(await lines(m, 'waitroom_window_advances_total')).toEqual(['waitroom_window_advances_total{queue="b"} 0']);
  });

  test('tickets issued are counted per queue in a number and added to the counter at each scrape', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const stopA = m.trackQueue('a', () => ({ stateAgeSeconds: 0 }));
    m.trackQueue('b', () => ({ stateAgeSeconds: 0 }));
    const a = m.issuedCounter('a');
    const b = m.issuedCounter('b');
    a(3);
    a(2);
    b(7);
    expect(await lines(m, 'waitroom_tickets_issued_total')).toEqual(['waitroom_tickets_issued_total{queue="a"} 5', 'waitroom_tickets_issued_total{queue="b"} 7']);
    // A scrape adds only what came since the one before: the counter never counts twice.
    a(1);
    expect(await lines(m, 'waitroom_tickets_issued_total')).toEqual(['waitroom_tickets_issued_total{queue="a"} 6', 'waitroom_tickets_issued_total{queue="b"} 7']);
    expect(await lines(m, 'waitroom_tickets_issued_total')).toEqual(['waitroom_tickets_issued_total{queue="a"} 6', 'waitroom_tickets_issued_total{queue="b"} 7']);
    // Untracked: its series goes, with what was not scraped yet.
    a(4);
    stopA();
    expect(await lines(m, 'waitroom_tickets_issued_total')).toEqual(['waitroom_tickets_issued_total{queue="b"} 7']);
    // Tracked again (the queue served again): it starts at 0 and counts from there.
    m.trackQueue('a', () => ({ stateAgeSeconds: 0 }));
    m.issuedCounter('a')(2);
    expect((await lines(m, 'waitroom_tickets_issued_total')).sort()).toEqual(['waitroom_tickets_issued_total{queue="a"} 2', 'waitroom_tickets_issued_total{queue="b"} 7']);
  });

  test('the default process metrics carry no gauge named like a counter', async () => {
    const m = new Metrics();
    const text = await m.registry.metrics();
    expect(text).toMatch(/^# TYPE nodejs_active_handles gauge$/m);
    expect(text).not.toMatch(/^# TYPE \S+_total gauge$/m);
  });
});
