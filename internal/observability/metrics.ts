import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every Prometheus metric waitroom exports, created once per process.
 * Labels are bounded: route is one of the known route names (never the raw
 * URL), status is the numeric code, queue is the configured queue id.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'waitroom_http_requests_total',
    help: 'HTTP requests by route and status code.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'waitroom_http_request_duration_seconds',
    help: 'HTTP request latency by route.',
    labelNames: ['route'] as const,
    // Hot routes answer in well under a millisecond; the upper buckets catch Redis stalls.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly ticketsIssued = new Counter({
    name: 'waitroom_tickets_issued_total',
    help: 'Tickets issued by this replica.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly joinBatchSize = new Histogram({
    name: 'waitroom_join_batch_size',
    help: 'Tickets issued per Redis round trip (joins arriving together share one INCRBY).',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  readonly windowEnd = new Gauge({
    name: 'waitroom_window_end',
    help: 'Highest admitted ticket (W) as last seen by this replica.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly counter = new Gauge({
    name: 'waitroom_ticket_counter',
    help: 'Highest ticket issued, as last seen by this replica.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly waiting = new Gauge({
    name: 'waitroom_waiting',
    help: 'Tickets issued but not yet admitted (counter - W).',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly lastTicketEta = new Gauge({
    name: 'waitroom_last_ticket_eta_seconds',
    help: 'Estimated wait of the newest ticket.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly advances = new Counter({
    name: 'waitroom_window_advances_total',
    help: 'Window advances performed by this replica while leader.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly advancesSkipped = new Counter({
    name: 'waitroom_window_advances_skipped_total',
    help: 'Due ticks skipped because nobody was waiting.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly tickLag = new Gauge({
    name: 'waitroom_tick_lag_seconds',
    help: 'How late the last advance ran against its due time.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'waitroom_leader',
    help: '1 while this replica holds the ticker lease, else 0.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly leadershipChanges = new Counter({
    name: 'waitroom_leadership_changes_total',
    help: 'Times this replica gained or lost the ticker lease.',
    labelNames: ['queue', 'change'] as const,
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'waitroom_redis_errors_total',
    help: 'Errors from the queue store (Redis).',
    registers: [this.registry],
  });
  readonly stateCorrupt = new Counter({
    name: 'waitroom_state_corrupt_total',
    help: 'Times the queue state was found damaged (a field not a valid integer in range, a missing counter, a valid ticket above the counter); each answered 503 state_corrupt.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly stateRollbacks = new Counter({
    name: 'waitroom_state_rollbacks_total',
    help: 'New epochs started because the queue state in the store went backwards, by what showed it.',
    labelNames: ['queue', 'reason'] as const,
    registers: [this.registry],
  });
  /** Set by the server: returns [queue id, seconds since the state was confirmed]. */
  stateAgeSource: (() => [string, number]) | undefined;
  readonly stateAge = new Gauge({
    name: 'waitroom_state_age_seconds',
    help: 'Time since this replica last confirmed the queue state (-1 before the first load).',
    labelNames: ['queue'] as const,
    registers: [this.registry],
    collect: () => {
      const src = this.stateAgeSource?.();
      if (src) this.stateAge.set({ queue: src[0] }, src[1]);
    },
  });
  readonly sseStreams = new Gauge({
    name: 'waitroom_sse_streams',
    help: 'Open server-sent event streams on this replica.',
    registers: [this.registry],
  });
  readonly sseFanout = new Histogram({
    name: 'waitroom_sse_fanout_seconds',
    help: 'Time to compute and write one queue change to every open event stream on this replica.',
    // 10,000 streams take ~150 ms on a 2-core machine (docs/visitor.md); the top buckets flag a stalled loop.
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly sseEvents = new Counter({
    name: 'waitroom_sse_events_total',
    help: 'Events written to event streams, by event name.',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }
}
