import type { ReadyzBody } from './visitor-schemas';
import type { QueueStateCache } from '../queue/state-cache';

/** Why /readyz answers 503 (its schema is ReadyzBodySchema), or null when ready. */
export type NotReadyReason = Extract<ReadyzBody, { status: 'not_ready' }>['reason'] | null;

/** Readiness: Redis reachable, queue state loaded and fresh, and not shutting down. */
export class Readiness {
  private draining = false;

  constructor(
    private readonly store: { isReady(): boolean },
    /** The default queue's cache: the replica serves once that queue is loaded and fresh. */
    private readonly cache: () => QueueStateCache | undefined,
  ) {}

  /** Called the moment SIGTERM arrives; readiness is 503 from then on. */
  beginDrain(): void {
    this.draining = true;
  }

  isDraining(): boolean {
    return this.draining;
  }

  reason(): NotReadyReason {
    if (this.draining) return 'shutting_down';
    if (!this.store.isReady()) return 'store_unreachable';
    const cache = this.cache();
    if (cache?.isCorrupt()) return 'state_corrupt';
    if (!cache?.peek()) return 'state_not_loaded';
    if (!cache.isFresh()) return 'state_stale';
    return null;
  }
}
