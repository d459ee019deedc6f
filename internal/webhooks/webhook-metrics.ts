import { Counter, Gauge, type Registry } from 'prom-client';

/** The webhook metrics (docs/events.md#webhooks), per queue. */
export class WebhookMetrics {
  readonly deliveries: Counter<'queue' | 'result'>;
  readonly pending: Gauge<'queue'>;

  constructor(registry: Registry) {
    this.deliveries = new Counter({
      name: 'waitroom_webhook_deliveries_total',
      help: 'Webhook delivery outcomes: delivered (a 2xx), retry (an attempt failed, another is scheduled), failed (given up after WEBHOOK_RETRY_FOR_MS).',
      labelNames: ['queue', 'result'],
      registers: [registry],
    });
    this.pending = new Gauge({
      name: 'waitroom_webhook_pending',
      help: "Webhook deliveries waiting for a retry, as seen by the replica that runs the queue's dispatcher (0 elsewhere).",
      labelNames: ['queue'],
      registers: [registry],
    });
  }

  /** Starts every series of a queue at 0, so increase() sees its first event. */
  track(queue: string): void {
    for (const result of ['delivered', 'retry', 'failed']) this.deliveries.inc({ queue, result }, 0);
    this.pending.set({ queue }, 0);
  }

  untrack(queue: string): void {
    for (const result of ['delivered', 'retry', 'failed']) this.deliveries.remove({ queue, result });
    this.pending.remove({ queue });
  }
}
