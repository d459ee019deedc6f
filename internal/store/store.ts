import type { BucketLimits } from '../abuse/token-bucket';
import type { AdvanceResult, EnsuredQueue, HighWater, IssuedTickets, QueueSettings, QueueSnapshot, RollbackReason } from '../queue/queue-state';

/** The join limit of a batch of joins taken with their tickets: one client address per join, in arrival order. */
export interface JoinLimitBatch {
  readonly clients: readonly string[];
  readonly limits: BucketLimits;
}

export type OriginHoldResult = { readonly outcome: 'changed' | 'unchanged'; readonly snapshot: QueueSnapshot } | { readonly outcome: 'missing' };

/**
 * mark-gone.lua: how many of the tickets were marked gone now, were already, or were not waiting
 * (admitted: nothing to leave); `reset` when the store holds another epoch (the tickets are void).
 */
/** Who held or resumed a queue's admissions, and why (the events' source and reason). */
export interface OriginHoldReason {
  readonly source: 'probe' | 'site';
  /** For people: the probe's error or the site's reason; cut to 500 bytes. */
  readonly reason: string;
}

/** The reason as the event carries it: at most 500 bytes of UTF-8, never half a character. */
export function originHoldReasonText(reason: string): string {
  // TextEncoder rather than Buffer: the embedded store also runs in the console's what-if worker.
  const bytes = new TextEncoder().encode(reason);
  return bytes.length <= 500 ? reason : new TextDecoder().decode(bytes.subarray(0, 500)).replace(/\uFFFD$/, '');
}

export type MarkGoneResult =
  | { readonly outcome: 'ok'; readonly windowEnd: number; readonly marked: number; readonly already: number; readonly admitted: number }
  | { readonly outcome: 'reset' };

/**
 * unmark-gone.lua: unmarked (was gone, keeps its place), present (waiting, was not gone),
 * skipped (its turn came while it was gone), admitted (its turn came, it was not gone), reset.
 */
export type UnmarkGoneResult = { readonly outcome: 'unmarked' | 'present' | 'skipped' | 'admitted'; readonly windowEnd: number } | { readonly outcome: 'reset' };

/** sweep-gone.lua: how many quiet tickets were marked gone; `reset` for another epoch. */
export type SweepGoneResult = { readonly outcome: 'ok'; readonly windowEnd: number; readonly marked: number } | { readonly outcome: 'reset' };

/** The presence a replica reports in one sweep (sweep-gone.lua). */
export interface PresenceSweep {
  /** Current period number (ms since the Unix epoch ÷ periodMs, floored) and the periods checked, this one included. */
  readonly period: number;
  readonly periodsChecked: number;
  /** Waiting tickets this replica heard from since its last sweep. */
  readonly seen: readonly number[];
  /** Tickets this replica has not heard from for the queue's grace. */
  readonly quiet: readonly number[];
  /** Lifetimes: of the gone bitmap (as markGone) and of a seen bitmap. */
  readonly goneLifetimeMs: number;
  readonly seenLifetimeMs: number;
}

