/** Settings the ticker applies to a queue; stored in the queue state so all replicas agree. */
export interface QueueSettings {
  readonly windowSize: number;
  readonly intervalMs: number;
  readonly activeWindowCount: number;
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
}

export type AdvanceOutcome = 'advanced' | 'skipped' | 'not_due' | 'not_leader' | 'missing';

export interface AdvanceResult {
  readonly outcome: AdvanceOutcome;
  /** Present unless outcome is not_leader or missing. */
  readonly snapshot?: QueueSnapshot;
  /** How late the step ran against its due time (advanced or skipped), in ms. */
  readonly lagMs: number;
}

export interface IssuedTickets {
  /** The first ticket of the batch; the batch is first..first+count-1. */
  readonly first: number;
  readonly count: number;
  readonly snapshot: QueueSnapshot;
}
