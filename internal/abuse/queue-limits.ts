import type { BucketLimits } from './token-bucket';

export type ChallengeMode = 'off' | 'always' | 'auto';

/** The abuse settings of one queue. */
export interface QueueLimits {
  /** Per client address, shared by all replicas; burst 0 = no join limit. */
  readonly join: BucketLimits;
  /** POST /claim per client address per minute; 0 = no limit. */
  readonly claimPerMinute: number;
  readonly challenge: {
    readonly mode: ChallengeMode;
    /** auto: the queue-wide joins per second above which a challenge is asked. */
    readonly autoJoinsPerSecond: number;
  };
}

/**
 * Where the limits of a queue come from. Today every queue gets the global
 * settings from the environment (StaticLimits); a per-queue settings store can
 * implement this interface and return each queue's own values, falling back to
 * the global ones, without any change to the code that enforces them.
 */
export interface LimitsProvider {
  limitsFor(queueId: string): QueueLimits;
}

/** The same limits for every queue. */
export class StaticLimits implements LimitsProvider {
  private readonly limits: QueueLimits;

  constructor(limits: QueueLimits) {
    this.limits = Object.freeze({ ...limits, join: Object.freeze({ ...limits.join }), challenge: Object.freeze({ ...limits.challenge }) });
  }

  limitsFor(_queueId: string): QueueLimits {
    return this.limits;
  }
}
