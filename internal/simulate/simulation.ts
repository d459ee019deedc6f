import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { LeaderLease } from '../leader/lease';
import { Ticker } from '../leader/ticker';
import type { QueueSettings, QueueSnapshot } from '../queue/queue-state';
import { QueueStateCache } from '../queue/state-cache';
import { TicketBatcher, type IssuedTicket } from '../service/ticket-batcher';
import { MemoryPassStore } from '../store/memory-pass-store';
import type { PassStats } from '../store/pass-store';
import { MemoryQueueStore } from '../store/memory-store';
import { arrivalTimesMs } from './arrivals';
import { admissionSettings, maxMoveOf } from './capabilities';
import { MinHeap } from './min-heap';
import { Random } from './random';
import type { Scenario } from './scenario';
import { VirtualClock } from './virtual-clock';

/**
 * The server's own timing settings the simulated replica runs with: the defaults of
 * internal/config/config.ts (LEASE_TTL_MS 5000, renew every TTL / 3, STATE_REFRESH_MS
 * 1000) and the Ticker's idle check (10 s). They only matter while nobody waits or when
 * leadership moves; an advance's timing comes from the stored due time.
 */
export const SERVER_TIMING = Object.freeze({ leaseTtlMs: 5000, leaseRenewMs: 1666, refreshMs: 1000, maxStalenessMs: 10_000, batchMax: 512 });

/** Virtual t = 0: any fixed instant works (times are reported relative to it). */
export const SIM_EPOCH_MS = Date.UTC(2030, 0, 1);
/** How long a gone mark lives in the store: longer than any simulated sale (the horizon is at most 30 days). */
const GONE_LIFETIME_MS = 31 * 86_400_000;

/** Everything one run produced, in ms from t = 0; NaN where a visitor never reached that point. */
export interface SimulationResult {
  readonly scenario: Scenario;
  readonly visitors: {
    readonly arrivedMs: Float64Array;
    readonly ticket: Float64Array;
    readonly admittedMs: Float64Array;
    readonly gaveUpMs: Float64Array;
    readonly leftSiteMs: Float64Array;
    /** When the visitor's claim was answered with a pass (NaN: never claimed, or refused). */
    readonly claimedMs: Float64Array;
    /** When a claim was refused because the site was full (its claim window had closed). */
    readonly refusedMs: Float64Array;
    /** 1 for a visitor who is admitted but never comes to the site. */
    readonly noShow: Uint8Array;
  };
  /** Every move of the window: when, and the new W. */
  readonly advances: { readonly atMs: number[]; readonly windowEnd: number[] };
  /**
   * Per whole second, the most during that second of: visitors waiting (present, not admitted),
   * visitors on the site (claimed, not yet left), and places taken as the store counts them
   * (live passes + admitted tickets not yet claimed in an open claim window, docs/system.md
   * "Occupancy": what the capacity cap limits).
   */
  readonly perSecond: { readonly waitingMax: number[]; readonly onSiteMax: number[]; readonly occupancyMax: number[] };
  /** The store's pass counters at the end (claimed, completed, abandoned, timedOut, active). */
  readonly passStats: PassStats;
  /** Admissions of tickets whose visitor had already given up (places the site never saw used). */
  readonly admittedAfterGivingUp: number;
  /** Tickets of visitors who gave up that the advances skipped (compensateNoShows). */
  readonly skippedNoShows: number;
  /** When the run stopped (everybody served, or the horizon). */
  readonly endMs: number;
  /** True when the horizon cut the run short with visitors still waiting or on the site. */
  readonly cutShort: boolean;
  /** Real time the run took, ms. */
  readonly wallMs: number;
}

/**
 * Runs a scenario through waitroom's own admission code on a virtual clock: the embedded
 * store (MemoryQueueStore, which mirrors every Lua script step for step and passes the same
 * contract suite as the Redis store), the state cache, the leader lease and the Ticker,
 * exactly as one replica wires them (internal/queues/queue-runtime.ts), and joins through
 * the same TicketBatcher. No Redis, no sockets: only the process's timers are virtual.
 *
 * What is simulated around that code is the visitors: when they arrive, whether they give
 * up, whether they come to the site and how long they stay. Admissions, their timing and
 * order are whatever the real ticker and store do.
 */
