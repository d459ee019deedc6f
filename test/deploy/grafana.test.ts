import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportedMetricNames, metricNamesIn } from '../helpers/metric-names';

/**
 * The Grafana dashboard is JSON a person imports; a renamed metric would
 * leave a panel silently empty. Every query must name only series that the
 * server's registry (internal/observability/metrics.ts) exports.
 */

interface Target {
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

const dashboard = JSON.parse(readFileSync(join(__dirname, '..', '..', 'deploy', 'grafana', 'waitroom.json'), 'utf8')) as {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string }> };
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
