import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { MemoryFlowSeries } from './memory-flow-store';
import { QueueClosedError, UnavailableError } from '../errors/errors';
import {
  NOTHING_SEEN,
  type AdvanceResult,
  type EnsuredQueue,
  type HighWater,
  type IssuedTickets,
  type QueueMode,
  type QueueSettings,
  type QueueSnapshot,
  type RollbackReason,
} from '../queue/queue-state';
import { checkState, MAX_EXACT, rollbackReason } from '../queue/state-check';
import { alertWaiting, lengthAlertStep, recoveredReason, type LengthAlertStep } from '../queue/length-alert';
import { compensatedMove } from '../queue/arithmetic';
import { takeToken, type BucketLimits, type BucketState, type LimitVerdict } from '../abuse/token-bucket';
import { type AdvanceOptions, type MarkGoneResult, type OriginHoldReason, originHoldReasonText, type OriginHoldResult, type PresenceSweep, type QueueStore, type StoreIntegrityHooks, type StoredStreamEntry, type Subscription, type SweepGoneResult, type UnmarkGoneResult, type JoinLimitBatch } from './store';

export interface MemoryStoreOptions extends StoreIntegrityHooks {
  readonly queueId: string;
  readonly logger: Logger;
  /**
   * The store's clock in epoch milliseconds (plays the part of Redis TIME).
   * Default: wall-clock time at process start plus a monotonic offset, so a
   * wall-clock step (NTP, suspend) can neither fire a burst of advances nor stall
   * the ticker, while values still look like Redis's epoch milliseconds.
   */
  readonly now?: () => number;
  /** The queue's data, shared with a MemoryCatalog; a store made alone keeps its own. */
  readonly cell?: MemoryQueueCell;
  /** Entries kept in the queue's event stream (as XADD MAXLEN); default 100,000. */
  readonly eventStreamMaxLength?: number;
}

/** The queue state hash of the Redis store, as one record. */
export interface MemoryQueueState {
  epoch: string;
  windowEnd: number;
  nextDueMs: number;
  windowSize: number;
  intervalMs: number;
  activeWindowCount: number;
  version: number;
  counter: number;
  mode: QueueMode;
  opensAtMs: number;
  /** The capacity cap; 0 for none. */
  maxActive: number;
  /** 1 while admissions are held for an unhealthy origin. */
  originHold: number;
  /** The queue-length alert (internal/queue/length-alert.ts): 0 for none. */
  lengthAlertThreshold?: number;
  lengthAlertClearBelow?: number;
  /** 1 once queue.length_exceeded was appended, until queue.length_recovered re-arms it. */
  lengthAlertFired?: number;
}

/** The occupancy hash, claim-window and claimed-ticket sets of advance-window.lua, as one record. */
export interface MemoryOccupancy {
  epoch: string;
  pending: number;
  openFrom: number;
  lastCloseMs: number;
  slotUsed: number;
  slotDueMs: number;
  /**
   * Claim windows in ticket order: highest ticket of the advance, when its window closes, and
   * how many gone tickets it skipped (they hold no place).
   */
  readonly windows: Array<{ hi: number; closeMs: number; skipped: number }>;
  /** Tickets claimed inside their open claim window. */
  readonly claimed: Set<number>;
}

interface Lease {
  readonly owner: string;
  expiresAtMs: number;
}

/** Everything one queue keeps in the embedded store: what its Redis keys hold. */
/** Join buckets kept per queue at most (as MemoryAbuseStore kept them); expired ones are dropped first. */
const MAX_JOIN_BUCKETS = 100_000;

