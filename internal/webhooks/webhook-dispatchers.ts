import type { Logger } from 'pino';
import type { QueueRegistry } from '../queues/queue-registry';
import { EndpointCache } from './endpoint-cache';
import { WebhookDispatcher, type DispatcherSettings } from './webhook-dispatcher';
import type { WebhookMetrics } from './webhook-metrics';
import { WebhookSender, type SenderSettings } from './webhook-sender';
import type { WebhookStore } from './webhook-store';

export interface WebhookDispatchersOptions {
  readonly store: WebhookStore;
  readonly registry: QueueRegistry;
  readonly owner: string;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  readonly sender: SenderSettings;
  readonly dispatcher: DispatcherSettings;
}

/**
 * One WebhookDispatcher per queue this replica serves, following the registry (a queue
 * created gets one, a deleted one's is closed). Every replica runs one per queue; the
 * per-queue lease lets one of them deliver.
 */
export class WebhookDispatchers {
  readonly endpoints: EndpointCache;
  private readonly sender: WebhookSender;
  private readonly running = new Map<string, WebhookDispatcher>();
  private unlisten: (() => void) | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly o: WebhookDispatchersOptions) {
    this.endpoints = new EndpointCache(o.store, o.dispatcher.pollMs, o.logger.child({ component: 'webhook-endpoints' }));
    this.sender = new WebhookSender(o.sender);
  }

  get(queueId: string): WebhookDispatcher | undefined {
    return this.running.get(queueId);
  }

  start(): void {
    if (this.closed || this.unlisten) return;
    this.endpoints.start();
    // A dispatcher of a queue no endpoint takes sleeps with no timer; an endpoint change wakes it.
    const offEndpoints = this.endpoints.onChange(() => {
      for (const d of this.running.values()) d.wake();
    });
    const offRegistry = this.o.registry.onChange((id, runtime) => (runtime ? this.add(id) : void this.remove(id)));
    this.unlisten = () => {
      offEndpoints();
      offRegistry();
    };
    for (const r of this.o.registry.list()) this.add(r.id);
  }

  private add(id: string): void {
    if (this.closed || this.running.has(id)) return;
    const d = new WebhookDispatcher({
      queueId: id,
      store: this.o.store.queue(id),
      webhooks: this.o.store,
      endpoints: this.endpoints,
      sender: this.sender,
      owner: this.o.owner,
      logger: this.o.logger.child({ component: 'webhooks', queue: id }),
      metrics: this.o.metrics,
      settings: this.o.dispatcher,
      // The replica placed to lead the queue's ticker holds its dispatcher too: the others make no lease calls.
      eligible: () => this.o.registry.shouldLead(id),
    });
    this.running.set(id, d);
    d.start();
  }

  private async remove(id: string): Promise<void> {
    const d = this.running.get(id);
    if (!d) return;
    this.running.delete(id);
    await d.close();
  }

  /** Closes every dispatcher (releasing their leases) and the endpoint refresh. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.unlisten?.();
      await Promise.all([...this.running.keys()].map((id) => this.remove(id)));
      this.endpoints.close();
      this.sender.close();
    })();
    return this.closing;
  }
}