/** What the leader asks of one advance beyond what the stored state says. */
export interface AdvanceOptions {
  /**
   * No-show compensation (the queue's compensateNoShows): 0 off; else B, the most W moves per
   * advance in multiples of the tickets it admits (arithmetic.ts NO_SHOW_MAX_MOVE).
   */
  readonly maxMove?: number;
}

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
   * Creates the queue state (new random epoch, W = S, or W = 0 until a future opensAt) if
   * missing, or anew if the state is behind `seen` (ensure-queue.lua), then reads it.
   * `settings` are used only when the state is missing (a new epoch after a rollback keeps the
   * stored settings). A damaged state throws 503 state_corrupt.
   */
  ensureQueue(settings: QueueSettings, seen?: HighWater): Promise<EnsuredQueue>;
  /**
   * Issues `count` consecutive tickets, creating the queue first if it is missing and
   * starting a new epoch first if the state is behind `seen`.
   * Throws QueueClosedError (410) when the queue is closed.
   * With `limit` (one client address per ticket wanted, in order), each join first takes a
   * token from its address's join bucket in the same atomic step (join.lua), and only the
   * joins allowed get tickets; the result carries one verdict per join. The buckets are the
   * ones takeJoinToken (rate-limit.lua) takes from.
   */
  issueTickets(count: number, settings: QueueSettings, seen?: HighWater, limit?: JoinLimitBatch): Promise<IssuedTickets>;
  /**
   * One ticker step, fenced by the lease of `owner`; S, I, K and the mode come from the store
   * (advance-window.lua); rolled_back if behind `seen`.
   */
  advance(owner: string, seen?: HighWater, options?: AdvanceOptions): Promise<AdvanceResult>;
  /**
   * Marks waiting tickets of `epoch` as gone (mark-gone.lua): one call for a visitor who leaves,
   * or for a replica's batch of stale visitors. The bitmap lives at least `lifetimeMs` from now.
   */
  markGone(epoch: string, tickets: readonly number[], lifetimeMs: number): Promise<MarkGoneResult>;
  /**
   * One replica's presence batch (sweep-gone.lua): records `seen`, marks the `quiet` tickets no
   * replica heard from in the periods checked. At most 10,000 tickets in all.
   */
  sweepGone(epoch: string, sweep: PresenceSweep): Promise<SweepGoneResult>;
  /** A visitor who left is back (unmark-gone.lua): keeps its place unless its turn was skipped. */
  unmarkGone(epoch: string, ticket: number): Promise<UnmarkGoneResult>;
  /**
   * The tickets from..to of `epoch` marked gone (one GETRANGE of the bytes that hold them).
   * Replicas read each newly admitted range once, so /status can answer "skipped" without a
   * store call.
   */
  readGone(epoch: string, from: number, to: number): Promise<number[]>;
  /**
   * Holds (true) or resumes (false) admissions because the queue's site is unhealthy
   * (set-origin-hold.lua); a change bumps the state version and is published.
   */
  /**
   * Holds (or resumes) admissions for the site's health (set-origin-hold.lua); a change appends
   * queue.origin_held / queue.origin_recovered with who decided and why.
   */
  setOriginHold(hold: boolean, why?: OriginHoldReason): Promise<OriginHoldResult>;
  /** SET NX PX: true if `owner` now holds the lease. */
  acquireLease(owner: string, ttlMs: number): Promise<boolean>;
  /** Compare-and-pexpire: false if the lease is no longer `owner`'s. */
  renewLease(owner: string, ttlMs: number): Promise<boolean>;
  /** Compare-and-delete: true if `owner` held it and it is now free. */
  releaseLease(owner: string): Promise<boolean>;
  /** Current lease holder, or null. */
  leaseHolder(): Promise<string | null>;
  /** Delivers every snapshot published by an advance, a settings change or the first waiting join. */
  subscribe(onSnapshot: (s: QueueSnapshot) => void): Promise<Subscription>;
  /** Throws if the store cannot be reached. */
  ping(): Promise<void>;
  /** True while the connection is believed usable. */
  isReady(): boolean;
  /** Closes this queue's subscriptions (and the connection, if this handle owns it). */
  close(): Promise<void>;
}

/** A queue's stored record: the ETag version, its descriptive settings and its state. */
export interface StoredQueue {
  readonly id: string;
  /** Config version: the ETag, bumped by every change. */
  readonly version: number;
  /** JSON of the descriptive settings (internal/queues/queue-settings.ts, QueueDoc). */
  readonly doc: string;
  readonly snapshot: QueueSnapshot;
}

export type CreateQueueResult = { readonly outcome: 'created'; readonly stored: StoredQueue } | { readonly outcome: 'exists'; readonly version: number };
export type UpdateQueueResult =
  | { readonly outcome: 'updated'; readonly stored: StoredQueue }
  | { readonly outcome: 'missing' }
  | { readonly outcome: 'conflict'; readonly version: number };
export type DeleteQueueResult =
  | { readonly outcome: 'deleted'; readonly version: number }
  | { readonly outcome: 'missing' }
  | { readonly outcome: 'conflict'; readonly version: number };

/** What an update changed, field by field: the body of its queue.updated event. */
export type QueueChange = Readonly<Record<string, { readonly before: unknown; readonly after: unknown }>>;

/** One entry of a queue's event stream as stored: id "<ms>-<seq>" and flat fields type, time, body. */
export interface StoredStreamEntry {
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
}

