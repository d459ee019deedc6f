import { attentionReasons, byAttention, LONG_WAIT_SECONDS, type AttentionInput } from '../../internal/analytics/attention';

const q = (id: string, o: Partial<AttentionInput> = {}): AttentionInput => ({
  id,
  state: 'open',
  waiting: 0,
  lastTicketEtaSeconds: 0,
  stateFresh: true,
  scheduled: false,
  ...o,
});

describe('attentionReasons', () => {
  it.each([
    ['a calm open queue', q('a'), []],
    ['paused with visitors waiting', q('a', { state: 'paused', waiting: 3, lastTicketEtaSeconds: null }), ['paused_with_visitors']],
    ['paused and empty', q('a', { state: 'paused', lastTicketEtaSeconds: null }), []],
    ['a wait of exactly the threshold', q('a', { waiting: 9, lastTicketEtaSeconds: LONG_WAIT_SECONDS }), ['long_wait']],
    ['a wait just under it', q('a', { waiting: 9, lastTicketEtaSeconds: LONG_WAIT_SECONDS - 1 }), []],
    ['a pre-queue waits long on purpose', q('a', { waiting: 9, lastTicketEtaSeconds: 7200, scheduled: true }), []],
    ['no fresh state', q('a', { stateFresh: false }), ['state_unavailable']],
    ['closed with visitors (intended)', q('a', { state: 'closed', waiting: 5, lastTicketEtaSeconds: null }), []],
  ])('%s', (_what, input, reasons) => {
    expect(attentionReasons(input)).toEqual(reasons);
  });
});

describe('byAttention', () => {
  it('puts the most urgent first, then the longest lines, then by id', () => {
    const rows = [
      q('calm-b', { waiting: 5 }),
      q('calm-a', { waiting: 5 }),
      q('big', { waiting: 500 }),
      q('slow', { waiting: 50, lastTicketEtaSeconds: 4000 }),
      q('stopped', { state: 'paused', waiting: 1, lastTicketEtaSeconds: null }),
      q('blind', { stateFresh: false }),
    ];
    expect(byAttention(rows).map((r) => r.id)).toEqual(['blind', 'stopped', 'slow', 'big', 'calm-a', 'calm-b']);
  });
});
