import { msUntilNextTick, waitingCount } from '../queue/arithmetic';
import type { QueueSettings } from '../queue/queue-state';
import type { QueueStateCache } from '../queue/state-cache';
import type { QueueStore } from '../store/store';
import type { OverviewBody } from '../admin/admin-schemas';

export interface QueueOverviewDeps {
  readonly queueId: string;
  /** The queue's store, cache and current settings (the default queue's runtime). */
  readonly queue: () => { readonly store: QueueStore; readonly cache: QueueStateCache; readonly settings: QueueSettings };
  /** This replica's lease owner id and whether it leads now. */
  readonly replica: () => { owner: string; leader: boolean };
  /** Open event streams on this replica. */
  readonly streams: () => number;
}

/** What the operator view shows (GET /admin/state); its schema is OverviewBodySchema. */
export type QueueOverviewData = OverviewBody;

/**
 * The operator's view of the queue: the replica's cached state plus one
 * store read of the current lease holder (an admin request, not a hot path;
 * a store error propagates as 503 store_unavailable).
 */
export class QueueOverview {
  constructor(private readonly d: QueueOverviewDeps) {}

  async read(): Promise<QueueOverviewData> {
    const q = this.d.queue();
    const leader = await q.store.leaseHolder();
    const s = q.cache.peek();
    const age = q.cache.ageMs();
    return {
      queue: this.d.queueId,
      epoch: s?.epoch ?? null,
      counter: s?.counter ?? null,
      windowEnd: s?.windowEnd ?? null,
      waiting: s ? waitingCount(s.counter, s.windowEnd) : null,
      nextTickInMs: s ? Math.round(msUntilNextTick(s.nextDueMs, q.cache.storeNow())) : null,
      nextDueMs: s?.nextDueMs ?? null,
      version: s?.version ?? null,
      settings: q.settings,
      leader,
      replica: { ...this.d.replica(), stateAgeMs: Number.isFinite(age) ? Math.round(age) : null, eventStreams: this.d.streams() },
    };
  }
}
