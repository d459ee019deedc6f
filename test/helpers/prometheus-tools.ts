import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(__dirname, '..', '..');

/** The shipped PrometheusRule, whose spec.groups is a plain Prometheus rules file. */
export const PROMETHEUS_RULE = join(ROOT, 'k8s', 'components', 'prometheus-operator', 'prometheusrule.yaml');

export interface RuleGroup {
  name: string;
  rules: Array<{ alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }>;
}

/** The rule groups of the shipped PrometheusRule, as a rules file holds them. */
export function shippedRuleGroups(): RuleGroup[] {
  const doc = parse(readFileSync(PROMETHEUS_RULE, 'utf8')) as { kind: string; spec: { groups: RuleGroup[] } };
  if (doc.kind !== 'PrometheusRule') throw new Error(`${PROMETHEUS_RULE} is not a PrometheusRule`);
  return doc.spec.groups;
}

export interface ToolRun {
  status: number | null;
  output: string;
}

/** Runs promtool or amtool with a bounded time; stdout and stderr together. */
export function runTool(tool: 'promtool' | 'amtool', args: string[], opts: { cwd?: string; input?: string } = {}): ToolRun {
  const r = spawnSync(tool, args, { cwd: opts.cwd, input: opts.input, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** A fresh temporary directory for one test's files. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `waitroom-${prefix}-`));
}
