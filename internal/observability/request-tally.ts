import type { Metrics } from './metrics';

/**
 * Counts hot-route requests for `waitroom_http_requests_total` once per
 * event-loop turn instead of once per request: prom-client hashes the label
 * set on every inc(), and a turn under load serves many requests of the same
 * route and status, so they are added up in a plain map and handed over in one
 * inc() per (method, route, status) from a setImmediate. A scrape therefore
 * sees every request answered before the current turn. Latency still goes to
 * `waitroom_http_request_duration_seconds` per request.
 */
export class RequestTally {
  private readonly pending = new Map<string, { method: string; route: string; status: number; n: number }>();
  private scheduled = false;

  constructor(private readonly metrics: Metrics) {}

  record(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`;
    const e = this.pending.get(key);
    if (e) e.n++;
    else this.pending.set(key, { method, route, status, n: 1 });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
    this.metrics.httpDuration.observe({ route }, seconds);
  }

  /** Hands the turn's counts to prom-client; entries stay in the map (zeroed) since the keys repeat. */
  readonly flush = (): void => {
    this.scheduled = false;
    for (const e of this.pending.values()) {
      if (e.n === 0) continue;
      this.metrics.httpRequests.inc({ route: e.route, method: e.method, status: e.status }, e.n);
      e.n = 0;
    }
    // Keys are bounded (hot routes x methods x status codes); the cap is a backstop.
    if (this.pending.size > 1024) this.pending.clear();
  };
}
