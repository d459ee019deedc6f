import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { LimitVerdict } from '../abuse/token-bucket';
import { QueueClosedError, UnavailableError } from '../errors/errors';
import {
  isQueueMode,
  NOTHING_SEEN,
  type AdvanceOutcome,
  type AdvanceResult,
  type EnsuredQueue,
  type HighWater,
  type IssuedTickets,
  type QueueSettings,
  type QueueSnapshot,
  type RollbackReason,
} from '../queue/queue-state';
import { checkState } from '../queue/state-check';
import { awaitDurable, checkDurabilitySupport, type JoinDurability } from './durability';
import { queueKeys, type QueueKeys } from './keys';
import { storeCall, type StoreCallContext } from './redis-call';
import { RedisConnection, type StoreCommands } from './redis-connection';
import { parseRedisUrl } from './redis-url';
import { type AdvanceOptions, type MarkGoneResult, type OriginHoldReason, originHoldReasonText, type OriginHoldResult, type PresenceSweep, type QueueStore, type JoinLimitBatch, type StoreIntegrityHooks, type Subscription, type SweepGoneResult, type UnmarkGoneResult } from './store';

export { StoreTimeoutError } from './redis-call';

interface CommonStoreOptions extends StoreIntegrityHooks {
  readonly queueId: string;
  readonly logger: Logger;
  /**
   * Per-command timeout. A paused or partitioned Redis must turn into a fast 503,
   * not a request that hangs until the client gives up (default 1000 ms).
   */
  readonly commandTimeoutMs?: number;
  /** Called for every Redis error that reaches the store, for metrics. */
  readonly onError?: (err: unknown) => void;
  /** Wait for replicas or the AOF before a join's tickets are handed out (JOIN_DURABILITY). */
  readonly durability?: JoinDurability;
  /** A join whose durability wait fell short (its tickets were not handed out). */
  readonly onDurabilityShortfall?: () => void;
  /** Entries kept in the queue's event stream (XADD MAXLEN ~; docs/events.md). Default 100,000. */
  readonly eventStreamMaxLength?: number;
  /**
   * Called after every write that published a change of the queue's shared state (an advance,
   * the first waiting join, a new epoch, an origin hold, a revocation): the catalog logs it in
   * the change log (registry-touch.lua), which every replica polls. Never awaited by the writer.
   * `held`: this replica's copy of the queue applies the write's own reply (an advance, a
   * join), so its polls need not re-read the queue for it.
   */
  readonly onChanged?: (held: boolean) => void;
  /**
   * Joins that publish nothing (admitted at once, or behind others already waiting) still move
   * the counter other replicas show (waiting, issued): they are logged too, at most once per
   * `joinLogMs` per queue and replica, within `joinLogMs` of the join (trailing). 0: never.
   * Default 1000: a busy queue costs one registry-touch.lua a second per replica.
   */
  readonly joinLogMs?: number;
}

/** Default entries kept per queue event stream: about a day of 1 advance/s plus passes. */
export const DEFAULT_EVENT_STREAM_MAX_LENGTH = 100_000;

export type RedisStoreOptions =
  | (CommonStoreOptions & {
      /** Connections of its own (closed with the store), from any REDIS_URL form (redis-url.ts): tests and single-queue tools. */
      readonly url: string;
      /** PEM file of the CA for TLS schemes (REDIS_TLS_CA_FILE). */
      readonly tlsCaFile?: string;
    })
  | (CommonStoreOptions & {
      /** The replica's shared connection (RedisCatalog): connected and closed by the catalog, not the store. */
      readonly connection: RedisConnection;
      /** The replica's shared join connection when durability is on (else `connection`). */
      readonly joinConnection?: RedisConnection;
    });

type Reply = ReadonlyArray<string | number>;

/**
 * Reads the snapshot fields the scripts return: epoch, W, nextDue, S, I, K, version
 * from `offset`, and mode, opensAtMs from `modeAt` (appended at the end of each reply).
 */
