import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { exportedMetricNames, metricNamesIn } from '../helpers/metric-names';
import { runTool, tempDir } from '../helpers/prometheus-tools';
import { requireTool } from '../helpers/tools';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * The Grafana dashboard is JSON a person imports; a renamed metric would
 * leave a panel silently empty. Every query must name only series that the
 * server's registry (internal/observability/metrics.ts) exports, and every
 * panel must show data for a real replica's metrics: Prometheus's own engine
 * (promtool) evaluates each query over series taken from a real /metrics
 * scrape.
 */

interface Target {
  refId: string;
  expr: string;
  datasource: { uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  datasource?: { uid: string };
}

const DASHBOARD_TEXT = readFileSync(join(__dirname, '..', '..', 'deploy', 'grafana', 'waitroom.json'), 'utf8');
const dashboard = JSON.parse(DASHBOARD_TEXT) as {
  __inputs: Array<{ name: string; type: string; pluginId: string }>;
  __requires: Array<{ type: string; id: string }>;
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; current?: { value?: string } }> };
};
const graphs = dashboard.panels.filter((p) => p.type !== 'row');

describe('deploy/grafana/waitroom.json', () => {
  it('is an importable dashboard with a stable uid and a data source variable', () => {
    expect(dashboard.uid).toBe('waitroom-overview');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'namespace', 'queue']);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of graphs) {
      expect(p.datasource?.uid).toBe('${datasource}');
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      expect(p.targets?.length).toBeGreaterThan(0);
    }
  });

  it('declares its data source in __inputs, so that importing it asks for a Prometheus', () => {
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    // Grafana's import replaces ${DS_PROMETHEUS} with the chosen data source: it becomes
    // the datasource variable's default, and every panel follows that variable.
    const ds = dashboard.templating.list.find((v) => v.name === 'datasource')!;
    expect(ds.current?.value).toBe('${DS_PROMETHEUS}');
    const referenced = new Set([...DASHBOARD_TEXT.matchAll(/\$\{(DS_[A-Z_]+)\}/g)].map((m) => m[1]));
    expect([...referenced]).toEqual(['DS_PROMETHEUS']);
    // No data source uid of somebody's own Grafana is baked in.
    const uids = new Set([...DASHBOARD_TEXT.matchAll(/"uid":\s*"([^"]*)"/g)].map((m) => m[1]));
    expect([...uids].sort()).toEqual(['${datasource}', 'waitroom-overview']);
    const required = dashboard.__requires.map((r) => `${r.type}:${r.id}`);
    expect(required).toEqual(expect.arrayContaining(['grafana:grafana', 'datasource:prometheus']));
    for (const type of new Set(graphs.map((p) => p.type))) expect(required).toContain(`panel:${type}`);
  });

  it('shows queue length, admission rate, ETA of the last ticket, latency and leadership', () => {
    const byTitle = (re: RegExp) => graphs.find((p) => re.test(p.title));
    const exprOf = (re: RegExp) => (byTitle(re)?.targets ?? []).map((t) => t.expr).join('\n');
    expect(exprOf(/^Queue length/)).toContain('waitroom_waiting');
    expect(exprOf(/^Admission rate/)).toContain('waitroom_window_end');
    expect(exprOf(/^ETA of the last ticket/)).toContain('waitroom_last_ticket_eta_seconds');
    expect(exprOf(/^Latency/)).toContain('histogram_quantile(0.99, sum by (le, route) (rate(waitroom_http_request_duration_seconds_bucket');
    expect(exprOf(/^Leader /)).toContain('waitroom_leader');
    expect(exprOf(/^Leadership changes/)).toContain('waitroom_leadership_changes_total');
    expect(exprOf(/^Tick lag/)).toContain('waitroom_tick_lag_seconds');
    // Like the alert, the tick lag panel shows the leader's value only.
    expect(exprOf(/^Tick lag/)).toMatch(/and \(waitroom_leader\{[^}]*\} == 1\)/);
    expect(exprOf(/^Window end/)).toContain('waitroom_last_ticket');
  });

  it('queries only metrics the server exports', async () => {
    const names = await exportedMetricNames();
    for (const p of graphs) {
      for (const t of p.targets ?? []) {
        const used = metricNamesIn(t.expr);
        expect(used.length).toBeGreaterThan(0);
        for (const n of used) expect({ panel: p.title, metric: n, exported: names.has(n) }).toEqual({ panel: p.title, metric: n, exported: true });
      }
    }
  });
});

/** Target labels the ServiceMonitor adds to every scraped series. */
const TARGET = 'namespace="shop", pod="waitroom-a", job="waitroom", instance="10.0.0.1:8080"';

/**
 * Turns one /metrics scrape into promtool input series covering 10 minutes at
 * the 15 s scrape interval: gauges keep their value; a counter (or histogram
 * part) grows by its value at every scrape when `grows` says so, else stays
 * put.
 */
