import type { Scenario } from './scenario';
import { simulate } from './simulation';
import { summarize, type Summary } from './summary';

export interface SweepRow {
  readonly windowSize: number;
  readonly intervalSeconds: number;
  readonly summary: Summary;
}

export interface SweepResult {
  readonly rows: SweepRow[];
  /** The setting that keeps the site within capacity with the shortest P90 wait; null if none does. */
  readonly best: SweepRow | null;
}

/** The default grid around the scenario's own S and I (18 runs). */
export function defaultGrid(s: Scenario): { sizes: number[]; intervals: number[] } {
  const S = s.queue.windowSize;
  const I = s.queue.intervalSeconds;
  const sizes = [...new Set([0.25, 0.5, 0.75, 1, 1.5, 2].map((f) => Math.max(1, Math.round(S * f))))];
  const intervals = [...new Set([I / 2, I, I * 2].map((x) => Math.max(0.05, Math.round(x * 1000) / 1000)))];
  return { sizes, intervals };
}

/**
 * Order of preference: within capacity first, then the shortest P90 wait, then the fewest
 * who gave up, then the lowest peak on the site (more headroom).
 */
export function better(a: SweepRow, b: SweepRow): number {
  const ok = (r: SweepRow) => (r.summary.capacityExceeded ? 1 : 0);
  return ok(a) - ok(b) || a.summary.waitP90 - b.summary.waitP90 || a.summary.gaveUp - b.summary.gaveUp || a.summary.peakOnSite - b.summary.peakOnSite;
}

/** Runs the scenario once per (S, I) of the grid, one after another (one virtual clock at a time). */
export async function sweep(
  s: Scenario,
  grid: { sizes: readonly number[]; intervals: readonly number[] },
  csvCounts?: readonly number[],
  onRow?: (r: SweepRow) => void,
): Promise<SweepResult> {
  const rows: SweepRow[] = [];
  for (const windowSize of grid.sizes) {
    for (const intervalSeconds of grid.intervals) {
      const run = await simulate({ ...s, queue: { ...s.queue, windowSize, intervalSeconds } }, csvCounts);
      const row = { windowSize, intervalSeconds, summary: summarize(run) };
      rows.push(row);
      onRow?.(row);
    }
  }
  const ranked = [...rows].sort(better);
  const best = ranked[0] && !ranked[0].summary.capacityExceeded ? ranked[0] : null;
  return { rows, best };
}

/** The admin API request that applies a recommendation (docs/operations.md, "Slow the rate"). */
export function patchCommand(row: SweepRow, queueId = 'default'): string {
  const body = JSON.stringify({ windowSize: row.windowSize, intervalSeconds: row.intervalSeconds });
  return [
    `curl -X PATCH "$WAITROOM/admin/api/v1/queues/${queueId}" \\`,
    `  -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \\`,
    `  -d '${body}'`,
  ].join('\n');
}
