/**
 * Every Redis key and channel name, in one place. The queue id sits in a
 * {hash tag} so that one queue's keys share a Redis Cluster slot, which the
 * multi-key Lua scripts require.
 */
export interface QueueKeys {
  /**
   * Hash: epoch, windowEnd, nextDueMs, windowSize, intervalMs, activeWindowCount, version,
   * createdAtMs, mode (open|paused|passthrough|closed; absent = open), opensAtMs (0 = none),
   * maxActive (the capacity cap; absent or 0 = none), lengthAlertThreshold and
   * lengthAlertClearBelow (the queue-length alert; absent or 0 = none) and lengthAlertFired
   * (1 from queue.length_exceeded until queue.length_recovered; internal/queue/length-alert.ts).
   */
  readonly state: string;
  /**
   * Hash: doc (JSON of the queue's descriptive settings: name, message, targetUrl,
   * branding, createdAt, updatedAt) and version (the ETag, bumped by every change).
   * The rate settings (S, I, K, mode, opensAt) live in `state`, where the scripts read them.
   */
  readonly config: string;
  /** String: the ticket counter, INCRBY'd by join.lua. */
  readonly counter: string;
  /** String: the leader lease, value = owner id, with a PX TTL. */
  readonly leader: string;
  /** Sharded pub/sub channel (SPUBLISH/SSUBSCRIBE, same slot as the keys): JSON snapshot published on every window advance. */
  readonly events: string;
  /**
   * Stream: the queue's durable events (docs/events.md), appended by the script that makes
   * each change, trimmed with MAXLEN ~. Kept when the queue is deleted (it ends with queue.deleted).
   */
  readonly eventStream: string;
  /** String: the webhook dispatcher's lease (owner id, PX TTL), apart from the ticker's. */
  readonly webhookDispatcher: string;
  /** Sorted set: "<endpoint id> <stream entry id>" of every delivery awaiting a retry, scored by its due ms. */
  readonly webhookRetries: string;
  // --- admission (docs/admission.md) ---
  /** String per claimed ticket: the pass issued for it, TTL = the ticket's remaining lifetime. */
  passClaim(epoch: string, ticket: number): string;
  /** Sorted set: jti of every pass issued and not yet done, scored by its exp (ms). */
  readonly passes: string;
  /** Sorted set: jti of every pass marked done and not yet expired, scored by its exp (ms). */
  readonly revokedPasses: string;
  /** Hash: claimed, completed, abandoned, timedOut counters for capacity reports. */
  readonly passStats: string;
  /** Sharded pub/sub channel: "<jti> <expMs>" published when a pass is marked done. */
  readonly passRevocations: string;
  // --- occupancy (docs/system.md, "Occupancy") ---
  /**
   * Hash: epoch, pending (admitted tickets not yet claimed whose claim window is open),
   * openFrom (lowest ticket whose claim window is open), lastCloseMs, slotUsed, slotDueMs.
   */
  readonly occupancy: string;
  /** Sorted set: one member per advance, the highest ticket it admitted, scored by when its claim window closes (ms). */
  readonly claimWindows: string;
  /** Sorted set: tickets claimed inside their open claim window, scored by ticket number. */
  readonly claimedTickets: string;
  // --- no-show compensation (docs/system.md, "No-shows") ---
  /**
   * String used as a bitmap per epoch: bit t set = ticket t left the line (mark-gone.lua) and
   * has not come back (unmark-gone.lua); once t <= W a set bit means its turn was skipped.
   * 125 KB per million tickets; expires after the last ticket it can matter to.
   */
  gone(epoch: string): string;
  /**
   * String used as a bitmap per epoch and period: bit t set = some replica heard from waiting
   * ticket t in that period (sweep-gone.lua), so no replica marks it gone for going quiet.
   */
  seen(epoch: string, period: number): string;
  // --- abuse limits (docs/admission.md, "Limits and abuse") ---
  /** Hash per client address: the join token bucket of rate-limit.lua (tokens, ts). */
  joinLimit(client: string): string;
  /** Prefix of rate-limit-redis's fixed-window counters for POST /claim (it appends the client address). */
  readonly claimLimitPrefix: string;
  /** String per solved ALTCHA challenge, SET NX with the challenge's remaining lifetime: refuses a replay. */
  challengeUsed(id: string): string;
  /** HyperLogLog per pass: the distinct clients it was used from (pass-clients.lua). */
  passClients(jti: string): string;
  // --- the operator console's flow samples (docs/operations.md, "The operator's console") ---
  /** Stream: one entry per second with a change (id = second in ms; fields i = counter, a = W), the last hour. */
  readonly flowSeconds: string;
  /** Stream: one entry per minute with a change (id = minute in ms; fields i, a), the last 7 days. */
  readonly flowMinutes: string;
}

export const KEY_PREFIX = 'waitroom';

