import { viewTicket, waitingCount } from '../queue/arithmetic';
import type { QueueSnapshot } from '../queue/queue-state';

/** What one replica reports about one queue at scrape time. */
export interface QueueGaugeValues {
  /**
   * Seconds since the replica last confirmed the state; -1 while it has never
   * loaded it (the staleness alert treats -1 as stale, see docs/k8s.md).
   */
  readonly stateAgeSeconds: number;
  /** Absent until the state has been loaded once. */
  readonly window?: {
    readonly windowEnd: number;
    /** Highest ticket issued (the queue's ticket counter). */
    readonly lastTicket: number;
    readonly waiting: number;
    /** Wait of the newest ticket from now: 0 when nobody waits; absent while the queue is paused or closed (no ETA holds). */
    readonly lastTicketEtaSeconds: number | undefined;
  };
}

/**
 * The per-queue gauges, computed when Prometheus scrapes rather than when a
 * visitor joins: a value set on join froze at the last join's ETA, while this
 * one counts down with the clock and drops to 0 once the newest ticket is in.
 * Pure: the snapshot, the store clock and the state's age are arguments.
 */
export function queueGauges(snapshot: QueueSnapshot | undefined, storeNowMs: number, ageMs: number): QueueGaugeValues {
  const stateAgeSeconds = snapshot !== undefined && Number.isFinite(ageMs) ? Math.max(0, ageMs) / 1000 : -1;
  if (!snapshot) return { stateAgeSeconds };
  return {
    stateAgeSeconds,
    window: {
      windowEnd: snapshot.windowEnd,
      lastTicket: snapshot.counter,
      waiting: waitingCount(snapshot.counter, snapshot.windowEnd),
      lastTicketEtaSeconds: viewTicket(snapshot.counter, snapshot, storeNowMs).etaSeconds ?? undefined,
    },
  };
}