export class MemoryQueueCell {
  state: MemoryQueueState | undefined;
  lease: Lease | undefined;
  /** The config hash: descriptive settings (JSON) and the ETag version. */
  config: { doc: string; version: number } | undefined;
  /** Live passes (the `passes` sorted set): jti -> exp ms. Shared with MemoryPassStore. */
  readonly passes = new Map<string, number>();
  /** The gone bitmaps (mark-gone.lua) by epoch: the tickets marked, and when the key expires (PEXPIRE). */
  readonly gone = new Map<string, { tickets: Set<number>; expiresAtMs: number }>();
  /** The seen bitmaps (sweep-gone.lua) by "epoch:period". */
  readonly seen = new Map<string, { tickets: Set<number>; expiresAtMs: number }>();
  /** Occupancy accounting (advance-window.lua); undefined until the first advance of an epoch. */
  occupancy: MemoryOccupancy | undefined;
  /** The join buckets by client address (the `limit:join:<address>` hashes); kept until full again (PEXPIRE). */
  readonly joinBuckets = new Map<string, BucketState & { untilMs: number }>();
  /** Counts passes the advance retired as expired (MemoryPassStore's counters). */
  onPassesTimedOut: ((n: number) => void) | undefined;
  /** A published change of this queue (the catalog's change log, as registry-touch.lua). */
  onChanged: (() => void) | undefined;
  readonly listeners = new Set<(s: QueueSnapshot) => void>();
  /** The event stream (docs/events.md): entries oldest first, ids "<ms>-<seq>" as Redis makes them. */
  readonly eventLog: StoredStreamEntry[] = [];
  private lastEventMs = 0;
  private eventSeq = 0;

  /**
   * XADD MAXLEN: appends one event in the same synchronous step as the change that causes it
   * (as the scripts do), so an event exists if and only if its change happened.
   */
  appendEvent(maxLength: number, type: string, nowMs: number, body: Readonly<Record<string, unknown>>): string {
    if (nowMs > this.lastEventMs) {
      this.lastEventMs = nowMs;
      this.eventSeq = 0;
    } else {
      this.eventSeq++;
    }
    const id = `${this.lastEventMs}-${this.eventSeq}`;
    this.eventLog.push({ id, fields: { type, time: String(nowMs), body: JSON.stringify(body) } });
    if (this.eventLog.length > maxLength) this.eventLog.splice(0, this.eventLog.length - maxLength);
    return id;
  }
  /** The flow samples of the operator console (the two streams of flow-sample.lua). */
  readonly flow = new MemoryFlowSeries();
}

/** Default entries kept per queue event stream (the same as the Redis store's). */
export const MEMORY_EVENT_STREAM_MAX_LENGTH = 100_000;

export function monotonicEpochClock(): () => number {
  const origin = Date.now() - performance.now();
  // Whole milliseconds, like the Lua scripts' TIME-based clock.
  return () => Math.floor(origin + performance.now());
}

export function snapshotOf(s: MemoryQueueState, nowMs: number): QueueSnapshot {
  return {
    epoch: s.epoch,
    windowEnd: s.windowEnd,
    nextDueMs: s.nextDueMs,
    windowSize: s.windowSize,
    intervalMs: s.intervalMs,
    activeWindowCount: s.activeWindowCount,
    version: s.version,
    counter: s.counter,
    storeNowMs: nowMs,
    mode: s.mode,
    opensAtMs: s.opensAtMs,
    maxActive: s.maxActive,
    originHold: s.originHold,
  };
}

/** A new state as ensure-queue.lua and create-queue.lua make it: W = S, or W = 0 until a future opensAt. */
export function newState(settings: QueueSettings, nowMs: number, epoch: string = randomUUID(), version = 1): MemoryQueueState {
  const preQueue = settings.opensAtMs > nowMs;
  // With a cap the first batch goes through an advance (due now), which counts its places.
  const capped = (settings.maxActive ?? 0) > 0;
  return {
    epoch,
    windowEnd: preQueue || capped ? 0 : settings.windowSize,
    nextDueMs: preQueue ? settings.opensAtMs : capped ? nowMs : nowMs + settings.intervalMs,
    windowSize: settings.windowSize,
    intervalMs: settings.intervalMs,
    activeWindowCount: settings.activeWindowCount,
    version,
    counter: 0,
    mode: settings.mode,
    opensAtMs: settings.opensAtMs,
    maxActive: settings.maxActive ?? 0,
    originHold: 0,
    lengthAlertThreshold: settings.lengthAlertThreshold ?? 0,
    lengthAlertClearBelow: settings.lengthAlertClearBelow ?? 0,
    lengthAlertFired: 0,
  };
}

