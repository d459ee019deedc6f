import type { SimulationResult } from './simulation';

/** The figures an operator reads first (docs/simulator.md, "The summary"). */
export interface Summary {
  readonly visitors: number;
  /** Visitors admitted while still present (no-shows included: they were let in). */
  readonly admitted: number;
  readonly gaveUp: number;
  readonly gaveUpShare: number;
  readonly noShows: number;
  /** Admissions of tickets whose visitor had already given up. */
  readonly admittedAfterGivingUp: number;
  /** Tickets of visitors who gave up that the advances skipped instead (compensateNoShows): places not lost. */
  readonly skippedNoShows: number;
  readonly peakWaiting: number;
  /** Time in queue of admitted visitors, seconds. */
  readonly waitP50: number;
  readonly waitP90: number;
  readonly waitP99: number;
  readonly waitMax: number;
  readonly peakOnSite: number;
  readonly capacity: number;
  readonly capacityExceeded: boolean;
  /** Seconds during which the site held more visitors than its capacity. */
  readonly secondsOverCapacity: number;
  /** The queue's cap (maxActive); null for none. */
  readonly maxActive: number | null;
  /** The most places taken at once as the store counts them (live passes + admitted, unclaimed in an open claim window). */
  readonly peakOccupancy: number;
  /** Whether the store's count ever went over maxActive (it must not); null without a cap. */
  readonly maxActiveExceeded: boolean | null;
  /** Claims refused because the site was full (claimed after their claim window closed). */
  readonly claimsRefused: number;
  /** Passes that expired without a done report (the store's timedOut counter). */
  readonly passesExpired: number;
  /** When the last waiting visitor was admitted, seconds from t = 0 (null: nobody was). */
  readonly lastAdmissionSecond: number | null;
  readonly advances: number;
  readonly endSecond: number;
  readonly cutShort: boolean;
  readonly wallMs: number;
}

/** The q-quantile (0..1) of sorted values, nearest-rank (the value a share q of visitors is at or below). */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

/** Waits (seconds) of the visitors admitted while present, sorted. */
export function waitsSeconds(r: SimulationResult): Float64Array {
  const v = r.visitors;
  const out: number[] = [];
  for (let i = 0; i < v.arrivedMs.length; i++) {
    if (!Number.isNaN(v.admittedMs[i]!) && Number.isNaN(v.gaveUpMs[i]!)) out.push((v.admittedMs[i]! - v.arrivedMs[i]!) / 1000);
  }
  return Float64Array.from(out).sort();
}

export function summarize(r: SimulationResult): Summary {
  const v = r.visitors;
  const n = v.arrivedMs.length;
  let gaveUp = 0;
  let noShows = 0;
  let last: number | null = null;
  for (let i = 0; i < n; i++) {
    if (!Number.isNaN(v.gaveUpMs[i]!)) gaveUp++;
    else if (!Number.isNaN(v.admittedMs[i]!)) {
      if (v.noShow[i]) noShows++;
      last = last === null ? v.admittedMs[i]! : Math.max(last, v.admittedMs[i]!);
    }
  }
  const waits = waitsSeconds(r);
  const capacity = r.scenario.site.capacity;
  const onSite = r.perSecond.onSiteMax;
  const cap = r.scenario.queue.maxActive ?? null;
  const peakOccupancy = maxOf(r.perSecond.occupancyMax);
  let claimsRefused = 0;
  for (let i = 0; i < n; i++) if (!Number.isNaN(v.refusedMs[i]!)) claimsRefused++;
  return {
    visitors: n,
    admitted: waits.length,
    gaveUp,
    gaveUpShare: n > 0 ? gaveUp / n : 0,
    noShows,
    admittedAfterGivingUp: r.admittedAfterGivingUp,
    skippedNoShows: r.skippedNoShows,
    peakWaiting: maxOf(r.perSecond.waitingMax),
    waitP50: quantile(waits, 0.5),
    waitP90: quantile(waits, 0.9),
    waitP99: quantile(waits, 0.99),
    waitMax: waits.length > 0 ? waits[waits.length - 1]! : 0,
    peakOnSite: maxOf(onSite),
    capacity,
    capacityExceeded: onSite.some((x) => x > capacity),
    secondsOverCapacity: onSite.filter((x) => x > capacity).length,
    maxActive: cap,
    peakOccupancy,
    maxActiveExceeded: cap === null ? null : peakOccupancy > cap,
    claimsRefused,
    passesExpired: r.passStats.timedOut,
    lastAdmissionSecond: last === null ? null : last / 1000,
    advances: r.advances.atMs.length,
    endSecond: r.endMs / 1000,
    cutShort: r.cutShort,
    wallMs: r.wallMs,
  };
}

/** The largest value, 0 for none (spreading a long array into Math.max overflows the stack). */
export function maxOf(xs: readonly number[]): number {
  let m = 0;
  for (const x of xs) if (x > m) m = x;
  return m;
}

function duration(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** The summary as an aligned two-column table for the terminal. */
export function summaryTable(name: string, s: Summary): string {
  const rows: Array<[string, string]> = [
    ['visitors', String(s.visitors)],
    ['admitted (present)', String(s.admitted)],
    ['peak queue length', String(s.peakWaiting)],
    ['time in queue P50', duration(s.waitP50)],
    ['time in queue P90', duration(s.waitP90)],
    ['time in queue P99', duration(s.waitP99)],
    ['time in queue max', duration(s.waitMax)],
    ['gave up', `${s.gaveUp} (${pct(s.gaveUpShare)})`],
    ['places lost to visitors who gave up', String(s.admittedAfterGivingUp)],
    ['skipped, they had left (compensateNoShows)', String(s.skippedNoShows)],
    ['no-shows', String(s.noShows)],
    ['peak on the site / capacity', `${s.peakOnSite} / ${s.capacity}`],
    ['capacity exceeded', s.capacityExceeded ? `YES, for ${s.secondsOverCapacity} s` : 'no'],
    ['maxActive (the cap)', s.maxActive === null ? 'none' : String(s.maxActive)],
    ['peak places taken (store count)', s.maxActive === null ? String(s.peakOccupancy) : `${s.peakOccupancy} / ${s.maxActive}`],
    ['cap exceeded', s.maxActiveExceeded === null ? '-' : s.maxActiveExceeded ? 'YES (a bug: report it)' : 'no'],
    ['claims refused (site full)', String(s.claimsRefused)],
    ['passes expired unreported', String(s.passesExpired)],
    ['last admission', s.lastAdmissionSecond === null ? '-' : `at ${duration(s.lastAdmissionSecond)}`],
    ['window advances', String(s.advances)],
    ['simulated', `${duration(s.endSecond)}${s.cutShort ? ' (cut short by horizonSeconds)' : ''} in ${(s.wallMs / 1000).toFixed(1)} s`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  return [`${name}`, ...rows.map(([k, val]) => `  ${k.padEnd(w)}  ${val}`)].join('\n');
}
