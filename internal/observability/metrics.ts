import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ROLLBACK_REASONS } from '../queue/queue-state';
import type { QueueGaugeValues } from './queue-gauges';

/**
 * prom-client's default collectors export these three sums as gauges named
 * `_total`, which `promtool check metrics` rejects (a `_total` name promises a
 * counter). The same numbers are the sums of `nodejs_active_handles` and its
 * siblings, which are exported by type, so nothing is lost by dropping them.
 */
const MISNAMED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * Every Prometheus metric waitroom exports, created once per process.
 * Labels are bounded: route is one of the known route names (never the raw
 * URL), status is the numeric code, queue is a queue id this replica serves.
 * Everything about a queue carries its `queue` label, so one replica serving
 * several queues exports one series per queue.
 */
export class Metrics {
  readonly registry = new Registry();
  /** Per-queue readings taken at scrape time (trackQueue). */
  private readonly queueReaders = new Map<string, () => QueueGaugeValues>();
  /** Tickets issued per queue since the last scrape (issuedCounter), added to ticketsIssued when scraped. */
  private readonly issuedSinceScrape = new Map<string, { n: number }>();

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
    // Counted per queue in a plain number and added here at each scrape (issuedCounter).
    collect: () => this.flushIssued(),
  });
  readonly joinBatchSize = new Histogram({
    name: 'waitroom_join_batch_size',
    help: 'Tickets issued per Redis round trip (joins arriving together share one INCRBY).',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  readonly windowEnd = this.queueGauge('waitroom_window_end', 'Highest admitted ticket (W) as last seen by this replica.', (v) => v.window?.windowEnd);
  readonly lastTicket = this.queueGauge(
    'waitroom_last_ticket',
    "Highest ticket issued (the queue's ticket counter), as last seen by this replica.",
    (v) => v.window?.lastTicket,
  );
  readonly waiting = this.queueGauge('waitroom_waiting', 'Tickets issued but not yet admitted (counter - W).', (v) => v.window?.waiting);
  readonly lastTicketEta = this.queueGauge(
    'waitroom_last_ticket_eta_seconds',
    'Estimated wait of the newest ticket from now (0 when nobody waits).',
    (v) => v.window?.lastTicketEtaSeconds,
  );
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
  readonly originHolds = new Counter({
    name: 'waitroom_origin_holds_total',
    help: 'Admissions held because the queue\'s site was unhealthy (source: probe or site).',
    labelNames: ['queue', 'source'] as const,
    registers: [this.registry],
  });
  // --- no-shows (docs/system.md, "No-shows") ---
  readonly noShowLeaves = new Counter({
    name: 'waitroom_noshow_leaves_total',
    help: 'Waiting tickets marked gone (source: visitor, a leave request or the page closed; stale, no poll or stream for the queue\'s grace).',
    labelNames: ['queue', 'source'] as const,
    registers: [this.registry],
  });
  readonly noShowReturns = new Counter({
    name: 'waitroom_noshow_returns_total',
    help: 'Tickets marked gone that came back before their turn and kept their place.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly noShowSkipped = new Counter({
    name: 'waitroom_noshow_skipped_total',
    help: 'Tickets marked gone that an advance moved over (no-show compensation), counted by the leader.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly tickLag = new Gauge({
    name: 'waitroom_tick_lag_seconds',
    help: 'How late the leader\'s last ticker step ran against the time it was due to run (0 on replicas not leading).',
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
  readonly joinDurabilityShortfalls = new Counter({
    name: 'waitroom_join_durability_shortfalls_total',
    help: 'Join batches whose JOIN_DURABILITY wait (WAIT/WAITAOF) fell short; their tickets were not handed out (503).',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly stateAge = this.queueGauge(
    'waitroom_state_age_seconds',
    'Time since this replica last confirmed the queue state (-1 before the first load).',
    (v) => v.stateAgeSeconds,
  );
  readonly sseStreams = new Gauge({
    name: 'waitroom_sse_streams',
    help: 'Open server-sent event streams on this replica.',
    registers: [this.registry],
  });
  readonly memoryPressure = new Gauge({
    name: 'waitroom_memory_pressure',
    help: '1 while this replica is short of memory and refuses new event streams (SSE_MEMORY_HIGH_WATER), else 0.',
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

  // --- limits and abuse (docs/admission.md, "Limits and abuse") ---
  readonly limited = new Counter({
    name: 'waitroom_rate_limited_total',
    help: 'Requests refused 429 too_many_requests by the per-client limits, by route (join, claim).',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly forgedTokens = new Counter({
    name: 'waitroom_forged_tokens_total',
    help: 'Forged or tampered tokens presented (invalid_token, pass_invalid), by code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly forgeryBlocks = new Counter({
    name: 'waitroom_forgery_blocks_total',
    help: 'Client addresses blocked on this replica for presenting too many forged tokens.',
    registers: [this.registry],
  });
  readonly forgeryRefused = new Counter({
    name: 'waitroom_forgery_refused_total',
    help: 'Requests refused 429 forgery_blocked from blocked client addresses.',
    registers: [this.registry],
  });
  readonly challenges = new Counter({
    name: 'waitroom_challenges_total',
    help: 'ALTCHA challenge events on POST /join and GET /challenge: issued, solved, missing, invalid, replayed.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly passesShared = new Counter({
    name: 'waitroom_passes_shared_total',
    help: 'Passes this replica revoked for being used from more distinct clients than PASS_MAX_CLIENTS.',
    registers: [this.registry],
  });
  readonly connectionsRefused = new Counter({
    name: 'waitroom_connections_refused_total',
    help: 'Connections closed at once because their peer address already held HTTP_MAX_CONNECTIONS_PER_IP.',
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      for (const name of MISNAMED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }
  }

  /**
   * A per-queue gauge read from the queue state when scraped, so it never
   * freezes at the value of the last event that happened to set it (the ETA
   * gauge used to be set on join only and kept the last joiner's ETA).
   */
  private queueGauge(name: string, help: string, pick: (v: QueueGaugeValues) => number | undefined): Gauge<'queue'> {
    const readers = this.queueReaders;
    return new Gauge({
      name,
      help,
      labelNames: ['queue'] as const,
      registers: [this.registry],
      collect() {
        for (const [queue, reader] of readers) {
          const v = pick(reader());
          if (v === undefined) this.remove({ queue });
          else this.set({ queue }, v);
        }
      },
    });
  }

  /**
   * Counts tickets issued for `queue` into waitroom_tickets_issued_total. The count is a number
   * kept here and added to the counter when Prometheus scrapes: prom-client's inc() with a
   * label object hashes the labels on every call, and with joins spread over many queues that
   * was a call per join, 1.2% of such a join's sampled CPU in a profile (docs/benchmarks.md,
   * "Joins spread over many queues"). Untracking the queue drops what was not scraped yet, with
   * its series.
   */
  issuedCounter(queue: string): (n: number) => void {
    const pending = this.issuedSinceScrape;
    // Looked up per batch rather than held: untracking the queue (trackQueue) drops its entry,
    // and a runtime made again for the same id must not keep counting into a dropped one.
    return (n) => {
      const h = pending.get(queue);
      if (h) h.n += n;
      else pending.set(queue, { n });
    };
  }

  private flushIssued(): void {
    for (const [queue, h] of this.issuedSinceScrape) {
      if (h.n === 0) continue;
      this.ticketsIssued.inc({ queue }, h.n);
      h.n = 0;
    }
  }

  /**
   * Starts exporting one queue: its state gauges are read from `reader` at
   * every scrape, and its counters start at 0 so that rates and the dashboard
   * have a series before the first event (a counter that appears only at its
   * first increment makes `rate()` miss that increment and panels show "No
   * data"). Returns a function that stops exporting the queue and removes its
   * series, for a queue this replica no longer serves.
   */
  trackQueue(queue: string, reader: () => QueueGaugeValues): () => void {
    this.queueReaders.set(queue, reader);
    const labels = { queue };
    this.ticketsIssued.inc(labels, 0);
    this.advances.inc(labels, 0);
    this.advancesSkipped.inc(labels, 0);
    this.noShowReturns.inc(labels, 0);
    this.noShowSkipped.inc(labels, 0);
    for (const source of ['visitor', 'stale'] as const) this.noShowLeaves.inc({ queue, source }, 0);
    for (const change of ['acquired', 'lost'] as const) this.leadershipChanges.inc({ queue, change }, 0);
    // The integrity alerts use increase(): a counter born at 1 would show no increase.
    this.stateCorrupt.inc(labels, 0);
    this.joinDurabilityShortfalls.inc(labels, 0);
    for (const reason of ROLLBACK_REASONS) this.stateRollbacks.inc({ queue, reason }, 0);
    this.leader.set(labels, 0);
    this.tickLag.set(labels, 0);
    return () => {
      if (this.queueReaders.get(queue) !== reader) return;
      this.queueReaders.delete(queue);
      this.issuedSinceScrape.delete(queue);
      for (const g of [this.stateAge, this.windowEnd, this.lastTicket, this.waiting, this.lastTicketEta, this.leader, this.tickLag]) g.remove(labels);
      for (const c of [this.ticketsIssued, this.advances, this.advancesSkipped, this.stateCorrupt, this.joinDurabilityShortfalls, this.noShowReturns, this.noShowSkipped]) c.remove(labels);
      for (const source of ['visitor', 'stale'] as const) this.noShowLeaves.remove({ queue, source });
      for (const change of ['acquired', 'lost'] as const) this.leadershipChanges.remove({ queue, change });
      for (const reason of ROLLBACK_REASONS) this.stateRollbacks.remove({ queue, reason });
    };
  }
}