/**
 * The length-alert step of the scripts (join.lua, advance-window.lua, update-queue.lua,
 * create-queue.lua) after a change to `s`: fires or re-arms the alert and appends its event.
 * `only` limits it as the script does (a join can only fire, an advance only re-arm).
 */
export function stepLengthAlert(cell: MemoryQueueCell, maxLength: number, queueId: string, s: MemoryQueueState, nowMs: number, only?: LengthAlertStep): void {
  const a = { threshold: s.lengthAlertThreshold ?? 0, clearBelow: s.lengthAlertClearBelow ?? 0 };
  const waiting = alertWaiting(s.counter, s.windowEnd, s.mode);
  const step = lengthAlertStep(s.lengthAlertFired === 1, waiting, a);
  if (step === 'none' || (only && step !== only)) return;
  const body = { queue: queueId, epoch: s.epoch, waiting, threshold: a.threshold, clearBelow: a.clearBelow, counter: s.counter, windowEnd: s.windowEnd };
  if (step === 'exceeded') {
    s.lengthAlertFired = 1;
    cell.appendEvent(maxLength, 'queue.length_exceeded', nowMs, body);
  } else {
    s.lengthAlertFired = 0;
    cell.appendEvent(maxLength, 'queue.length_recovered', nowMs, { ...body, reason: recoveredReason(a.threshold) });
  }
}

/** Delivers a snapshot to a cell's listeners on a later turn, as a Redis subscriber connection would. */
export function publish(cell: MemoryQueueCell, snap: QueueSnapshot, isOpen: () => boolean, log: Logger): void {
  cell.onChanged?.();
  for (const l of cell.listeners) {
    setImmediate(() => {
      if (!isOpen() || !cell.listeners.has(l)) return;
      try {
        l(snap);
      } catch (err) {
        log.error({ err }, 'queue event listener failed');
      }
    });
  }
}

/**
 * The embedded single-process store of one queue: the same QueueStore contract
 * as RedisQueueStore (test/store/store-contract.test.ts runs one suite against
 * both), kept in this process's memory. It lets `npm start` run with nothing
 * installed; it cannot be shared, so it is for one replica only and its queues
 * are lost when the process ends (the next start creates a new epoch, exactly as
 * a Redis that lost its data would).
 *
 * Each method mirrors one Lua script step for step. Node runs them to
 * completion without yielding, which gives the atomicity Redis gives a script.
 * Pub/sub is delivered on a later turn (setImmediate), as a message from
 * Redis's subscriber connection would be, never inside the caller's stack.
 */
export class MemoryQueueStore implements QueueStore {
  readonly queueId: string;
  private readonly cell: MemoryQueueCell;
  private readonly mine = new Set<(s: QueueSnapshot) => void>();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly hooks: StoreIntegrityHooks;
  /** Entries kept in the queue's event stream. */
  readonly eventStreamMaxLength: number;
  private closed = false;

  constructor(opts: MemoryStoreOptions) {
    this.queueId = opts.queueId;
    this.eventStreamMaxLength = opts.eventStreamMaxLength ?? MEMORY_EVENT_STREAM_MAX_LENGTH;
    this.log = opts.logger;
    this.hooks = opts;
    this.now = opts.now ?? monotonicEpochClock();
    this.cell = opts.cell ?? new MemoryQueueCell();
  }

  /** The store's clock (what Redis's TIME is to the Redis store), for companion stores. */
  clock(): number {
    return this.now();
  }

  /** The queue's data, for the pass store of the same queue (the same Redis keys' slot). */
  get data(): MemoryQueueCell {
    return this.cell;
  }

  /** Appends one event to this queue's stream (for the pass store, which mirrors the pass scripts). */
  appendEvent(type: string, nowMs: number, body: Readonly<Record<string, unknown>>): string {
    return this.cell.appendEvent(this.eventStreamMaxLength, type, nowMs, body);
  }

  /** Nothing to connect to; present so the server can treat both stores alike. */
  async connect(): Promise<void> {
    this.assertOpen();
  }