function seriesFromScrape(scrape: string, grows: (series: string) => boolean): Array<{ series: string; values: string }> {
  const counters = new Set<string>();
  for (const m of scrape.matchAll(/^# TYPE (\S+) (counter|histogram|summary)$/gm)) {
    const name = m[1]!;
    if (m[2] === 'counter') counters.add(name);
    else for (const suffix of ['_bucket', '_sum', '_count']) counters.add(name + suffix);
  }
  const out: Array<{ series: string; values: string }> = [];
  for (const line of scrape.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const labels = m[2] ? `${m[2]},${TARGET}` : TARGET;
    const series = `${m[1]}{${labels}}`;
    const growing = counters.has(m[1]!) && value > 0 && grows(series);
    out.push({ series, values: growing ? `${value}+${value}x40` : `${value}x40` });
  }
  return out;
}

/**
 * One alert per panel query, `absent((<query>) == (<query>))`: it fires exactly
 * when the panel would draw nothing, either "No data" or only NaN (NaN is not
 * equal to itself, e.g. a latency quantile over no requests). The dashboard
 * variables take their "All" value.
 */
function noDataRules(): { groups: unknown[]; alerts: Array<{ name: string; panel: string }> } {
  const alerts: Array<{ name: string; panel: string; expr: string }> = [];
  for (const p of graphs) {
    for (const t of p.targets ?? []) {
      const expr = t.expr.replaceAll('$namespace', '.*').replaceAll('$queue', '.*');
      alerts.push({ name: `Panel${p.id}${t.refId}NoData`, panel: `${p.title} (${t.refId})`, expr });
    }
  }
  return {
    groups: [{ name: 'dashboard-no-data', rules: alerts.map((a) => ({ alert: a.name, expr: `absent((${a.expr}) == (${a.expr}))` })) }],
    alerts,
  };
}

describe('every panel shows data for a real replica', () => {
  let redis: TestRedis;
  let server: ServerProcess;
  let dir: string;

  beforeAll(async () => {
    requireTool('promtool');
    dir = tempDir('grafana');
    redis = await TestRedis.start();
    server = await ServerProcess.start({ REDIS_URL: redis.url, QUEUE_ID: 'shop-queue', WINDOW_SIZE: '2', WINDOW_INTERVAL: '1' });
  });
  afterAll(async () => {
    await server?.stop();
    await redis?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs promtool with the panels' absent() rules; every panel must draw something. */
  function check(scrape: string, grows: (series: string) => boolean): { status: number | null; output: string } {
    const { groups, alerts } = noDataRules();
    writeFileSync(join(dir, 'panels.rules.yaml'), stringify({ groups }));
    const tests = {
      rule_files: ['panels.rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '15s',
          input_series: seriesFromScrape(scrape, grows),
          alert_rule_test: alerts.map((a) => ({ eval_time: '6m', alertname: a.name, exp_alerts: [] })),
        },
      ],
    };
    writeFileSync(join(dir, 'panels.test.yaml'), stringify(tests));
    return runTool('promtool', ['test', 'rules', 'panels.test.yaml'], { cwd: dir });
  }

  it('on a replica that has just started and served no visitor, only probes', async () => {
    // The kubelet's readiness probes are the only requests; nothing else moves. The one replica
    // takes its queue's lease within a moment of starting (the tick-lag panel shows the leader's
    // value only): scrape once it leads, as Prometheus would a few seconds in.
    let scrape = '';
    const deadline = Date.now() + 10_000;
    while (!/^waitroom_leader\{[^}]*queue="shop-queue"[^}]*\} 1$/m.test(scrape) && Date.now() < deadline) {
      if (scrape) await new Promise((r) => setTimeout(r, 100));
      scrape = await (await server.fetch('/metrics')).text();
    }
    expect(scrape).not.toMatch(/route="\/(join|status)"/);
    const r = check(scrape, (series) => /route="\/(readyz|livez)"/.test(series));
    expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('on a replica with visitors, every panel has data', async () => {
    const joins = await Promise.all(Array.from({ length: 5 }, () => server.fetch('/join', { method: 'POST' }).then((r) => r.json() as Promise<{ token: string }>)));
    await server.fetch('/status', { headers: { authorization: `Bearer ${joins[4]!.token}` } });
    const scrape = await (await server.fetch('/metrics')).text();
    const r = check(scrape, () => true);
    expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('the check is not vacuous: a query of a metric nobody exports is reported empty', async () => {
    const scrape = (await (await server.fetch('/metrics')).text()).replaceAll('waitroom_waiting{', 'waitroom_renamed{');
    const r = check(scrape, () => true);
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('Panel2ANoData');
  });
});
