import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { PROMETHEUS_RULE, runTool, shippedRuleGroups, tempDir } from '../helpers/prometheus-tools';
import { requireTool } from '../helpers/tools';

/**
 * The alert rules, run by Prometheus's own rule engine: the PrometheusRule's
 * groups are written out as a plain rules file and `promtool test rules` runs
 * test/deploy/prometheus/waitroom.rules.test.yaml against them (series in,
 * expected firing alerts with their labels and rendered annotations out).
 */

const FIXTURES = join(__dirname, 'prometheus');
const TESTS = 'waitroom.rules.test.yaml';

interface PromtoolTests {
  rule_files: string[];
  tests: Array<{ name: string; alert_rule_test?: Array<{ alertname: string; eval_time: string; exp_alerts: unknown[] }> }>;
}

let dir: string;

beforeAll(() => {
  requireTool('promtool');
  dir = tempDir('rules');
  writeFileSync(join(dir, 'waitroom.rules.yaml'), stringify({ groups: shippedRuleGroups() }));
  copyFileSync(join(FIXTURES, 'queue-thresholds.yaml'), join(dir, 'queue-thresholds.yaml'));
  copyFileSync(join(FIXTURES, TESTS), join(dir, TESTS));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the PrometheusRule under promtool', () => {
  test('its groups and the threshold example are valid rules files', () => {
    for (const f of ['waitroom.rules.yaml', 'queue-thresholds.yaml']) {
      const r = runTool('promtool', ['check', 'rules', f], { cwd: dir });
      expect({ file: f, status: r.status, output: r.output }).toEqual({ file: f, status: 0, output: expect.stringContaining('SUCCESS') });
    }
  });

  test('every rule unit test passes', () => {
    const r = runTool('promtool', ['test', 'rules', TESTS], { cwd: dir });
    expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  test('every alert is tested both where it must fire and where it must not', () => {
    const spec = parse(readFileSync(join(FIXTURES, TESTS), 'utf8')) as PromtoolTests;
    expect(spec.rule_files).toEqual(['waitroom.rules.yaml', 'queue-thresholds.yaml']);
    const fires = new Set<string>();
    const silent = new Set<string>();
    for (const t of spec.tests) {
      for (const a of t.alert_rule_test ?? []) (a.exp_alerts.length > 0 ? fires : silent).add(a.alertname);
    }
    const alerts = shippedRuleGroups()
      .flatMap((g) => g.rules)
      .flatMap((r) => (r.alert ? [r.alert] : []));
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    for (const a of alerts) expect({ alert: a, fires: fires.has(a), mustNotFire: silent.has(a) }).toEqual({ alert: a, fires: true, mustNotFire: true });
    // No test names an alert that does not exist (a renamed alert would pass silently).
    for (const a of [...fires, ...silent]) expect(alerts).toContain(a);
  });

  test('the sed line in the docs turns the PrometheusRule into the same rules file', () => {
    const docs = readFileSync(join(__dirname, '..', '..', 'docs', 'k8s.md'), 'utf8');
    const line = /^(sed -n '\/\^  groups:\/,\$p' k8s\/components\/prometheus-operator\/prometheusrule\.yaml \| sed 's\/\^  \/\/') > "\$d\/waitroom\.rules\.yaml"$/m.exec(docs);
    expect(line).not.toBeNull();
    const cmd = line![1]!.replace('k8s/components/prometheus-operator/prometheusrule.yaml', JSON.stringify(PROMETHEUS_RULE));
    const out = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(parse(out.stdout)).toEqual({ groups: shippedRuleGroups() });
  });

  test('the threshold snippet in the docs is the one the tests load', () => {
    const docs = readFileSync(join(__dirname, '..', '..', 'docs', 'k8s.md'), 'utf8');
    const section = docs.slice(docs.indexOf('### Queue-length thresholds per queue'));
    const snippet = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
    const fixture = parse(readFileSync(join(FIXTURES, 'queue-thresholds.yaml'), 'utf8')) as { groups: unknown[] };
    expect(parse(snippet)).toEqual(fixture.groups);
  });

  test('a broken expectation makes promtool fail (the harness can fail)', () => {
    const spec = parse(readFileSync(join(FIXTURES, TESTS), 'utf8')) as PromtoolTests;
    const tickLag = spec.tests.find((t) => t.name.startsWith('must not fire - a replica that is not the leader'))!;
    // Claim that the old misfire (a non-leader's 14.93 s) should alert: the rule must disagree.
    tickLag.alert_rule_test![0]!.exp_alerts = [{ exp_labels: { severity: 'warning', namespace: 'shop', queue: 'default' } }];
    writeFileSync(join(dir, 'inverted.test.yaml'), stringify({ ...spec, tests: [tickLag] }));
    const r = runTool('promtool', ['test', 'rules', 'inverted.test.yaml'], { cwd: dir });
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('WaitroomTickLag');
  });
});