/**
 * The change log as one replica reads it: the current sequence and the queues changed after
 * the sequence it asked from; `changed` is null when the log is behind that sequence, or is
 * not the log this reader read before (its id changed: Redis lost all its data, or was
 * replaced, and the log started again): the reader must then re-read every queue.
 */
export interface ChangeLog {
  readonly seq: number;
  readonly changed: readonly string[] | null;
  /**
   * Those of `changed` whose every change since the sequence asked from was logged by the
   * author asked about, as held by it (touch's `author`): that replica's copy has them already.
   * Absent when no author was asked about or the store does not record authors.
   */
  readonly authored?: readonly string[];
}

export type RegistryChange = { readonly op: 'set'; readonly id: string; readonly version: number } | { readonly op: 'del'; readonly id: string };

/** One audit log entry as stored: flat string fields. */
export interface StoredAuditEntry {
  /** Stream id: "<ms>-<seq>", ordered. */
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
}

/**
 * The set of queues: their settings, the registry every replica reconciles
 * against, the replicas' heartbeats (to spread leases) and the audit log.
 * Implemented for Redis (RedisCatalog) and for the embedded store (MemoryCatalog);
 * test/store/catalog-contract.test.ts runs one suite against both.
 *
 * Every write to one queue is one script on that queue's keys; the registry,
 * the heartbeats and the audit log are separate keys written separately (in
 * Redis Cluster they live in other slots).
 */
export interface QueueCatalog {
  /** The store of one queue, sharing this catalog's connections. */
  queue(id: string): QueueStore;
  createQueue(id: string, doc: string, settings: QueueSettings): Promise<CreateQueueResult>;
  /** The queue's settings and state, or null when it does not exist. */
  readQueue(id: string): Promise<StoredQueue | null>;
  /** `change` becomes the body of the queue.updated event the same script appends. */
  updateQueue(id: string, expectedVersion: number, doc: string, settings: QueueSettings, change?: QueueChange): Promise<UpdateQueueResult>;
  /** expectedVersion undefined deletes whatever version it is. */
  deleteQueue(id: string, expectedVersion?: number): Promise<DeleteQueueResult>;
  /** The registry: queue id -> config version. */
  listQueues(): Promise<Map<string, number>>;
  /** Records a version in the registry (never an older one) and announces it. */
  registerQueue(id: string, version: number): Promise<void>;
  /** Drops a queue from the registry and announces it. */
  unregisterQueue(id: string): Promise<void>;
  subscribeRegistry(onChange: (c: RegistryChange) => void): Promise<Subscription>;
  /**
   * The change log since `since` (0: from the start). Every write that publishes a change of a
   * queue (its state, its settings, its revocations, its creation or deletion) logs it, so a
   * replica that polls this once per STATE_REFRESH_MS re-reads only the queues that changed
   * even if it missed their messages. While nothing changed it costs two GETs (in a script:
   * the sequence and the log's id).
   */
  changesSince(since: number, author?: string): Promise<ChangeLog>;
  /**
   * Logs a change of queue `id` (registry-touch.lua); the queue stores call it after each
   * published change. `author`: the replica whose copy of the queue already holds this change
   * (it wrote it and applied the reply), so that its own polls need not re-read it; '' (the
   * default) when no replica is known to hold it.
   */
  touch(id: string, author?: string): Promise<void>;
  /** Records this replica as alive for ttlMs; returns every live replica id, sorted. */
  heartbeat(replicaId: string, ttlMs: number): Promise<string[]>;
  /** Removes this replica from the live set at once (graceful shutdown), so its queues move now. */
  leave(replicaId: string): Promise<void>;
  /** Appends one entry to the capped audit log; returns its id. */
  appendAudit(fields: Readonly<Record<string, string>>, maxEntries: number): Promise<string>;
  /** Newest first; `before` (an entry id) pages further back. */
  readAudit(count: number, before?: string): Promise<StoredAuditEntry[]>;
  /** Oldest first: up to `count` entries of a queue's event stream strictly after `after` ("0" = from the start). */
  readEvents(queueId: string, after: string, count: number): Promise<StoredStreamEntry[]>;
  connect(): Promise<void>;
  ping(): Promise<void>;
  isReady(): boolean;
  close(): Promise<void>;
}