export async function simulate(scenario: Scenario, csvCounts?: readonly number[]): Promise<SimulationResult> {
  const settings: QueueSettings = admissionSettings(scenario, SIM_EPOCH_MS);
  const started = performance.now();
  const arrivedMs = arrivalTimesMs(scenario.arrivals, scenario.seed, csvCounts);
  const n = arrivedMs.length;
  const v = {
    arrivedMs,
    ticket: new Float64Array(n).fill(NaN),
    admittedMs: new Float64Array(n).fill(NaN),
    gaveUpMs: new Float64Array(n).fill(NaN),
    leftSiteMs: new Float64Array(n).fill(NaN),
    claimedMs: new Float64Array(n).fill(NaN),
    refusedMs: new Float64Array(n).fill(NaN),
    noShow: new Uint8Array(n),
  };
  const b = scenario.visitors;
  const giveUpRnd = new Random(scenario.seed, 1);
  const noShowRnd = new Random(scenario.seed, 2);
  const stayRnd = new Random(scenario.seed, 3);
  // Streams of their own, so adding claim delays or unreported departures moves no other draw.
  const claimRnd = new Random(scenario.seed, 4);
  const reportRnd = new Random(scenario.seed, 5);
  const willGiveUp = new Uint8Array(n);
  const reportsDone = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    willGiveUp[i] = giveUpRnd.chance(b.giveUp.share) ? 1 : 0;
    v.noShow[i] = noShowRnd.chance(b.noShowShare) ? 1 : 0;
    reportsDone[i] = reportRnd.chance(b.reportedDoneShare) ? 1 : 0;
  }
  const claimWithinMs = b.claimWithinSeconds * 1000;
  const passTtlMs = Math.round(scenario.site.passTtlMinutes * 60_000);
  const patienceMs = b.giveUp.afterMinutes * 60_000;
  const stayMs = (): number => {
    const t = b.timeOnSite;
    const m = t.minutes * 60_000;
    if (t.distribution === 'fixed') return m;
    if (t.distribution === 'exponential') return Math.max(1, Math.round(stayRnd.exponential(m)));
    return Math.round(m + stayRnd.next() * ((t.maxMinutes ?? t.minutes) * 60_000 - m));
  };

  const clock = VirtualClock.install(SIM_EPOCH_MS);
  const now = () => clock.now();
  const rel = () => clock.now() - SIM_EPOCH_MS;
  const logger = pino({ level: 'silent' });
  // The event stream is kept short: nobody reads it here, and a long sale appends millions.
  const store = new MemoryQueueStore({ queueId: 'simulated', logger, now, eventStreamMaxLength: 1000 });
  const passes = new MemoryPassStore(store);
  const cache = new QueueStateCache({ store, settings: () => settings, logger, refreshMs: SERVER_TIMING.refreshMs, maxStalenessMs: SERVER_TIMING.maxStalenessMs, now });
  const lease = new LeaderLease({ store, owner: 'simulated-replica', ttlMs: SERVER_TIMING.leaseTtlMs, renewMs: SERVER_TIMING.leaseRenewMs, logger, now });
  const maxMove = maxMoveOf(scenario);
  const ticker = new Ticker({ store, lease, cache, logger, maxMove: () => maxMove });
  const batcher = new TicketBatcher(store, () => settings, SERVER_TIMING.batchMax, undefined, () => cache.highWater());

  // Tickets are numbered 1, 2, ... in one epoch; visitorOf[t] is the visitor holding ticket t.
  const visitorOf = new Int32Array(n + 1).fill(-1);
  let epoch = '';
  let issuedUpTo = 0;
  let admittedUpTo = 0;
  let waiting = 0;
  let onSite = 0;
  let admittedAfterGivingUp = 0;
  let skippedNoShows = 0;
  /** Visitors whose give-up the store marked gone (mark-gone.lua's mirror: they were still waiting). */
  const markedGone = new Uint8Array(n);
  const advances = { atMs: [] as number[], windowEnd: [] as number[] };
  const waitingMax: number[] = [];
  const onSiteMax: number[] = [];
  const occupancyMax: number[] = [];
  const departures = new MinHeap();
  /** Admitted visitors who will claim later (claimWithinSeconds). */
  const claims = new MinHeap();
  const cell = store.data;
  // Passes by expiry, to count the live ones (exp > now) without a scan: a pass that expired
  // stays in the store until the next advance or sweep retires it, and is no place then.
  const expiries = new MinHeap();
  const lingering = new Set<string>();
  let nextArrival = 0;
  let nextGiveUp = 0;
  let failure: unknown;

  const mark = (): void => {
    const s = Math.floor(rel() / 1000);
    // Places taken as the scripts count them (claim-pass.lua, advance-window.lua): passes not
    // expired nor done, plus `pending` (admitted, unclaimed tickets of open claim windows).
    const nowMs = now();
    while (expiries.peekTime() <= nowMs) {
      const jti = `sim-${expiries.pop()!}`;
      if (cell.passes.has(jti)) lingering.add(jti);
    }
    for (const jti of lingering) if (!cell.passes.has(jti)) lingering.delete(jti);
    const occupancy = cell.passes.size - lingering.size + (cell.occupancy?.pending ?? 0);
    while (waitingMax.length <= s) {
      waitingMax.push(waiting);
      onSiteMax.push(onSite);
      occupancyMax.push(occupancy);
    }
    if (waiting > waitingMax[s]!) waitingMax[s] = waiting;
    if (onSite > onSiteMax[s]!) onSiteMax[s] = onSite;
    if (occupancy > occupancyMax[s]!) occupancyMax[s] = occupancy;
  };

  const admit = (i: number): void => {
    if (!Number.isNaN(v.admittedMs[i]!)) return;
    const t = rel();
    if (!Number.isNaN(v.gaveUpMs[i]!)) {
      // W moved over the ticket of a visitor who gave up: with compensation the advance skipped
      // it (the store counted it as no place), without it the place was given and lost.
      if (maxMove > 0 && markedGone[i]) skippedNoShows++;
      else admittedAfterGivingUp++;
      v.admittedMs[i] = t;
      return;
    }
    v.admittedMs[i] = t;
    waiting--;
    // A no-show never claims: its place stays counted until its claim window closes (K·I).
    if (!v.noShow[i]) {
      const delay = claimWithinMs > 0 ? Math.round(claimRnd.next() * claimWithinMs) : 0;
      if (delay === 0) claim(i);
      else {
        claims.push(t + delay, i);
        arm();
      }
    }
    mark();
  };

  // The visitor claims its pass (claim-pass.lua's embedded mirror, which moves its place from
  // the claim window to the live passes, or refuses a late claim on a full site), stays, and
  // leaves: reported (pass-done.lua) or not (the pass expires after passTtlMinutes).
  const claim = (i: number): void => {
    const ticket = v.ticket[i]!;
    const pass = { jti: `sim-${ticket}`, token: `sim-${ticket}`, expMs: now() + passTtlMs };
    passes.claim(epoch, ticket, pass, settings.intervalMs * settings.activeWindowCount, 'same').then((r) => {
      const at = rel();
      if (r.outcome === 'full') {
        v.refusedMs[i] = at;
      } else {
        v.claimedMs[i] = at;
        if (r.outcome === 'issued') expiries.push(pass.expMs, ticket);
        onSite++;
        departures.push(at + stayMs(), i);
        arm();
      }
      mark();
    }, fail);
  };

  const fail = (err: unknown): void => {
    failure ??= err;
  };

  const onTicket = (i: number, r: IssuedTicket): void => {
    cache.apply(r.snapshot, 'join');
    if (epoch === '') epoch = r.snapshot.epoch;
    if (r.snapshot.epoch !== epoch) fail(new Error(`the simulated queue changed epoch (${epoch} -> ${r.snapshot.epoch})`));
    v.ticket[i] = r.ticket;
    if (r.ticket > n) return fail(new Error(`ticket ${r.ticket} above the ${n} visitors simulated`));
    visitorOf[r.ticket] = i;
    issuedUpTo = Math.max(issuedUpTo, r.ticket);
    if (r.ticket <= Math.max(r.snapshot.windowEnd, admittedUpTo)) admit(i);
  };

  // Every move of the window, as the replica's cache sees it (the ticker applies each advance at once).
  cache.onChange((s: QueueSnapshot, prev: QueueSnapshot | undefined) => {
    if (s.windowEnd <= admittedUpTo) return;
    // The first load (the queue created with W = S, or W = 0 before opensAt) is no advance.
    if (prev) advances.atMs.push(rel());
    else advances.atMs.length = 0;
    if (!prev) {
      admittedUpTo = s.windowEnd;
      return;
    }
    advances.windowEnd.push(s.windowEnd);
    const upTo = Math.min(s.windowEnd, issuedUpTo);
    for (let t = admittedUpTo + 1; t <= upTo; t++) {
      const i = visitorOf[t]!;
      if (i >= 0) admit(i);
    }
    admittedUpTo = s.windowEnd;
  });

  let timer: NodeJS.Timeout | undefined;
  let armedAt = Infinity;
  const nextEventMs = (): number => {
    const a = nextArrival < n ? arrivedMs[nextArrival]! : Infinity;
    let g = Infinity;
    while (nextGiveUp < n && !willGiveUp[nextGiveUp]) nextGiveUp++;
    if (nextGiveUp < n) g = arrivedMs[nextGiveUp]! + patienceMs;
    return Math.min(a, g, departures.peekTime(), claims.peekTime());
  };
  function arm(): void {
    const at = nextEventMs();
    if (at === armedAt && timer) return;
    if (timer) clearTimeout(timer);
    timer = undefined;
    armedAt = at;
    if (at === Infinity) return;
    timer = setTimeout(run, Math.max(0, at - rel()));
  }
  function run(): void {
    timer = undefined;
    armedAt = Infinity;
    const t = rel();
    while (nextArrival < n && arrivedMs[nextArrival]! <= t) {
      const i = nextArrival++;
      waiting++;
      batcher.issue().then((r) => onTicket(i, r), fail);
    }
    while (nextGiveUp < n && (!willGiveUp[nextGiveUp] || arrivedMs[nextGiveUp]! + patienceMs <= t)) {
      const i = nextGiveUp++;
      if (!willGiveUp[i] || !Number.isNaN(v.admittedMs[i]!)) continue;
      // Still waiting after their patience ran out: they close the page, whose pagehide sends
      // POST /leave: the store marks the ticket gone (mark-gone.lua's mirror). With
      // compensateNoShows the next advances skip it; without, it keeps its place and its
      // admission is a place lost, exactly as on a server.
      v.gaveUpMs[i] = t;
      waiting--;
      const ticket = v.ticket[i]!;
      if (!Number.isNaN(ticket)) {
        store.markGone(epoch, [ticket], GONE_LIFETIME_MS).then((r) => {
          if (r.outcome === 'ok' && r.marked + r.already > 0) markedGone[i] = 1;
        }, fail);
      }
    }
    while (claims.peekTime() <= t) claim(claims.pop()!);
    while (departures.peekTime() <= t) {
      const i = departures.pop()!;
      v.leftSiteMs[i] = t;
      onSite--;
      // The site reports the visitor gone (POST /passes/done), or the pass runs to its expiry.
      if (reportsDone[i]) passes.done(`sim-${v.ticket[i]!}`, 'completed').catch(fail);
    }
    mark();
    arm();
  }

  const horizonMs = scenario.horizonSeconds !== undefined ? scenario.horizonSeconds * 1000 : 30 * 86_400_000;
  const finished = (): boolean => nextArrival >= n && waiting === 0 && onSite === 0 && departures.size === 0 && claims.size === 0;
  let revocations: { close(): Promise<void> } | undefined;
  try {
    await cache.start();
    // As each replica wires it (queue-runtime.ts, RevocationList's onRevoked): a pass reported
    // done wakes a capped queue's ticker, which admits the next visitor at once.
    revocations = await passes.subscribeRevocations(() => ticker.wake());
    lease.start();
    ticker.start();
    arm();
    while (!finished() && rel() < horizonMs && failure === undefined) {
      if (clock.pending() === 0) break;
      await clock.step();
      mark();
    }
    if (failure !== undefined) throw failure;
    mark();
    const passStats = (await passes.sweep(false)).stats;
    return {
      scenario,
      visitors: v,
      advances,
      perSecond: { waitingMax, onSiteMax, occupancyMax },
      passStats,
      admittedAfterGivingUp,
      skippedNoShows,
      endMs: rel(),
      cutShort: !finished(),
      wallMs: performance.now() - started,
    };
  } finally {
    if (timer) clearTimeout(timer);
    await revocations?.close();
    await ticker.close();
    await lease.close();
    await cache.close();
    await store.close();
    clock.uninstall();
  }
}
