import type { LimitVerdict } from '../abuse/token-bucket';

/**
 * What a queue does with visitors (docs/system.md, "Queue states"):
 * - open: admits by rate (W += S every I);
 * - paused: joins accepted, no advance (the emergency stop);
 * - passthrough: the waiting room is off, every ticket is admitted at once;
 * - closed: no new joins, the window stays where it is.
 */
export const QUEUE_MODES = ['open', 'paused', 'passthrough', 'closed'] as const;
export type QueueMode = (typeof QUEUE_MODES)[number];

export function isQueueMode(s: unknown): s is QueueMode {
  return typeof s === 'string' && (QUEUE_MODES as readonly string[]).includes(s);
}

/** Settings the ticker applies to a queue; stored in the queue state so all replicas agree. */
export interface QueueSettings {
  readonly windowSize: number;
  readonly intervalMs: number;
  readonly activeWindowCount: number;
  readonly mode: QueueMode;
  /** Store-clock epoch ms at which a pre-queue opens; 0 for none. */
  readonly opensAtMs: number;
  /**
   * The capacity cap: at most this many admitted visitors on the site at once (docs/system.md,
   * "Occupancy"); 0 or absent for none (admission by rate only).
   */
  readonly maxActive?: number;
  /**
   * The queue-length alert (internal/queue/length-alert.ts): fire when waiting >= threshold,
   * re-arm when waiting < clearBelow. 0 or absent for none. Kept in the state hash beside the
   * rate settings, where join.lua and advance-window.lua read them.
   */
  readonly lengthAlertThreshold?: number;
  readonly lengthAlertClearBelow?: number;
}

/** One consistent read of a queue's shared state. */
export interface QueueSnapshot extends QueueSettings {
  /** Random id made when the state was created; changes if Redis loses the queue. */
  readonly epoch: string;
  /** W: highest admitted ticket. */
  readonly windowEnd: number;
  /** Store-clock epoch ms at which the next advance is due. */
  readonly nextDueMs: number;
  /** Bumped on every change; orders snapshots that arrive by different paths. */
  readonly version: number;
  /** Highest ticket issued so far. */
  readonly counter: number;
  /** The store's clock (Redis TIME) when this snapshot was read. */
  readonly storeNowMs: number;
  /**
   * 1 while admissions are held because the site (the origin) is unhealthy (set-origin-hold.lua);
   * 0 or absent otherwise. Visitors see "the site is busy, your place is kept", ETA unknown.
   */
  readonly originHold?: number;
}

export type AdvanceOutcome = 'advanced' | 'skipped' | 'not_due' | 'held' | 'full' | 'not_leader' | 'missing' | 'rolled_back';

/**
 * What a replica has already seen of its queue (docs/system.md, "A store that goes
 * backwards"). Every value came from a store reply or a signed ticket, so the store held at
 * least this much in `epoch`; a store state below it went backwards and must not issue
 * another ticket in that epoch.
 */
export interface HighWater {
  /** The epoch the values below belong to; '' when nothing was seen yet. */
  readonly epoch: string;
  /** Highest counter seen in that epoch (store replies and valid tickets). */
  readonly counter: number;
  /** Highest window end seen in that epoch. */
  readonly windowEnd: number;
  /** Highest state version seen in that epoch. */
  readonly version: number;
  /** Epochs seen replaced by a newer one: they come back only in a restored copy. */
  readonly retired: readonly string[];
}

export const NOTHING_SEEN: HighWater = Object.freeze({ epoch: '', counter: 0, windowEnd: 0, version: 0, retired: Object.freeze([]) });

/** Why the store's state was found behind what was seen (the scripts' reason strings). */
export const ROLLBACK_REASONS = ['retired_epoch', 'window_above_counter', 'counter_below_seen', 'window_below_seen', 'version_below_seen'] as const;
export type RollbackReason = (typeof ROLLBACK_REASONS)[number];

/** The result of ensureQueue: the state, and whether this call made a new epoch and why. */
export interface EnsuredQueue extends QueueSnapshot {
  /** True when this call created the state (missing, or re-created after a rollback). */
  readonly created: boolean;
  /** Set when the state was re-created because the store went backwards. */
  readonly rollback?: RollbackReason;
}

export interface AdvanceResult {
  readonly outcome: AdvanceOutcome;
  /** Present unless outcome is not_leader, missing or rolled_back. */
  readonly snapshot?: QueueSnapshot;
  /** Set when outcome is rolled_back. */
  readonly rollback?: RollbackReason;
  /** How late the step ran against its due time (advanced or skipped), in ms. */
  readonly lagMs: number;
  /** Places taken on the site after this step (0 when the step did not count them: held, not due without a cap). */
  readonly occupancy?: number;
  /** Outcome full (or not_due with a cap): store-clock ms when a place frees by itself; 0 for none. */
  readonly nextFreeMs?: number;
  /** Outcome advanced with no-show compensation: tickets marked gone that the window moved over. */
  readonly skipped?: number;
}

export interface IssuedTickets {
  /** The first ticket of the batch; the batch is first..first+count-1. */
  readonly first: number;
  /** Tickets issued: with a join limit, only the joins it allowed (possibly 0). */
  readonly count: number;
  readonly snapshot: QueueSnapshot;
  /**
   * With a join limit taken in the same step: one verdict per join asked for, in order; the
   * allowed ones got first..first+count-1 in their order.
   */
  readonly verdicts?: readonly LimitVerdict[];
}