export function parseSnapshot(r: Reply, offset: number, modeAt: number, counter: number, storeNowMs: number): QueueSnapshot {
  const mode = String(r[modeAt] ?? 'open');
  if (!isQueueMode(mode)) throw new UnavailableError('state_corrupt', `the queue state has an unknown mode "${mode}"`, 5);
  return {
    epoch: String(r[offset]),
    windowEnd: Number(r[offset + 1]),
    nextDueMs: Number(r[offset + 2]),
    windowSize: Number(r[offset + 3]),
    intervalMs: Number(r[offset + 4]),
    activeWindowCount: Number(r[offset + 5]),
    version: Number(r[offset + 6]),
    counter,
    storeNowMs,
    mode,
    opensAtMs: Number(r[modeAt + 1] ?? 0),
    maxActive: Number(r[modeAt + 2] ?? 0),
    originHold: Number(r[modeAt + 3] ?? 0),
  };
}

/**
 * A snapshot published as JSON by the scripts (advance, update, create, first waiting join).
 * The scripts validated it before publishing; anything else on the channel is not ours to
 * trust, so every field is checked again (internal/queue/state-check.ts). Throws if one fails.
 */
export function parsePublishedSnapshot(message: string): QueueSnapshot {
  const m = JSON.parse(message) as Record<string, unknown>;
  const c = checkState(m);
  const nowMs = Number(m.nowMs);
  if (!c.ok) throw new Error(`queue event with an invalid field ${c.field}`);
  if (!Number.isSafeInteger(nowMs)) throw new Error('queue event with an invalid field nowMs');
  return { ...c.state, storeNowMs: nowMs };
}

const ADVANCE_CODES: Record<number, AdvanceOutcome> = {
  1: 'advanced',
  0: 'skipped',
  2: 'not_due',
  3: 'held',
  4: 'full',
  [-1]: 'not_leader',
  [-2]: 'missing',
  [-3]: 'rolled_back',
};

/** A join.lua reply with tickets: last, the 12 state fields; then, with the join limit, 4 per join. */
const JOIN_REPLY_FIELDS = 13;

/** rate-limit.lua's groups of four (allowed, remaining, retryAfterMs, fullInMs), from reply index `at`. */
export function parseVerdicts(r: ReadonlyArray<string | number>, at: number, count: number): LimitVerdict[] {
  if (r.length !== at + 4 * count) throw new Error(`the join limit answered ${(r.length - at) / 4} verdicts for ${count} joins`);
  const out: LimitVerdict[] = [];
  for (let i = at; i + 3 < r.length; i += 4) {
    out.push({ allowed: Number(r[i]) === 1, remaining: Number(r[i + 1]), retryAfterMs: Number(r[i + 2]), fullInMs: Number(r[i + 3]) });
  }
  return out;
}

const UNMARK_CODES: Record<number, 'unmarked' | 'present' | 'skipped' | 'admitted'> = { 1: 'unmarked', 2: 'present', 3: 'skipped', 4: 'admitted' };

/**
 * One queue on the replicated store: one Redis (or a Redis with failover) shared
 * by every replica. All read-check-writes go through the Lua scripts in ./lua.
 */
export class RedisQueueStore implements QueueStore {
  readonly queueId: string;
  private readonly keys: QueueKeys;
  /** The command connection: the replica's shared one (RedisCatalog) or the store's own. */
  readonly connection: RedisConnection;
  /**
   * With JOIN_DURABILITY, joins run on a connection of their own: WAIT and WAITAOF
   * block the connection they run on until acknowledged, and they cover that
   * connection's writes, so the join and its wait share it and nothing else waits.
   */
  private readonly joinConn: RedisConnection;
  private readonly ownsConnection: boolean;
  private readonly durability: JoinDurability | undefined;
  private readonly log: Logger;
  private readonly subscriptions = new Set<Subscription>();
  private readonly hooks: StoreIntegrityHooks & Pick<CommonStoreOptions, 'onDurabilityShortfall' | 'onChanged'>;
  private readonly joinLogMs: number;
  private readonly commandTimeoutMs: number;
  private readonly ctx: StoreCallContext;
  /** Entries kept in the queue's event stream, passed to every script that appends events. */
  readonly eventStreamMaxLength: number;
  private closed = false;

