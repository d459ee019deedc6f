import { Metrics } from '../../internal/observability/metrics';

/**
 * Every series name /metrics can expose (histograms with their _bucket, _sum
 * and _count series), for checking dashboards and alert rules against the
 * real registry instead of a list kept by hand.
 */
export async function exportedMetricNames(): Promise<Set<string>> {
  const m = new Metrics();
  const names = new Set<string>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram' || String(metric.type) === 'summary') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
    }
  }
  return names;
}

/** Metric names a PromQL expression refers to (waitroom's own and the default process ones). */
export function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(/\b((?:waitroom|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1] as string);
}