  /** After close() every call fails like a closed Redis client: a typed 503. */
  private assertOpen(): void {
    if (this.closed) throw new UnavailableError('store_unavailable', 'the embedded queue store is closed', 1);
  }

  /**
   * The scripts' field validation: a state that fails it answers 503 state_corrupt and is
   * never computed with (in memory only a bug could damage it, but the rule is the same).
   */
  private checked(s: MemoryQueueState): MemoryQueueState {
    const c = checkState(s as unknown as Record<string, unknown>);
    if (c.ok) return s;
    return this.corrupt(`queue state field ${c.field} is "${String(c.value)}"`);
  }

  private corrupt(detail: string): never {
    this.log.error({ queue: this.queueId, detail }, 'embedded queue state is damaged; refusing to guess');
    this.hooks.onCorrupt?.(detail);
    throw new UnavailableError('state_corrupt', `the queue state is damaged (${detail})`, 5);
  }

  /**
   * ensure-queue.lua: create if missing (with `settings`), re-create (new epoch) if behind
   * `seen`, keeping the stored settings, which the admin API set.
   */
  private ensure(settings: QueueSettings, nowMs: number, seen: HighWater): { state: MemoryQueueState; created: boolean; rollback?: RollbackReason } {
    if (!this.cell.state) {
      const state = (this.cell.state = newState(settings, nowMs, randomUUID(), seen.version + 1));
      this.log.warn({ queue: this.queueId, epoch: state.epoch }, 'queue state created (new epoch)');
      this.epochStarted(state, nowMs, 'missing', null, false);
      return { state, created: true };
    }
    const s = this.checked(this.cell.state);
    const rollback = rollbackReason(s, seen);
    if (!rollback) return { state: s, created: false };
    const state = (this.cell.state = newState(s, nowMs, randomUUID(), Math.max(s.version, seen.version) + 1));
    this.log.error({ queue: this.queueId, reason: rollback, epoch: state.epoch }, 'the queue state went backwards; started a new epoch');
    this.hooks.onRollback?.(rollback);
    this.epochStarted(state, nowMs, rollback, s.epoch, s.lengthAlertFired === 1);
    return { state, created: true, rollback };
  }

  /** ensure-queue.lua's events for a new epoch: queue.epoch_started, then the alert's recovery if it had fired. */
  private epochStarted(s: MemoryQueueState, nowMs: number, reason: RollbackReason | 'missing', previousEpoch: string | null, wasFired: boolean): void {
    this.appendEvent('queue.epoch_started', nowMs, {
      queue: this.queueId,
      epoch: s.epoch,
      previousEpoch,
      reason,
      version: s.version,
      state: s.mode,
      counter: 0,
      windowEnd: s.windowEnd,
    });
    if (!wasFired) return;
    this.appendEvent('queue.length_recovered', nowMs, {
      queue: this.queueId,
      epoch: s.epoch,
      waiting: 0,
      threshold: s.lengthAlertThreshold ?? 0,
      clearBelow: s.lengthAlertClearBelow ?? 0,
      counter: 0,
      windowEnd: s.windowEnd,
      reason: 'new_epoch',
    });
  }

  async ensureQueue(settings: QueueSettings, seen: HighWater = NOTHING_SEEN): Promise<EnsuredQueue> {
    this.assertOpen();
    const now = this.now();
    const { state, created, rollback } = this.ensure(settings, now, seen);
    if (created) this.cell.onChanged?.();
    return { ...snapshotOf(state, now), created, ...(rollback ? { rollback } : {}) };
  }

  /**
   * rate-limit.lua, and join.lua's limit step: one token from each client's join bucket, in
   * order, on the store's clock (takeToken is the scripts' arithmetic). At most 100,000 buckets
   * are kept: expired ones go first, then the oldest.
   */
  takeJoinTokens(clients: readonly string[], limits: BucketLimits, now: number = this.now()): LimitVerdict[] {
    const buckets = this.cell.joinBuckets;
    return clients.map((client) => {
      const prev = buckets.get(client);
      const { verdict, next } = takeToken(prev && prev.untilMs > now ? prev : undefined, limits, now);
      if (buckets.size >= MAX_JOIN_BUCKETS) {
        for (const [k, b] of buckets) if (b.untilMs <= now) buckets.delete(k);
        while (buckets.size >= MAX_JOIN_BUCKETS) buckets.delete(buckets.keys().next().value as string);
      }
      buckets.delete(client);
      buckets.set(client, { ...next, untilMs: now + Math.max(1, verdict.fullInMs) });
      return verdict;
    });
  }