  constructor(opts: RedisStoreOptions) {
    this.queueId = opts.queueId;
    this.keys = queueKeys(opts.queueId);
    this.log = opts.logger;
    this.hooks = opts;
    this.joinLogMs = opts.joinLogMs ?? 1000;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 1000;
    this.eventStreamMaxLength = opts.eventStreamMaxLength ?? DEFAULT_EVENT_STREAM_MAX_LENGTH;
    this.durability = opts.durability;
    if ('connection' in opts) {
      this.connection = opts.connection;
      this.joinConn = opts.joinConnection ?? opts.connection;
      this.ownsConnection = false;
    } else {
      const connOpts = {
        target: parseRedisUrl(opts.url),
        commandTimeoutMs: this.commandTimeoutMs,
        logger: this.log,
        onError: opts.onError ?? (() => undefined),
        tlsCaFile: opts.tlsCaFile,
      };
      this.connection = new RedisConnection(connOpts);
      this.joinConn = this.durability ? new RedisConnection({ ...connOpts, logger: this.log.child({ role: 'join' }) }) : this.connection;
      this.ownsConnection = true;
    }
    this.ctx = {
      log: this.log,
      timeoutMs: this.commandTimeoutMs,
      connections: this.joinConn === this.connection ? [this.connection] : [this.connection, this.joinConn],
      onError: opts.onError,
      onCorrupt: opts.onCorrupt,
    };
  }

  /**
   * Connects, retrying in the background; resolves once the first connection is up or fails.
   * With durability on, checks that the server can do what JOIN_DURABILITY asks (thrown to the
   * caller at start: a server that cannot must not serve). A shared connection is the catalog's to connect.
   */
  async connect(): Promise<void> {
    if (!this.ownsConnection) return;
    await this.connection.connect();
    if (this.durability && this.joinConn !== this.connection) {
      await this.joinConn.connect();
      await checkDurabilitySupport(this.joinRaw(), this.durability);
    }
  }

  /**
   * One raw command on the node that serves this queue's slot, for libraries that
   * speak raw commands (rate-limit-redis): every key they are given carries the
   * queue's {hash tag}, so on a cluster they all live on that node.
   */
  sendCommand(args: string[]): Promise<unknown> {
    return this.connection.sendCommand(this.keys.counter, args);
  }

  /** Raw commands on the join connection's node for this queue (WAIT covers that connection's writes). */
  private joinRaw() {
    return { sendCommand: (args: string[]) => this.joinConn.sendCommand(this.keys.counter, args) };
  }

  /**
   * A published change of this queue's shared state: logged for the replicas' change-log poll.
   * `held`: only for a write whose reply this replica's copy applies (the ticker applies an
   * advance's snapshot, the service a join's); a revocation, a new epoch or an origin hold
   * is logged without an author, and so re-read by every replica, this one too.
   */
  noteChanged(held = false): void {
    this.hooks.onChanged?.(held);
  }

  private joinLogTimer: NodeJS.Timeout | undefined;
  private lastJoinLogMs = -Infinity;

  /** A join that published nothing: logged once its coalescing period is over (see joinLogMs). */
  private noteJoin(): void {
    const every = this.joinLogMs;
    if (every <= 0 || this.joinLogTimer || this.closed) return;
    const wait = Math.max(0, this.lastJoinLogMs + every - Date.now());
    this.joinLogTimer = setTimeout(() => {
      this.joinLogTimer = undefined;
      this.lastJoinLogMs = Date.now();
      if (!this.closed) this.noteChanged(true);
    }, wait);
    this.joinLogTimer.unref();
  }

