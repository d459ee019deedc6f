/**
 * Every Redis key and channel name, in one place. The queue id sits in a
 * {hash tag} so that one queue's keys share a Redis Cluster slot, which the
 * multi-key Lua scripts require.
 */
export interface QueueKeys {
  /** Hash: epoch, windowEnd, nextDueMs, windowSize, intervalMs, activeWindowCount, version, createdAtMs. */
  readonly state: string;
  /** String: the ticket counter, INCRBY'd by join.lua. */
  readonly counter: string;
  /** String: the leader lease, value = owner id, with a PX TTL. */
  readonly leader: string;
  /** Pub/sub channel: JSON snapshot published on every window advance. */
  readonly events: string;
}

export const KEY_PREFIX = 'waitroom';

export function queueKeys(queueId: string): QueueKeys {
  const base = `${KEY_PREFIX}:{${queueId}}`;
  return Object.freeze({
    state: `${base}:state`,
    counter: `${base}:counter`,
    leader: `${base}:leader`,
    events: `${base}:events`,
  });
}