  /** join.lua, after ensure-queue.lua when the state is missing or behind (as RedisQueueStore does). */
  async issueTickets(count: number, settings: QueueSettings, seen: HighWater = NOTHING_SEEN, limit?: JoinLimitBatch): Promise<IssuedTickets> {
    this.assertOpen();
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`ticket count must be a positive integer, got ${count}`);
    if (limit && limit.clients.length !== count) throw new RangeError(`the join limit needs one client per ticket: ${limit.clients.length} for ${count}`);
    const now = this.now();
    const { state } = this.ensure(settings, now, seen);
    if (state.counter > MAX_EXACT - count) this.corrupt(`ticket counter is "${state.counter}" (no room for ${count} more)`);
    if (state.mode === 'closed') throw new QueueClosedError(this.queueId);
    // As join.lua: the tokens are taken after every refusal above, then only the joins allowed get tickets.
    const verdicts = limit ? this.takeJoinTokens(limit.clients, limit.limits, now) : undefined;
    const issued = verdicts ? verdicts.filter((v) => v.allowed).length : count;
    const before = state.counter;
    state.counter += issued;
    const snap = snapshotOf(state, now);
    if (issued > 0) {
      // The first batch to wait wakes the sleeping ticker (join.lua publishes it too).
      if (before <= state.windowEnd && state.counter > state.windowEnd) publish(this.cell, snap, () => !this.closed, this.log);
      stepLengthAlert(this.cell, this.eventStreamMaxLength, this.queueId, state, now, 'exceeded');
    }
    const first = state.counter - issued + 1;
    return verdicts ? { first, count: issued, snapshot: snap, verdicts } : { first, count: issued, snapshot: snap };
  }

  /** advance-window.lua: lease fence, rollback checks, held states, due check, skip while nobody waits, no catch-up. */
  async advance(owner: string, seen: HighWater = NOTHING_SEEN, options: AdvanceOptions = {}): Promise<AdvanceResult> {
    this.assertOpen();
    const now = this.now();
    if (this.holder(now) !== owner) return { outcome: 'not_leader', lagMs: 0 };
    if (!this.cell.state) return { outcome: 'missing', lagMs: 0 };
    const s = this.checked(this.cell.state);
    const rollback = rollbackReason(s, seen);
    if (rollback) return { outcome: 'rolled_back', lagMs: 0, rollback };
    if (s.mode !== 'open' || s.originHold === 1) return { outcome: 'held', snapshot: snapshotOf(s, now), lagMs: 0, occupancy: 0, nextFreeMs: 0 };
    const newSlot = now >= s.nextDueMs;
    if (!newSlot && s.maxActive === 0) return { outcome: 'not_due', snapshot: snapshotOf(s, now), lagMs: 0, occupancy: 0, nextFreeMs: 0 };
    const occ = this.occupancyOf(s, now);
    const lagMs = newSlot ? now - s.nextDueMs : 0;
    const used = newSlot ? 0 : occ.acc.slotDueMs === s.nextDueMs ? occ.acc.slotUsed : s.windowSize;
    let n = s.counter <= s.windowEnd ? 0 : s.maxActive === 0 ? s.windowSize : Math.min(s.windowSize - used, s.counter - s.windowEnd, s.maxActive - occ.occupancy);
    // advance-window.lua's no-show step: `move` tickets passed, `n` of them present and admitted.
    let move = n;
    const maxMove = options.maxMove ?? 0;
    const gone = seen.epoch === s.epoch ? this.goneOf(s.epoch, now) : undefined;
    if (maxMove > 0 && gone && n > 0) {
      const limit = s.maxActive > 0 ? Math.min(maxMove * n, s.counter - s.windowEnd) : maxMove * n;
      const w0 = s.windowEnd;
      const m = compensatedMove(n, limit, (i) => gone.has(w0 + i));
      move = m.move;
      n = m.present;
    } else if (gone && n > 0) {
      // Without compensation the range is admitted and counted, gone or not: its marks are cleared.
      for (let t = s.windowEnd + 1; t <= s.windowEnd + n; t++) gone.delete(t);
    }
    if (move <= 0) {
      if (!newSlot) return { outcome: 'not_due', snapshot: snapshotOf(s, now), lagMs: 0, occupancy: occ.occupancy, nextFreeMs: this.nextFreeMs() };
      // Nobody waits: nextDue stays, so the first ticket over W is admitted at the next check.
      if (s.counter <= s.windowEnd) return { outcome: 'skipped', snapshot: snapshotOf(s, now), lagMs, occupancy: occ.occupancy, nextFreeMs: 0 };
      return { outcome: 'full', snapshot: snapshotOf(s, now), lagMs, occupancy: occ.occupancy, nextFreeMs: this.nextFreeMs() };
    }
    if (s.windowEnd > MAX_EXACT - move) this.corrupt(`queue state field windowEnd is "${s.windowEnd}" (no room to advance)`);
    const fromTicket = s.windowEnd + 1;
    const skipped = move - n;
    s.windowEnd += move;
    if (newSlot) {
      s.nextDueMs = now + s.intervalMs;
      occ.acc.slotUsed = n;
    } else {
      occ.acc.slotUsed = used + n;
    }
    occ.acc.slotDueMs = s.nextDueMs;
    occ.acc.pending += n;
    occ.acc.lastCloseMs = Math.max(now + s.activeWindowCount * s.intervalMs, occ.acc.lastCloseMs);
    occ.acc.windows.push({ hi: s.windowEnd, closeMs: occ.acc.lastCloseMs, skipped });
    const bitmap = this.cell.gone.get(s.epoch);
    if (skipped > 0 && bitmap) bitmap.expiresAtMs = Math.max(bitmap.expiresAtMs, now + (s.activeWindowCount + 1) * s.intervalMs);
    s.version += 1;
    const snap = snapshotOf(s, now);
    publish(this.cell, snap, () => !this.closed, this.log);
    this.appendEvent('window.advanced', now, {
      queue: this.queueId,
      epoch: s.epoch,
      fromTicket,
      toTicket: s.windowEnd,
      counter: s.counter,
      windowSize: s.windowSize,
      lagMs,
      skipped,
    });
    stepLengthAlert(this.cell, this.eventStreamMaxLength, this.queueId, s, now, 'recovered');
    return { outcome: 'advanced', snapshot: snap, lagMs, occupancy: occ.occupancy + n, nextFreeMs: 0, skipped };
  }

  /**
   * advance-window.lua's accounting step: reset for a new epoch, retire expired passes
   * (counted by `onTimedOut`), close the claim windows that ended. Returns the occupancy.
   */
  private occupancyOf(s: MemoryQueueState, now: number): { acc: MemoryOccupancy; occupancy: number } {
    let acc = this.cell.occupancy;
    if (!acc || acc.epoch !== s.epoch) {
      acc = this.cell.occupancy = { epoch: s.epoch, pending: 0, openFrom: s.windowEnd + 1, lastCloseMs: 0, slotUsed: 0, slotDueMs: 0, windows: [], claimed: new Set() };
    }
    // In pass-sweep.lua's order (by exp, then jti), each with its pass.abandoned event as the script appends it.
    const expired = [...this.cell.passes].filter(([, exp]) => exp <= now).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [jti, exp] of expired) {
      this.cell.passes.delete(jti);
      this.appendEvent('pass.abandoned', now, { queue: this.queueId, jti, expMs: exp, reason: 'timed_out' });
    }
    const timedOut = expired.length;
    if (timedOut > 0) this.cell.onPassesTimedOut?.(timedOut);
    while (acc.windows.length > 0 && acc.windows[0]!.closeMs <= now) {
      const { hi, skipped } = acc.windows.shift()!;
      if (hi < acc.openFrom) continue;
      let claimed = 0;
      for (const t of acc.claimed) if (t >= acc.openFrom && t <= hi) claimed++;
      acc.pending -= hi - acc.openFrom + 1 - claimed - skipped;
      acc.openFrom = hi + 1;
      for (const t of acc.claimed) if (t < acc.openFrom) acc.claimed.delete(t);
    }
    if (acc.pending < 0) this.corrupt(`occupancy field pending is "${acc.pending}" (below 0 after closing windows)`);
    return { acc, occupancy: this.cell.passes.size + acc.pending };
  }

  /** When a place frees by itself: the first pass expiry or claim-window end; 0 for none. */
  private nextFreeMs(): number {
    let nf = 0;
    for (const exp of this.cell.passes.values()) if (nf === 0 || exp < nf) nf = exp;
    const w = this.cell.occupancy?.windows[0];
    if (w && (nf === 0 || w.closeMs < nf)) nf = w.closeMs;
    return nf;
  }

  /** The marked tickets of an epoch's bitmap, undefined when it has none (or it expired, as PEXPIRE would). */
  private goneOf(epoch: string, now: number): Set<number> | undefined {
    const g = this.cell.gone.get(epoch);
    if (g && g.expiresAtMs <= now) {
      this.cell.gone.delete(epoch);
      return undefined;
    }
    return g?.tickets;
  }

  /** mark-gone.lua. */
  async markGone(epoch: string, tickets: readonly number[], lifetimeMs: number): Promise<MarkGoneResult> {
    this.assertOpen();
    if (tickets.length < 1 || tickets.length > 10_000) throw new RangeError('between 1 and 10000 tickets expected');
    const now = this.now();
    const s = this.cell.state;
    if (!s || s.epoch !== epoch) return { outcome: 'reset' };
    let marked = 0;
    let already = 0;
    let admitted = 0;
    let g = this.goneOf(epoch, now);
    for (const t of tickets) {
      if (!Number.isSafeInteger(t) || t < 1 || t > 4294967295) throw new RangeError(`ticket ${t} is not an integer in [1, 4294967295]`);
      if (t <= s.windowEnd || s.mode === 'passthrough') admitted++;
      else if (g?.has(t)) already++;
      else {
        if (!g) {
          g = new Set();
          this.cell.gone.set(epoch, { tickets: g, expiresAtMs: now + lifetimeMs });
        }
        g.add(t);
        marked++;
      }
    }
    const entry = this.cell.gone.get(epoch);
    if (marked > 0 && entry) entry.expiresAtMs = Math.max(entry.expiresAtMs, now + lifetimeMs);
    return { outcome: 'ok', windowEnd: s.windowEnd, marked, already, admitted };
  }

  /** sweep-gone.lua. */
  async sweepGone(epoch: string, w: PresenceSweep): Promise<SweepGoneResult> {
    this.assertOpen();
    if (w.seen.length + w.quiet.length > 10_000) throw new RangeError('at most 10000 tickets');
    const now = this.now();
    const s = this.cell.state;
    if (!s || s.epoch !== epoch) return { outcome: 'reset' };
    for (const [k, v] of this.cell.seen) if (v.expiresAtMs <= now) this.cell.seen.delete(k);
    const curKey = `${epoch}:${w.period}`;
    const seen = w.seen.filter((t) => t > s.windowEnd);
    if (seen.length > 0) {
      let cur = this.cell.seen.get(curKey);
      if (!cur) this.cell.seen.set(curKey, (cur = { tickets: new Set(), expiresAtMs: now + w.seenLifetimeMs }));
      for (const t of seen) cur.tickets.add(t);
      cur.expiresAtMs = Math.max(cur.expiresAtMs, now + w.seenLifetimeMs);
    }
    let marked = 0;
    if (s.mode !== 'passthrough') {
      const quiet: number[] = [];
      for (const t of w.quiet) {
        if (t <= s.windowEnd) continue;
        let heard = false;
        for (let i = 0; i < w.periodsChecked && !heard; i++) heard = this.cell.seen.get(`${epoch}:${w.period - i}`)?.tickets.has(t) === true;
        if (!heard) quiet.push(t);
      }
      if (quiet.length > 0) {
        const r = await this.markGone(epoch, quiet, w.goneLifetimeMs);
        if (r.outcome === 'ok') marked = r.marked;
      }
    }
    return { outcome: 'ok', windowEnd: s.windowEnd, marked };
  }

  /** unmark-gone.lua. */
  async unmarkGone(epoch: string, ticket: number): Promise<UnmarkGoneResult> {
    this.assertOpen();
    if (!Number.isSafeInteger(ticket) || ticket < 1 || ticket > 4294967295) throw new RangeError(`ticket ${ticket} is not an integer in [1, 4294967295]`);
    const s = this.cell.state;
    if (!s || s.epoch !== epoch) return { outcome: 'reset' };
    const g = this.goneOf(epoch, this.now());
    if (ticket <= s.windowEnd) return { outcome: g?.has(ticket) ? 'skipped' : 'admitted', windowEnd: s.windowEnd };
    if (!g?.delete(ticket)) return { outcome: 'present', windowEnd: s.windowEnd };
    return { outcome: 'unmarked', windowEnd: s.windowEnd };
  }

  /** GETRANGE of the gone bitmap, decoded. */
  async readGone(epoch: string, from: number, to: number): Promise<number[]> {
    this.assertOpen();
    const g = this.goneOf(epoch, this.now());
    if (!g) return [];
    const out: number[] = [];
    for (const t of g) if (t >= from && t <= to) out.push(t);
    return out.sort((a, b) => a - b);
  }

  /** set-origin-hold.lua. */
  async setOriginHold(hold: boolean, why: OriginHoldReason = { source: 'site', reason: '' }): Promise<OriginHoldResult> {
    this.assertOpen();
    const now = this.now();
    if (!this.cell.state) return { outcome: 'missing' };
    const s = this.checked(this.cell.state);
    const want = hold ? 1 : 0;
    if (s.originHold === want) return { outcome: 'unchanged', snapshot: snapshotOf(s, now) };
    s.originHold = want;
    s.version += 1;
    const reason = originHoldReasonText(why.reason);
    this.cell.appendEvent(this.eventStreamMaxLength, hold ? 'queue.origin_held' : 'queue.origin_recovered', now, {
      queue: this.queueId,
      epoch: s.epoch,
      source: why.source,
      reason,
      counter: s.counter,
      windowEnd: s.windowEnd,
    });
    const snap = snapshotOf(s, now);
    publish(this.cell, snap, () => !this.closed, this.log);
    return { outcome: 'changed', snapshot: snap };
  }

  /** The lease holder by the store clock: an expired lease is no lease (Redis PX expiry). */
  private holder(nowMs: number): string | null {
    if (this.cell.lease && nowMs >= this.cell.lease.expiresAtMs) this.cell.lease = undefined;
    return this.cell.lease?.owner ?? null;
  }

  async acquireLease(owner: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    const now = this.now();
    if (this.holder(now) !== null) return false;
    this.cell.lease = { owner, expiresAtMs: now + ttlMs };
    return true;
  }

  async renewLease(owner: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    const now = this.now();
    if (this.holder(now) !== owner || !this.cell.lease) return false;
    this.cell.lease.expiresAtMs = now + ttlMs;
    return true;
  }

  async releaseLease(owner: string): Promise<boolean> {
    this.assertOpen();
    if (this.holder(this.now()) !== owner) return false;
    this.cell.lease = undefined;
    return true;
  }

  async leaseHolder(): Promise<string | null> {
    this.assertOpen();
    return this.holder(this.now());
  }

  async subscribe(onSnapshot: (s: QueueSnapshot) => void): Promise<Subscription> {
    this.assertOpen();
    // Wrapped so that subscribing the same function twice gives two deliveries, as two Redis subscriptions would.
    const listener = (s: QueueSnapshot) => onSnapshot(s);
    this.cell.listeners.add(listener);
    this.mine.add(listener);
    return {
      close: async () => {
        this.cell.listeners.delete(listener);
        this.mine.delete(listener);
      },
    };
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  isReady(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const l of this.mine) this.cell.listeners.delete(l);
    this.mine.clear();
  }
}
