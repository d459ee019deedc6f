import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * k6 does not run on this machine, so its scripts are checked the other ways
 * there are: type-checked against @types/k6 (loadtest/tsconfig.json),
 * syntax-checked by Node as ES modules, their shared thresholds and the
 * distinct-ticket verdict exercised in Node (lib/thresholds.js imports nothing
 * from k6), and each script's shape (thresholds, bounded scenarios, target
 * from the environment, distinct-ticket bookkeeping) read from its source.
 */

const ROOT = join(__dirname, '..', '..');
const DIR = join(ROOT, 'loadtest');
const scripts = readdirSync(DIR).filter((f) => f.endsWith('.js'));
const libs = readdirSync(join(DIR, 'lib')).filter((f) => f.endsWith('.js'));

/** Evaluates an expression over lib/thresholds.js in a Node ES module and returns its JSON value. */
function withThresholds(expr: string): unknown {
  const code = `import * as t from ${JSON.stringify(join(DIR, 'lib', 'thresholds.js'))}; console.log(JSON.stringify(${expr}));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' })) as unknown;
}

describe('loadtest/ k6 scripts', () => {
  it('has the smoke, journey, spike and soak scripts', () => {
    expect(scripts.sort()).toEqual(['journey.js', 'smoke.js', 'soak.js', 'spike.js']);
  });

  it('type-check against @types/k6', () => {
    const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(DIR, 'tsconfig.json')], { encoding: 'utf8', cwd: ROOT });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each([...scripts, ...libs.map((l) => `lib/${l}`)])('%s is valid ES module syntax', (file) => {
    const r = spawnSync(process.execPath, ['--check', join(DIR, file)], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('share thresholds: under 1% errors, p95 and p99 bounds on /join and /status, no ticket anomaly', () => {
    const t = withThresholds('t.thresholds()') as Record<string, string[]>;
    expect(t.http_req_failed).toEqual(['rate<0.01']);
    for (const route of ['join', 'status']) {
      const bounds = t[`http_req_duration{name:${route}}`] ?? [];
      expect(bounds).toEqual([expect.stringMatching(/^p\(95\)<\d+$/), expect.stringMatching(/^p\(99\)<\d+$/)]);
    }
    expect(t.ticket_anomalies).toEqual(['count==0']);
    const spike = withThresholds('t.thresholds({ joinP99: 1000 })') as Record<string, string[]>;
    expect(spike['http_req_duration{name:join}']).toEqual(['p(95)<100', 'p(99)<1000']);
  });

  it('judges distinct tickets from run-wide aggregates', () => {
    const v = (first: number, last: number, tickets: number[]) =>
      withThresholds(`t.distinctTicketsVerdict(${JSON.stringify({ first, last, count: tickets.length, sum: tickets.reduce((a, b) => a + b, 0) })}).distinct`);
    expect(v(10, 15, [11, 12, 13, 14])).toBe(true);
    expect(v(10, 15, [11, 13])).toBe(true); // some tickets issued but their answers lost
    expect(v(10, 15, [11, 12, 12, 14])).toBe(false); // all returned, sum off: a repeat
    expect(v(10, 13, [11, 12, 12])).toBe(false); // more tickets than issued
    expect(v(10, 20, [19, 19, 19, 19, 19, 19, 19, 19])).toBe(false); // sum above the whole range's
    // A repeat that leaves room in both count and sum is invisible to aggregates;
    // the per-visitor order check (ticket_anomalies) catches it when one visitor
    // got both, docs/deploy.md says what else to run.
    expect(v(10, 14, [13, 13])).toBe(true);
    expect(v(10, 9, [])).toBe(false); // the counter went backwards
  });

  it.each(scripts)('%s has thresholds, a bounded scenario, the shared target URL and the distinct-ticket hooks', (file) => {
    const src = readFileSync(join(DIR, file), 'utf8');
    expect(src).toMatch(/^export const options = \{/m);
    expect(src).toMatch(/thresholds: (\{ \.\.\.)?thresholds\(/);
    // Every scenario ends by itself: a duration, stages or an iteration count with maxDuration.
    expect(src).toMatch(/duration:|maxDuration:/);
    expect(src).toMatch(/executor: '(shared-iterations|ramping-arrival-rate|constant-arrival-rate)'/);
    expect(src).toMatch(/^export function setup\(\) \{\n {2}return firstTicket\(\);/m);
    expect(src).toMatch(/^export const teardown = lastTicketAfterRun;$/m);
    expect(src).toMatch(/^export const handleSummary = summaryHandler\('[a-z]+'\);$/m);
    // Each iteration joins with the ticket recorded in setup(), directly or through visit().
    expect(src).toMatch(/visit\(data, MAX_WAIT\)|joinAndCheck\(data\)/);
    // No hard-coded target: only loopback defaults and $(minikube ip) examples.
    expect(src).not.toMatch(/https?:\/\/(?!127\.0\.0\.1|\$\()/);
  });

  it('takes the target from WAITROOM_URL and runs the journey at a ramping arrival rate with a claim', () => {
    expect(readFileSync(join(DIR, 'lib', 'visitor.js'), 'utf8')).toMatch(/__ENV\.WAITROOM_URL/);
    const journey = readFileSync(join(DIR, 'journey.js'), 'utf8');
    expect(journey).toMatch(/executor: 'ramping-arrival-rate'/);
    expect(journey).toMatch(/visit\(data, MAX_WAIT\)/);
    // visit(): join, wait until admitted, then claim.
    const visit = /export function visit\([^)]*\) \{([\s\S]*?)\n\}/.exec(readFileSync(join(DIR, 'lib', 'visitor.js'), 'utf8'))?.[1] ?? '';
    expect(visit).toMatch(/join\(data\.firstTicket\)/);
    expect(visit).toMatch(/waitUntilAdmitted\(/);
    expect(visit).toMatch(/claim\(joined\.token\)/);
    const lib = readFileSync(join(DIR, 'lib', 'visitor.js'), 'utf8');
    expect(/export function joinAndCheck\([^)]*\) \{([\s\S]*?)\n\}/.exec(lib)?.[1]).toMatch(/join\(data\.firstTicket\)/);
  });
});
