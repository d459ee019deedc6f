import type { Logger } from 'pino';
import type { WebhookStore } from './webhook-store';
import type { WebhookEndpoint } from './webhook-types';

/**
 * This replica's copy of the webhook endpoints, re-read every `refreshMs` (one HGETALL of
 * one key, however many queues the replica dispatches). An endpoint created or changed on
 * another replica is used within one period; the admin API on this replica refreshes at once.
 */
export class EndpointCache {
  private list: readonly WebhookEndpoint[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private loaded = false;
  /** When the last successful read was sent (this replica's clock, ms). */
  private readSentAtMs = 0;
  /** Which endpoint takes which queue's events, as of the last read (what `onChange` watches). */
  private routes = '';
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly store: WebhookStore,
    private readonly refreshMs: number,
    private readonly log: Logger,
  ) {}

  get endpoints(): readonly WebhookEndpoint[] {
    return this.list;
  }

  /** False until the first read succeeded: a dispatcher must not ack entries against an empty list. */
  get ready(): boolean {
    return this.loaded;
  }

  /** Reads the endpoints now; throws when the store cannot be read. */
  async load(): Promise<void> {
    const sentAt = Date.now();
    const list = await this.store.listEndpoints();
    const routes = list.map((e) => JSON.stringify([e.id, e.queue])).sort().join('\n');
    const changed = !this.loaded || routes !== this.routes;
    this.list = list;
    this.loaded = true;
    this.readSentAtMs = sentAt;
    this.routes = routes;
    if (!changed) return;
    for (const l of this.listeners) {
      try {
        l();
      } catch (err) {
        this.log.error({ err }, 'webhook endpoint listener failed');
      }
    }
  }

  /**
   * Called after the first read and after every read that added or removed an endpoint or
   * moved one to another queue: what can make a queue's dispatcher wanted or not.
   */
  onChange(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /**
   * The endpoints as of no earlier than `ms`: read again first when the copy is older.
   * A dispatcher matches an entry only against a copy read after the entry was appended,
   * or an endpoint created just before the entry, on another replica, could be missed
   * and the entry acknowledged without it.
   */
  async asOf(ms: number): Promise<readonly WebhookEndpoint[]> {
    if (!this.loaded || this.readSentAtMs <= ms) await this.load();
    return this.list;
  }

  async refresh(): Promise<void> {
    try {
      await this.load();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not read webhook endpoints; keeping the last copy');
    }
  }

  start(): void {
    if (this.timer || this.closed) return;
    const loop = async () => {
      await this.refresh();
      if (!this.closed) this.timer = setTimeout(() => void loop(), this.refreshMs);
    };
    void loop();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
