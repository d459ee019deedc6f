import type { Metrics } from './metrics';
import { TurnCounter } from './turn-counter';

/**
 * The hot routes' request metrics: `waitroom_http_requests_total` counted once
 * per event-loop turn (TurnCounter), latency observed per request in
 * `waitroom_http_request_duration_seconds`.
 */
export class RequestTally {
  private readonly counts: TurnCounter<'route' | 'method' | 'status'>;

  constructor(private readonly metrics: Metrics) {
    this.counts = new TurnCounter(metrics.httpRequests);
  }

  record(method: string, route: string, status: number, seconds: number): void {
    this.counts.inc(`${method} ${route} ${status}`, () => ({ route, method, status }));
    this.metrics.httpDuration.observe({ route }, seconds);
  }
}
