import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadScenario } from '../../internal/simulate/load';
import { plotSpecs, renderSvg } from '../../internal/simulate/plots';
import { ScenarioError } from '../../internal/simulate/scenario';
import { simulate } from '../../internal/simulate/simulation';
import { summarize, summaryTable } from '../../internal/simulate/summary';
import { defaultGrid, patchCommand, sweep } from '../../internal/simulate/sweep';

/** sysexits.h: a bad command line, and a scenario that does not validate. */
const EX_USAGE = 64;
const EX_DATAERR = 65;

const USAGE = `usage: npm run simulate -- <scenario.json> [--out DIR] [--json]
       npm run simulate -- <scenario.json> --sweep [--sizes 50,100,200] [--intervals 0.5,1,2] [--queue ID]

Runs the scenario through waitroom's own admission code on a virtual clock
(docs/simulator.md). Writes summary.json and the plots (SVG) to DIR
(default: simulation-output/<scenario name>).`;

function numbers(s: string | undefined, what: string): number[] | undefined {
  if (s === undefined) return undefined;
  const xs = s.split(',').map(Number);
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x) || x <= 0)) throw new ScenarioError([`--${what}: "${s}" is not a comma-separated list of positive numbers`]);
  return xs;
}

/** Wiring only: arguments, files and exit codes; the simulation lives in internal/simulate. */
async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: 'string' },
        json: { type: 'boolean', default: false },
        sweep: { type: 'boolean', default: false },
        sizes: { type: 'string' },
        intervals: { type: 'string' },
        queue: { type: 'string', default: 'default' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`simulate: ${(err as Error).message}\n${USAGE}\n`);
    return EX_USAGE;
  }
  if (args.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const path = args.positionals[0];
  if (!path || args.positionals.length > 1) {
    process.stderr.write(`${USAGE}\n`);
    return EX_USAGE;
  }
  try {
    const { scenario, csvCounts } = await loadScenario(path);
    if (args.values.sweep) {
      const d = defaultGrid(scenario);
      const grid = { sizes: numbers(args.values.sizes, 'sizes') ?? d.sizes, intervals: numbers(args.values.intervals, 'intervals') ?? d.intervals };
      process.stdout.write(`sweep of ${grid.sizes.length * grid.intervals.length} runs: S in [${grid.sizes.join(', ')}], I in [${grid.intervals.join(', ')}] s\n`);
      process.stdout.write(`${'S'.padStart(8)} ${'I (s)'.padStart(7)} ${'P90 wait'.padStart(10)} ${'max wait'.padStart(10)} ${'gave up'.padStart(8)} ${'peak site'.padStart(10)}  within capacity\n`);
      const r = await sweep(scenario, grid, csvCounts, (row) => {
        const s = row.summary;
        process.stdout.write(
          `${String(row.windowSize).padStart(8)} ${String(row.intervalSeconds).padStart(7)} ${`${s.waitP90.toFixed(1)} s`.padStart(10)} ${`${s.waitMax.toFixed(1)} s`.padStart(10)} ${String(s.gaveUp).padStart(8)} ${String(s.peakOnSite).padStart(10)}  ${s.capacityExceeded ? 'no' : 'yes'}\n`,
        );
      });
      if (!r.best) {
        process.stdout.write(`\nno setting of the grid keeps the site within its capacity of ${scenario.site.capacity}: try smaller S or longer I (--sizes, --intervals)\n`);
        return 0;
      }
      const b = r.best;
      process.stdout.write(
        `\nrecommended: S = ${b.windowSize} every ${b.intervalSeconds} s (P90 wait ${b.summary.waitP90.toFixed(1)} s, peak on the site ${b.summary.peakOnSite} of ${scenario.site.capacity})\n\n${patchCommand(b, args.values.queue)}\n`,
      );
      return 0;
    }
    const result = await simulate(scenario, csvCounts);
    const summary = summarize(result);
    const out = args.values.out ?? join('simulation-output', scenario.name.replace(/[^a-zA-Z0-9._-]+/g, '-'));
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    const files: string[] = [];
    for (const p of plotSpecs(result)) {
      const file = join(out, `${p.name}.svg`);
      await writeFile(file, await renderSvg(p.spec));
      files.push(file);
    }
    if (args.values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else process.stdout.write(`${summaryTable(scenario.name, summary)}\n\nwrote ${join(out, 'summary.json')}\n${files.map((f) => `wrote ${f}`).join('\n')}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ScenarioError) {
      process.stderr.write(`simulate: ${err.message}\n`);
      return EX_DATAERR;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`simulate: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