  /**
   * Runs one store call, turning connectivity and corruption errors into typed 503s.
   * Public so that modules keeping their own keys on this client (passes) map errors the same way.
   */
  call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return storeCall(this.ctx, what, fn);
  }

  /**
   * The commands, for modules that keep their own keys (rate limits, passes); same slot rules
   * apply. The current client of the connection: a failover may replace it, so fetch it per command.
   */
  get redis(): StoreCommands {
    return this.connection.commands;
  }

  async ensureQueue(s: QueueSettings, seen: HighWater = NOTHING_SEEN): Promise<EnsuredQueue> {
    const k = this.keys;
    const r = await this.call('ensureQueue', () =>
      this.redis.ensureQueue(
        k.state, k.counter, k.eventStream, randomUUID(), s.windowSize, s.intervalMs, s.activeWindowCount, s.mode, s.opensAtMs, s.maxActive ?? 0,
        seen.epoch, seen.counter, seen.windowEnd, seen.version, this.eventStreamMaxLength, this.queueId,
        s.lengthAlertThreshold ?? 0, s.lengthAlertClearBelow ?? 0, ...seen.retired,
      ),
    );
    const snap = parseSnapshot(r, 1, 11, Number(r[8]), Number(r[9]));
    const code = Number(r[0]);
    const out = { ...snap, created: code !== 0 };
    if (code !== 0) this.noteChanged();
    if (code === 1) this.log.warn({ queue: this.queueId, epoch: snap.epoch }, 'queue state created (new epoch)');
    if (code !== 2) return out;
    const rollback = String(r[10]) as RollbackReason;
    this.reportRollback(rollback, seen, snap.epoch);
    return { ...out, rollback };
  }

  private reportRollback(reason: RollbackReason, seen: HighWater, epoch: string): void {
    this.log.error(
      { queue: this.queueId, reason, seen: { epoch: seen.epoch, counter: seen.counter, windowEnd: seen.windowEnd, version: seen.version }, epoch },
      'the queue state in Redis went backwards (lost writes, a lagging replica or a restored copy); started a new epoch so that no place is handed out twice',
    );
    this.hooks.onRollback?.(reason);
  }

  async issueTickets(count: number, s: QueueSettings, seen: HighWater = NOTHING_SEEN, limit?: JoinLimitBatch): Promise<IssuedTickets> {
    if (limit && limit.clients.length !== count) throw new RangeError(`the join limit needs one client per ticket: ${limit.clients.length} for ${count}`);
    const k = this.keys;
    const keys = [k.state, k.counter, k.eventStream];
    if (limit) for (const c of limit.clients) keys.push(k.joinLimit(c));
    // Three attempts: the state may be missing (create it) or behind `seen` (start a new
    // epoch), and another replica may change it between our calls. join.lua takes the
    // join-limit tokens only once it issues, so a retry never takes a second one.
    for (let attempt = 0; attempt < 3; attempt++) {
      const args: Array<string | number> = [
        count, k.events, seen.epoch, seen.counter, seen.windowEnd, seen.version, this.eventStreamMaxLength, this.queueId,
        limit ? limit.limits.burst : 0, limit ? limit.limits.ratePerSecond : 0, ...seen.retired,
      ];
      const r = await this.call('join', () => this.joinConn.commands.join(keys, args));
      const code = Number(r[0]);
      if (code === -4) throw new QueueClosedError(this.queueId);
      // {0} and {-1, reason} are short replies; a full one starts with the last ticket (0 when a
      // limited batch of a new queue issued none).
      if (r.length < JOIN_REPLY_FIELDS) {
        // State missing (first join, or Redis lost its data), or behind what this replica
        // saw: ensure-queue.lua re-checks both atomically and makes a new epoch; try again.
        if (code === -1) this.log.warn({ queue: this.queueId, reason: r[1] }, 'join refused: the queue state went backwards');
        await this.ensureQueue(s, seen);
        continue;
      }
      const verdicts = limit ? parseVerdicts(r, JOIN_REPLY_FIELDS, count) : undefined;
      const issued = verdicts ? verdicts.reduce((n, v) => n + (v.allowed ? 1 : 0), 0) : count;
      if (issued > 0 && this.durability) {
        try {
          await this.awaitJoinDurable(this.durability, issued);
        } catch (err) {
          // The counter moved in Redis though these tickets are never handed out: logged
          // without an author, so that every replica (this one too, whose copy does not apply
          // this reply) re-reads the queue within a poll rather than at its full re-read.
          this.noteChanged();
          throw err;
        }
      }
      const snap = parseSnapshot(r, 1, 9, code, Number(r[8]));
      const first = code - issued + 1;
      // join.lua published this batch when it is the first to wait (the counter crossed W).
      if (issued > 0) {
        if (first - 1 <= snap.windowEnd && snap.counter > snap.windowEnd) this.noteChanged(true);
        else this.noteJoin();
      }
      return verdicts ? { first, count: issued, snapshot: snap, verdicts } : { first, count: issued, snapshot: snap };
    }
    throw new UnavailableError('store_unavailable', 'the queue state keeps changing under this join; try again shortly', 1);
  }

  /**
   * The wait of a durable join. A shortfall answers 503 and the tickets are never
   * handed out: their numbers stay unused (a gap), which is harmless, while a ticket
   * shown and then lost to a crash could be issued again.
   */
  private async awaitJoinDurable(d: JoinDurability, count: number): Promise<void> {
    const shortfall = await this.call('join durability wait', () => awaitDurable(this.joinRaw(), d));
    if (shortfall === null) return;
    this.hooks.onDurabilityShortfall?.();
    this.log.warn({ queue: this.queueId, mode: d.mode, tickets: count, shortfall }, 'join not durable in time; its tickets are not handed out');
    throw new UnavailableError('store_unavailable', `the join could not be made durable (${shortfall}); try again shortly`, 1);
  }

  async advance(owner: string, seen: HighWater = NOTHING_SEEN, options: AdvanceOptions = {}): Promise<AdvanceResult> {
    const k = this.keys;
    const max = this.eventStreamMaxLength;
    // The gone bitmap of the epoch this replica knows; the script ignores it if that is not the stored one.
    const r = await this.call('advance', () =>
      this.redis.advanceWindow(
        k.state, k.counter, k.leader, k.eventStream, k.passes, k.passStats, k.occupancy, k.claimWindows, k.claimedTickets, k.gone(seen.epoch),
        owner, k.events, seen.epoch, seen.counter, seen.windowEnd, seen.version, max, this.queueId, options.maxMove ?? 0, seen.epoch, ...seen.retired,
      ),
    );
    const outcome = ADVANCE_CODES[Number(r[0])];
    if (!outcome) throw new Error(`advance-window.lua returned unknown code ${String(r[0])}`);
    if (outcome === 'not_leader' || outcome === 'missing') return { outcome, lagMs: 0 };
    if (outcome === 'rolled_back') return { outcome, lagMs: 0, rollback: String(r[1]) as RollbackReason };
    const snapshot = parseSnapshot(r, 1, 11, Number(r[8]), Number(r[9]));
    // Only a window that moved is published (advance-window.lua); the other outcomes change nothing others need.
    if (outcome === 'advanced') this.noteChanged(true);
    return { outcome, snapshot, lagMs: Number(r[10]), occupancy: Number(r[15] ?? 0), nextFreeMs: Number(r[16] ?? 0), skipped: Number(r[17] ?? 0) };
  }

  async markGone(epoch: string, tickets: readonly number[], lifetimeMs: number): Promise<MarkGoneResult> {
    const k = this.keys;
    const r = await this.call('markGone', () => this.redis.markGone(k.state, k.gone(epoch), epoch, Math.max(1, Math.ceil(lifetimeMs)), ...tickets));
    if (Number(r[0]) === -1) return { outcome: 'reset' };
    return { outcome: 'ok', windowEnd: Number(r[0]), marked: Number(r[1]), already: Number(r[2]), admitted: Number(r[3]) };
  }

  async sweepGone(epoch: string, w: PresenceSweep): Promise<SweepGoneResult> {
    const k = this.keys;
    // sweep-gone.lua takes exactly five seen bitmaps (the current period and four before it).
    if (w.periodsChecked !== 5) throw new RangeError('sweepGone checks five periods');
    const seenKeys = [0, 1, 2, 3, 4].map((i) => k.seen(epoch, w.period - i));
    const r = await this.call('sweepGone', () =>
      this.redis.sweepGone(
        k.state, k.gone(epoch), ...seenKeys,
        epoch, Math.max(1, Math.ceil(w.goneLifetimeMs)), Math.max(1, Math.ceil(w.seenLifetimeMs)), w.seen.length, ...w.seen, ...w.quiet,
      ),
    );
    if (Number(r[0]) === -1) return { outcome: 'reset' };
    return { outcome: 'ok', windowEnd: Number(r[0]), marked: Number(r[1]) };
  }

  async unmarkGone(epoch: string, ticket: number): Promise<UnmarkGoneResult> {
    const k = this.keys;
    const r = await this.call('unmarkGone', () => this.redis.unmarkGone(k.state, k.gone(epoch), epoch, ticket));
    const code = Number(r[0]);
    const outcome = UNMARK_CODES[code];
    if (code === -1) return { outcome: 'reset' };
    if (!outcome) throw new Error(`unmark-gone.lua returned unknown code ${String(r[0])}`);
    return { outcome, windowEnd: Number(r[1]) };
  }

  async readGone(epoch: string, from: number, to: number): Promise<number[]> {
    if (to < from || from < 1 || from > 4294967295) return [];
    const last = Math.min(to, from + 8_000_000, 4294967295);
    const r = await this.call('readGone', () => this.redis.readGone(this.keys.gone(epoch), from, last));
    return r.map(Number);
  }

  async setOriginHold(hold: boolean, why: OriginHoldReason = { source: 'site', reason: '' }): Promise<OriginHoldResult> {
    const k = this.keys;
    const reason = originHoldReasonText(why.reason);
    const r = await this.call('setOriginHold', () =>
      this.redis.setOriginHold(k.state, k.counter, k.eventStream, hold ? 1 : 0, k.events, this.eventStreamMaxLength, this.queueId, why.source, reason),
    );
    if (Number(r[0]) === -1) return { outcome: 'missing' };
    if (Number(r[0]) === 1) this.noteChanged();
    return { outcome: Number(r[0]) === 1 ? 'changed' : 'unchanged', snapshot: parseSnapshot(r, 1, 10, Number(r[8]), Number(r[9])) };
  }

  async acquireLease(owner: string, ttlMs: number): Promise<boolean> {
    const r = await this.call('acquireLease', () => this.redis.set(this.keys.leader, owner, { condition: 'NX', expiration: { type: 'PX', value: ttlMs } }));
    return r === 'OK';
  }

  async renewLease(owner: string, ttlMs: number): Promise<boolean> {
    return (await this.call('renewLease', () => this.redis.leaseRenew(this.keys.leader, owner, ttlMs))) === 1;
  }

  async releaseLease(owner: string): Promise<boolean> {
    return (await this.call('releaseLease', () => this.redis.leaseRelease(this.keys.leader, owner))) === 1;
  }

  async leaseHolder(): Promise<string | null> {
    return this.call('leaseHolder', () => this.redis.get(this.keys.leader));
  }

  async subscribe(onSnapshot: (s: QueueSnapshot) => void): Promise<Subscription> {
    return this.subscribeChannel(this.keys.events, (message) => {
      let s: QueueSnapshot;
      try {
        s = parsePublishedSnapshot(message);
      } catch (err) {
        this.log.error({ err }, 'unreadable or invalid queue event ignored');
        return;
      }
      onSnapshot(s);
    });
  }

  /**
   * Subscribes to one sharded channel (SSUBSCRIBE; the channel carries the
   * queue's hash tag, so on a cluster it lives on the queue's shard) on the
   * replica's shared connection. The connection re-opens it after a reconnect or
   * a failover, and each owner's periodic full read covers messages lost
   * meanwhile. Also used for modules' own channels (pass revocations).
   */
  async subscribeChannel(channel: string, onMessage: (message: string) => void): Promise<Subscription> {
    const sub = await this.call(`subscribe ${channel}`, () => this.connection.subscribe(channel, onMessage, this.commandTimeoutMs));
    if (this.closed) {
      await sub.close();
      throw new UnavailableError('store_unavailable', 'the queue store is closed', 1);
    }
    this.subscriptions.add(sub);
    return {
      close: async () => {
        this.subscriptions.delete(sub);
        await sub.close();
      },
    };
  }

  async ping(): Promise<void> {
    await this.call('ping', () => this.connection.ping(this.keys.state));
  }

  isReady(): boolean {
    return this.connection.isReady() && this.joinConn.isReady();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.joinLogTimer) clearTimeout(this.joinLogTimer);
    this.joinLogTimer = undefined;
    for (const s of [...this.subscriptions]) await s.close().catch(() => undefined);
    this.subscriptions.clear();
    if (!this.ownsConnection) return;
    if (this.joinConn !== this.connection) await this.joinConn.close();
    await this.connection.close();
  }
}