export function queueKeys(queueId: string): QueueKeys {
  const base = `${KEY_PREFIX}:{${queueId}}`;
  return Object.freeze({
    state: `${base}:state`,
    config: `${base}:config`,
    counter: `${base}:counter`,
    leader: `${base}:leader`,
    events: `${base}:events`,
    eventStream: `${base}:event-stream`,
    webhookDispatcher: `${base}:webhook-dispatcher`,
    webhookRetries: `${base}:webhook-retries`,
    passClaim: (epoch: string, ticket: number) => `${base}:pass:${epoch}:${ticket}`,
    passes: `${base}:passes`,
    revokedPasses: `${base}:revoked-passes`,
    passStats: `${base}:pass-stats`,
    passRevocations: `${base}:pass-revocations`,
    occupancy: `${base}:occupancy`,
    claimWindows: `${base}:claim-windows`,
    claimedTickets: `${base}:claimed-tickets`,
    gone: (epoch: string) => `${base}:gone:${epoch}`,
    seen: (epoch: string, period: number) => `${base}:seen:${epoch}:${period}`,
    joinLimit: (client: string) => `${base}:limit:join:${client}`,
    claimLimitPrefix: `${base}:limit:claim:`,
    challengeUsed: (id: string) => `${base}:challenge-used:${id}`,
    passClients: (jti: string) => `${base}:pass-clients:${jti}`,
    flowSeconds: `${base}:flow:s`,
    flowMinutes: `${base}:flow:m`,
  });
}

/**
 * Keys shared by every queue. Each is a single key in its own slot and is only
 * ever read or written by single-key commands or scripts, never together with a
 * queue's keys (Redis Cluster refuses cross-slot scripts).
 */
export interface GlobalKeys {
  /** Hash: queue id -> config version. The registry every replica reconciles against. */
  readonly registry: string;
  /** Sharded pub/sub channel (SPUBLISH/SSUBSCRIBE, the {registry} slot): "set <id> <version>" or "del <id>" on every registry change. */
  readonly registryChanges: string;
  /** String: the change sequence, INCR'd by every entry of the change log (registry-touch.lua). */
  readonly changeSeq: string;
  /**
   * Sorted set: the change log, queue id scored by the sequence of its latest change (config,
   * state or revocations). Every replica polls it once per STATE_REFRESH_MS (registry-poll.lua:
   * a GET of changeSeq and of changeLogId while nothing changed) and re-reads only the queues
   * listed.
   */
  readonly changed: string;
  /**
   * Hash: queue id -> "<author> <before> <seq>", who made the queue's latest logged changes
   * (registry-touch.lua): a replica skips re-reading a queue whose every change since its last
   * poll it made and applied itself.
   */
  readonly changedBy: string;
  /**
   * String: the change log's id, made from Redis's TIME by the first poll that finds none
   * (registry-poll.lua). A log lost with all of Redis's data comes back with a new id, which
   * tells a replica so even when the new sequence has already passed the one it last read (a
   * partial loss keeps the id).
   */
  readonly changeLogId: string;
  /** Stream: the admin audit log, capped (XADD MAXLEN ~). */
  readonly audit: string;
  /** Sorted set: live replica ids scored by their last heartbeat (ms); spreads queue leases. */
  readonly replicas: string;
}

export const globalKeys: GlobalKeys = Object.freeze({
  registry: `${KEY_PREFIX}:{registry}:queues`,
  registryChanges: `${KEY_PREFIX}:{registry}:changes`,
  changeSeq: `${KEY_PREFIX}:{registry}:change-seq`,
  changed: `${KEY_PREFIX}:{registry}:changed`,
  changedBy: `${KEY_PREFIX}:{registry}:changed-by`,
  changeLogId: `${KEY_PREFIX}:{registry}:change-log-id`,
  audit: `${KEY_PREFIX}:{audit}:log`,
  replicas: `${KEY_PREFIX}:{replicas}:live`,
});

/** The consumer group every queue's webhook dispatcher reads its event stream with. */
export const WEBHOOK_CONSUMER_GROUP = 'waitroom-webhooks';

/**
 * Webhook endpoints and their delivery records, in their own `{webhooks}` slot: read and
 * written apart from any queue's keys (a delivery touches the queue's slot, then this one).
 */
export const webhookKeys = Object.freeze({
  /** Hash: endpoint id -> endpoint JSON (internal/webhooks/webhook-types.ts). */
  endpoints: `${KEY_PREFIX}:{webhooks}:endpoints`,
  /** Hash: endpoint id -> ms of its first failure since its last success. */
  failingSince: `${KEY_PREFIX}:{webhooks}:failing-since`,
  /** Hash per endpoint: event id -> delivery JSON (the newest N). */
  deliveries: (id: string) => `${KEY_PREFIX}:{webhooks}:deliveries:${id}`,
  /** Sorted set per endpoint: event id by last attempt ms, to list and trim the records. */
  deliveryIndex: (id: string) => `${KEY_PREFIX}:{webhooks}:delivery-index:${id}`,
});
