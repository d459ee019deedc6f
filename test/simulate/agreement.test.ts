import { createClient } from 'redis';
import { Ticker } from '../../internal/leader/ticker';
import type { QueueSnapshot } from '../../internal/queue/queue-state';
import { parseScenario } from '../../internal/simulate/scenario';
import { simulate, type SimulationResult } from '../../internal/simulate/simulation';
import { queueKeys } from '../../internal/store/keys';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * The simulator and the server agree (docs/simulator.md, "Does the simulator agree with the
 * server?"). Three real server processes on one real Redis run a small sale at a short
 * interval; each ticket's arrival and each window advance (the Redis time the advance ran,
 * from the queue's events channel) are recorded. The same arrival instants go through the
 * simulator, and the two runs are compared advance by advance and ticket by ticket:
 *
 * - the sequence of W values (so the number of advances) must be EQUAL;
 * - each simulated advance may not be later than the real one (by more than the 1 ms the
 *   virtual clock gives a join's next turn) and may be earlier only by the lateness the
 *   real ticker accumulated since the queue last went idle (each real advance runs a little
 *   after it was due; the next is due I after that, so lateness adds up over a busy spell);
 * - each ticket's simulated admission obeys the same bound.
 *
 * Negative controls run the same comparison against the simulator with S + 1 and with the
 * idle-wake rule delayed by half an interval: both must be refused.
 */
const S = 25;
const INTERVAL_MS = 200;
const K = 2;
const QUEUE = 'agree';
/** The virtual clock runs a join's next turn 1 ms later; 1 ms more for whole-ms rounding. */
const EPS_MS = 2;

interface Join {
  ticket: number;
  sentMs: number;
  answeredMs: number;
  /** The ticket was inside the window when it was issued (admitted at once). */
  atOnce: boolean;
}

interface Advance {
  windowEnd: number;
  /** Redis TIME when the advance ran, epoch ms (the machine's clock: the test runs on the same host). */
  nowMs: number;
}

/**
 * Arrival plan, ms from the start: a burst (most at first), a steady trickle while the queue
 * drains, groups of S + 5 after the queue has gone idle (each wakes the idle ticker), and a
 * second burst. 1,385 visitors over 14 s; the last is admitted near 18 s.
 */
function plan(): number[] {
  const out: number[] = [];
  // 600 over the first second, the rate falling linearly to 0 (the k-th at 1 - sqrt(1 - k/600)).
  for (let k = 0; k < 600; k++) out.push(Math.floor(1000 * (1 - Math.sqrt(1 - k / 600))));
  // 50 a second from 1 s to 4 s.
  for (let k = 0; k < 150; k++) out.push(1000 + k * 20);
  // After the drain (about 6 s): 7 groups of S + 5, 900 ms apart, each a burst over 30 ms.
  for (let g = 0; g < 7; g++) for (let k = 0; k < S + 5; k++) out.push(7000 + g * 900 + k);
  // 425 over 500 ms from 13.5 s.
  for (let k = 0; k < 425; k++) out.push(13_500 + Math.floor((k * 500) / 425));
  return out.sort((a, b) => a - b);
}

/** Sends the planned joins round-robin to the replicas at their planned instants. */
async function drive(servers: ServerProcess[], offsets: number[]): Promise<Join[]> {
  const start = Date.now() + 50;
  const sends: Array<Promise<Join>> = [];
  let next = 0;
  // One timer per distinct planned millisecond; each fires every join planned for it.
  await new Promise<void>((resolve) => {
    const fire = () => {
      const now = Date.now() - start;
      while (next < offsets.length && offsets[next]! <= now) {
        const target = servers[next % servers.length]!;
        next++;
        const sentMs = Date.now();
        sends.push(
          target.fetch('/join', { method: 'POST', signal: AbortSignal.timeout(15_000) }).then(async (r) => {
            const body = (await r.json()) as { ticket: number; windowEnd: number; status: string };
            if (r.status !== 201) throw new Error(`join answered ${r.status}: ${JSON.stringify(body)}`);
            return { ticket: body.ticket, sentMs, answeredMs: Date.now(), atOnce: body.ticket <= body.windowEnd };
          }),
        );
      }
      if (next >= offsets.length) return resolve();
      setTimeout(fire, Math.max(0, offsets[next]! - (Date.now() - start)));
    };
    setTimeout(fire, Math.max(0, start - Date.now()));
  });
  return Promise.all(sends);
}

/** Records every move of W published on the queue's events channel (plain or sharded pub/sub). */
async function recordAdvances(url: string): Promise<{ list: Advance[]; close: () => Promise<void> }> {
  const list: Advance[] = [];
  let seenW = 0;
  const sub = createClient({ url });
  sub.on('error', () => undefined);
  await sub.connect();
  const onMessage = (m: string) => {
    const a = JSON.parse(m) as Record<string, string>;
    // The channel also carries the queue's creation and the first waiting join (which wakes the
    // ticker), both without moving W: an advance is a message that moves W up, version > 1.
    const windowEnd = Number(a.windowEnd);
    const moved = Number(a.version) > 1 && windowEnd > seenW;
    seenW = Math.max(seenW, windowEnd);
    if (moved) list.push({ windowEnd, nowMs: Number(a.nowMs) });
  };
  // The store publishes on the queue's events channel; subscribing both ways keeps this test
  // right whether the scripts PUBLISH or SPUBLISH (Redis 7 delivers each to its own kind only).
  await sub.subscribe(queueKeys(QUEUE).events, onMessage);
  await sub.sSubscribe(queueKeys(QUEUE).events, onMessage);
  return { list, close: () => sub.close() };
}

interface RealRun {
  /** By ticket - 1: the earliest instant the ticket can have been issued (ms from t0). */
  lo: number[];
  /** By ticket - 1: the latest instant it can have been issued (ms from t0). */
  hi: number[];
  atOnce: boolean[];
  advances: Array<{ windowEnd: number; atMs: number }>;
}

/**
 * Brackets each ticket's issue time in the store by what the client saw. Ticket t was issued
 * no earlier than the latest send of a ticket <= t (tickets are issued in order), and no later
 * than the earliest answer to a ticket >= t. Both brackets grow with t, so arrivals fed to the
 * simulator in that order get the same ticket numbers there.
 */
function bracket(joins: Join[], t0: number, advances: Advance[]): RealRun {
  const n = joins.length;
  const byTicket: Join[] = new Array(n);
  for (const j of joins) {
    if (j.ticket < 1 || j.ticket > n || byTicket[j.ticket - 1]) throw new Error(`ticket ${j.ticket} duplicated or outside 1..${n}`);
    byTicket[j.ticket - 1] = j;
  }
  const lo = new Array<number>(n);
  const hi = new Array<number>(n);
  let m = -Infinity;
  for (let t = 0; t < n; t++) lo[t] = m = Math.max(m, byTicket[t]!.sentMs - t0);
  m = Infinity;
  for (let t = n - 1; t >= 0; t--) hi[t] = m = Math.min(m, byTicket[t]!.answeredMs - t0);
  return { lo, hi, atOnce: byTicket.map((j) => j.atOnce), advances: advances.map((a) => ({ windowEnd: a.windowEnd, atMs: a.nowMs - t0 })) };
}

interface Agreement {
  problems: string[];
  /** Real advances woken by a join after the queue went idle, and due-driven ones. */
  woken: number;
  due: number;
  /** Largest lateness of one real advance, and largest lateness summed over a busy spell. */
  maxLateMs: number;
  maxBoundMs: number;
  /** Median lateness of the advances woken from idle (join, issue and pub/sub latency). */
  medianWakeLateMs: number;
  /**
   * Advances whose simulated time is the real one less the lateness summed since the queue
   * last went idle (to within the 1 ms of a simulated wake and 1 ms of rounding): the
   * simulator is exact there, and only lateness separates the runs.
   */
  exact: number;
  /** Largest |real - simulated| over advances and over tickets. */
  maxAdvanceGapMs: number;
  maxTicketGapMs: number;
}

/**
 * The comparison. For the real advance k (W from W_{k-1} to W_k = W_{k-1} + S, at a_k):
 * it was due at a_{k-1} + I and could not run before ticket W_{k-1} + 1 arrived (lo), so
 * its lateness is d_k = a_k - max(a_{k-1} + I, lo) >= 0. The simulated advance s_k runs
 * with no lateness (max(s_{k-1} + I, lo), + 1 ms when a join wakes it), so
 *   -EPS <= a_k - s_k <= B_k,   B_k = d_k + (an idle wake: 0, else max(B_{k-1}, 0)).
 */
function compare(real: RealRun, sim: SimulationResult): Agreement {
  const problems: string[] = [];
  const r = real.advances;
  const s = sim.advances;
  const simW = s.windowEnd;
  const realW = r.map((a) => a.windowEnd);
  if (simW.length !== realW.length || simW.some((w, k) => w !== realW[k])) {
    const k = simW.findIndex((w, i) => w !== realW[i]);
    problems.push(`W sequences differ: ${realW.length} real advances, ${simW.length} simulated; first difference at advance ${k + 1} (real ${realW[k]}, simulated ${simW[k]})`);
  }
  const n = real.lo.length;
  for (let t = 1; t <= n; t++) {
    if (sim.visitors.ticket[t - 1] !== t) {
      problems.push(`the simulator gave arrival ${t} ticket ${sim.visitors.ticket[t - 1]}`);
      break;
    }
  }
  let woken = 0;
  let due = 0;
  let maxLateMs = 0;
  let maxBoundMs = 0;
  let maxAdvanceGapMs = 0;
  let maxTicketGapMs = 0;
  const boundAt: number[] = [];
  const wakeLate: number[] = [];
  let exact = 0;
  let bound = 0;
  const count = Math.min(r.length, s.atMs.length);
  for (let k = 0; k < count; k++) {
    const prevW = k === 0 ? S : r[k - 1]!.windowEnd;
    const dueAt = k === 0 ? -Infinity : r[k - 1]!.atMs + INTERVAL_MS;
    const arrived = real.lo[prevW]!; // ticket prevW + 1, index prevW
    const idleWake = arrived >= dueAt;
    if (idleWake) woken++;
    else due++;
    const late = r[k]!.atMs - Math.max(dueAt, arrived);
    if (late < 0) problems.push(`real advance ${k + 1} ran ${-late} ms before it could (model broken)`);
    bound = late + (idleWake ? 0 : Math.max(bound, 0));
    boundAt.push(bound);
    maxLateMs = Math.max(maxLateMs, late);
    if (idleWake) wakeLate.push(late);
    maxBoundMs = Math.max(maxBoundMs, bound);
    const gap = r[k]!.atMs - s.atMs[k]!;
    maxAdvanceGapMs = Math.max(maxAdvanceGapMs, Math.abs(gap));
    if (gap >= bound - EPS_MS && gap <= bound) exact++;
    if (gap < -EPS_MS || gap > bound + EPS_MS) {
      problems.push(`advance ${k + 1} (W ${r[k]!.windowEnd}): real at ${r[k]!.atMs} ms, simulated at ${s.atMs[k]} ms, allowed [${-EPS_MS}, ${bound + EPS_MS}] ms`);
    }
  }
  // Per ticket: one admitted at once was admitted when issued, somewhere in [lo, hi]; one that
  // waited was admitted exactly at the real advance that moved W over it.
  let ticketProblems = 0;
  for (let t = 1; t <= n; t++) {
    const simAt = sim.visitors.admittedMs[t - 1]!;
    const k = Math.ceil((t - S) / S) - 1; // the advance whose W first covers t (-1: the initial W)
    let lo: number;
    let hi: number;
    if (real.atOnce[t - 1] || k < 0) {
      lo = real.lo[t - 1]! - EPS_MS;
      hi = real.hi[t - 1]! + EPS_MS;
    } else if (k < count) {
      const at = r[k]!.atMs;
      lo = at - boundAt[k]! - EPS_MS;
      hi = at + EPS_MS;
    } else continue;
    const mid = (real.atOnce[t - 1] || k < 0 ? real.lo[t - 1]! : r[k]!.atMs);
    maxTicketGapMs = Math.max(maxTicketGapMs, Math.abs(mid - simAt));
    if (!(simAt >= lo && simAt <= hi) && ticketProblems++ < 10) {
      problems.push(`ticket ${t}: simulated admission at ${simAt} ms, real admission allows [${lo}, ${hi}] ms`);
    }
  }
  wakeLate.sort((x, y) => x - y);
  const medianWakeLateMs = wakeLate.length ? wakeLate[Math.floor(wakeLate.length / 2)]! : 0;
  return { problems, woken, due, maxLateMs, maxBoundMs, medianWakeLateMs, exact, maxAdvanceGapMs, maxTicketGapMs };
}

function scenarioOf(real: RealRun, windowSize = S) {
  return parseScenario({
    name: 'agreement',
    arrivals: { kind: 'times', seconds: real.lo.map((ms) => ms / 1000) },
    queue: { windowSize, intervalSeconds: INTERVAL_MS / 1000, activeWindowCount: K },
    visitors: { timeOnSite: { distribution: 'fixed', minutes: 0.01 } },
    site: { capacity: 100_000 },
  });
}

let redis: TestRedis;
let servers: ServerProcess[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(async () => {
  await Promise.all(servers.map((p) => p.stop()));
  await redis?.close();
});

test('a sale through three real replicas and the simulator: the same advances, admission times within the ticker lateness', async () => {
  servers = await Promise.all(
    [0, 1, 2].map(() =>
      ServerProcess.start({
        REDIS_URL: redis.url,
        QUEUE_ID: QUEUE,
        WINDOW_SIZE: String(S),
        WINDOW_INTERVAL: String(INTERVAL_MS / 1000),
        ACTIVE_WINDOW_COUNT: String(K),
        LOG_LEVEL: 'warn',
        // Every visitor of this test comes from 127.0.0.1: no per-address join limit.
        JOIN_LIMIT_BURST: '0',
      }),
    ),
  );
  await waitFor(async () => (await redis.withClient((c) => c.get(queueKeys(QUEUE).leader))) !== null, { timeoutMs: 10_000, what: 'a leader' });
  const rec = await recordAdvances(redis.url);
  const offsets = plan();
  const joins = await drive(servers, offsets);
  const n = joins.length;
  const lastW = S + Math.ceil((n - S) / S) * S;
  await waitFor(() => (rec.list.at(-1)?.windowEnd ?? 0) >= lastW, { timeoutMs: 15_000, what: `W to reach ${lastW}` });
  await rec.close();

  // t = 0 of the simulation is one second before the first join: the simulated queue is created
  // at t = 0 and has skipped its first due advance (0.2 s) by then, like the real queue, which
  // was created when the servers started and has been idle since.
  const t0 = Math.min(...joins.map((j) => j.sentMs)) - 1000;
  const real = bracket(joins, t0, rec.list);
  const sim = await simulate(scenarioOf(real));
  const a = compare(real, sim);
  // What was measured, for the docs' figures (printed by Jest beside the result).
  console.log(
    `agreement: ${n} visitors, ${rec.list.length} advances (${a.woken} woken from idle, ${a.due} due), ` +
      `real lateness max ${a.maxLateMs} ms per advance (median ${a.medianWakeLateMs} ms for a wake-up), ${a.maxBoundMs} ms summed over a busy spell; ` +
      `|real - simulated| max ${a.maxAdvanceGapMs} ms per advance, ${a.maxTicketGapMs} ms per ticket; ` +
      `${a.exact} of ${rec.list.length} advances exact once the lateness is taken off`,
  );
  expect(a.problems).toEqual([]);
  // The run exercised both rules: due advances in a busy queue and wake-ups of an idle one.
  expect(a.due).toBeGreaterThanOrEqual(30);
  expect(a.woken).toBeGreaterThanOrEqual(5);
  // Most advances are exact once the lateness is taken off: the bound is not what lets them pass.
  // (An advance is only bounded, not exact, when a join lands between the simulated and the
  // real due time, so one run wakes an idle ticker where the other advances on time.)
  expect(a.exact).toBeGreaterThanOrEqual(Math.ceil(0.8 * rec.list.length));
  // The bound is only as meaningful as the real ticker is prompt. A wake-up that waited for
  // the next slot would be late by up to I (half of it on average), a lost one by the 10 s idle
  // check; a busy machine makes single advances late by tens or hundreds of ms (871 ms seen
  // with the whole suite running on 2 cores), not the typical one.
  expect(a.medianWakeLateMs).toBeLessThan(INTERVAL_MS / 2);
  expect(a.maxLateMs).toBeLessThan(5000);

  // Negative controls: the comparison refuses a simulator that is wrong in small ways.
  const plusOne = compare(real, await simulate(scenarioOf(real, S + 1)));
  expect(plusOne.problems.join('\n')).toMatch(/W sequences differ/);

  // The idle-wake rule delayed by half an interval (the ticker's private onState, wrapped).
  const proto = Ticker.prototype as unknown as { onState: (s: QueueSnapshot, prev: QueueSnapshot | undefined) => void };
  const onState = proto.onState;
  proto.onState = function (this: Ticker, s: QueueSnapshot, prev: QueueSnapshot | undefined) {
    setTimeout(() => onState.call(this, s, prev), INTERVAL_MS / 2);
  };
  let lateWake: Agreement;
  try {
    lateWake = compare(real, await simulate(scenarioOf(real)));
  } finally {
    proto.onState = onState;
  }
  expect(lateWake.problems.join('\n')).toMatch(/advance \d+ .*allowed/);
}, 60_000);
