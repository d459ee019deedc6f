import type { AdvanceResult, EnsuredQueue, HighWater, IssuedTickets, QueueSettings, QueueSnapshot, RollbackReason } from '../queue/queue-state';

/** A live subscription to a queue's published snapshots. */
export interface Subscription {
  close(): Promise<void>;
}

/** Integrity events a store reports (for metrics; the store logs them itself). */
export interface StoreIntegrityHooks {
  /** A script (or the embedded store) found a damaged state; `detail` names the field and value. */
  readonly onCorrupt?: (detail: string) => void;
  /** The state went backwards and a new epoch was started. */
  readonly onRollback?: (reason: RollbackReason) => void;
}

/**
 * Everything waitroom asks of its shared store, for one queue. Implemented by
 * RedisQueueStore (replicated) and by the embedded single-process store; the
 * same contract tests run against both. Every method that reads, checks and
 * writes shared state is atomic.
 */
export interface QueueStore {
  readonly queueId: string;
  /**
   * Creates the queue (new random epoch, W = S) if missing, or anew if the state is behind
   * `seen` (ensure-queue.lua), then reads it. A damaged state throws 503 state_corrupt.
   */
  ensureQueue(settings: QueueSettings, seen?: HighWater): Promise<EnsuredQueue>;
  /**
   * Issues `count` consecutive tickets, creating the queue first if it is missing and
   * starting a new epoch first if the state is behind `seen`.
   */
  issueTickets(count: number, settings: QueueSettings, seen?: HighWater): Promise<IssuedTickets>;
  /** One ticker step, fenced by the lease of `owner` (see advance-window.lua); rolled_back if behind `seen`. */
  advance(owner: string, settings: QueueSettings, seen?: HighWater): Promise<AdvanceResult>;
  /** SET NX PX: true if `owner` now holds the lease. */
  acquireLease(owner: string, ttlMs: number): Promise<boolean>;
  /** Compare-and-pexpire: false if the lease is no longer `owner`'s. */
  renewLease(owner: string, ttlMs: number): Promise<boolean>;
  /** Compare-and-delete: true if `owner` held it and it is now free. */
  releaseLease(owner: string): Promise<boolean>;
  /** Current lease holder, or null. */
  leaseHolder(): Promise<string | null>;
  /** Delivers every snapshot published by an advance. */
  subscribe(onSnapshot: (s: QueueSnapshot) => void): Promise<Subscription>;
  /** Throws if the store cannot be reached. */
  ping(): Promise<void>;
  /** True while the connection is believed usable. */
  isReady(): boolean;
  close(): Promise<void>;
}
