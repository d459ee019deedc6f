import type { AdvanceResult, IssuedTickets, QueueSettings, QueueSnapshot } from '../queue/queue-state';

/** A live subscription to a queue's published snapshots. */
export interface Subscription {
  close(): Promise<void>;
}

/**
 * Everything waitroom asks of its shared store, for one queue. Implemented by
 * RedisQueueStore (replicated) and by the embedded single-process store; the
 * same contract tests run against both. Every method that reads, checks and
 * writes shared state is atomic.
 */
export interface QueueStore {
  readonly queueId: string;
  /** Creates the queue (new random epoch, W = S) if missing, then reads it. */
  ensureQueue(settings: QueueSettings): Promise<QueueSnapshot & { readonly created: boolean }>;
  /** Issues `count` consecutive tickets, creating the queue first if it is missing. */
  issueTickets(count: number, settings: QueueSettings): Promise<IssuedTickets>;
  /** One ticker step, fenced by the lease of `owner` (see advance-window.lua). */
  advance(owner: string, settings: QueueSettings): Promise<AdvanceResult>;
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
