import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runTool, shippedRuleGroups, tempDir } from '../helpers/prometheus-tools';
import { requireTool } from '../helpers/tools';

/**
 * deploy/alertmanager/ is an example an operator copies; Alertmanager's own
 * amtool checks it: the configuration and its template parse, each waitroom
 * alert reaches the receivers the file's header promises, and the template
 * renders an alert as the e-mail and chat message read.
 */

const DIR = join(__dirname, '..', '..', 'deploy', 'alertmanager');
const CONFIG = join(DIR, 'alertmanager.yml');

interface Receiver {
  name: string;
  email_configs?: Array<{ to: string; headers?: Record<string, string>; send_resolved?: boolean }>;
  slack_configs?: Array<{ api_url?: string; send_resolved?: boolean }>;
}
const config = parse(readFileSync(CONFIG, 'utf8')) as {
  global: Record<string, unknown>;
  templates: string[];
  receivers: Receiver[];
  inhibit_rules: Array<{ source_matchers: string[]; target_matchers: string[] }>;
};

const alerts = shippedRuleGroups()
  .flatMap((g) => g.rules)
  .filter((r) => r.alert)
  .map((r) => ({ name: r.alert!, severity: r.labels?.severity ?? '' }));

beforeAll(() => requireTool('amtool'));

describe('the Alertmanager example', () => {
  test('passes amtool check-config with its template', () => {
    const r = runTool('amtool', ['check-config', CONFIG]);
    expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    expect(r.output).toContain('3 receivers');
    expect(r.output).toContain('1 templates');
    expect(r.output).not.toContain('FAILED');
  });

  test('check-config really reads the template: a broken copy fails', () => {
    const dir = tempDir('am');
    try {
      copyFileSync(CONFIG, join(dir, 'alertmanager.yml'));
      writeFileSync(join(dir, 'waitroom.tmpl'), '{{ define "waitroom.title" }}{{ .Status');
      const r = runTool('amtool', ['check-config', join(dir, 'alertmanager.yml')]);
      expect(r.status).not.toBe(0);
      expect(r.output).toContain('waitroom.tmpl');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('sends by e-mail and to a Slack-style webhook, with secrets only in files', () => {
    const kinds = new Set(config.receivers.flatMap((r) => [...(r.email_configs ? ['email'] : []), ...(r.slack_configs ? ['slack'] : [])]));
    expect([...kinds].sort()).toEqual(['email', 'slack']);
    expect(config.global.smtp_auth_password_file).toBeDefined();
    expect(config.global.slack_api_url_file).toBeDefined();
    const text = readFileSync(CONFIG, 'utf8');
    expect(text).not.toMatch(/^\s*(smtp_auth_password|slack_api_url|api_url):/m);
    for (const r of config.receivers) {
      for (const e of r.email_configs ?? []) expect(e).toMatchObject({ send_resolved: true, headers: { Subject: expect.stringContaining('waitroom.title') } });
      for (const s of r.slack_configs ?? []) expect(s.send_resolved).toBe(true);
    }
  });

  test.each(alerts)('routes $name ($severity) to the receivers the header promises', ({ name, severity }) => {
    const expected = severity === 'critical' ? 'oncall' : name === 'WaitroomQueueLong' ? 'site-owners' : 'chat';
    const r = runTool('amtool', ['config', 'routes', 'test', `--config.file=${CONFIG}`, `--verify.receivers=${expected}`, `alertname=${name}`, `severity=${severity}`, 'namespace=shop', 'queue=default']);
    expect({ alert: name, status: r.status, receivers: r.output.split('\n')[0] }).toEqual({ alert: name, status: 0, receivers: expected });
  });

  test('inhibits only with alerts that exist', () => {
    const names = new Set(alerts.map((a) => a.name));
    for (const rule of config.inhibit_rules) {
      for (const m of [...rule.source_matchers, ...rule.target_matchers]) {
        const value = /alertname=~?"([^"]+)"/.exec(m)![1]!;
        for (const n of value.split('|')) expect(names).toContain(n);
      }
    }
  });

  test('renders an alert into the subject and body people read', () => {
    const dir = tempDir('am-render');
    try {
      const data = {
        receiver: 'site-owners',
        status: 'firing',
        alerts: [
          {
            status: 'firing',
            labels: { alertname: 'WaitroomQueueLong', namespace: 'shop', queue: 'sale', severity: 'warning' },
            annotations: { summary: 'waitroom queue sale has 60000 visitors waiting', description: 'Queue sale in shop has been longer than its threshold for over 10 minutes.' },
            startsAt: '2026-11-24T09:00:00Z',
            endsAt: '0001-01-01T00:00:00Z',
          },
        ],
        groupLabels: { alertname: 'WaitroomQueueLong', namespace: 'shop', queue: 'sale' },
        commonLabels: { alertname: 'WaitroomQueueLong', namespace: 'shop', queue: 'sale', severity: 'warning' },
        commonAnnotations: {},
        externalURL: 'http://alertmanager.example',
      };
      writeFileSync(join(dir, 'data.json'), JSON.stringify(data));
      const render = (what: string) =>
        runTool('amtool', ['template', 'render', `--template.glob=${join(DIR, 'waitroom.tmpl')}`, `--template.text={{ template "${what}" . }}`, `--template.data=${join(dir, 'data.json')}`]);
      const title = render('waitroom.title');
      expect(title.status).toBe(0);
      expect(title.output.trim()).toBe('[FIRING 1] WaitroomQueueLong queue sale (shop)');
      const body = render('waitroom.text');
      expect(body.status).toBe(0);
      expect(body.output).toContain('FIRING: waitroom queue sale has 60000 visitors waiting\nQueue sale in shop has been longer than its threshold for over 10 minutes.\n');
      expect(body.output).toContain('Since 2026-11-24 09:00:00 UTC. What to do: docs/k8s.md, "Alerts", WaitroomQueueLong.');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
