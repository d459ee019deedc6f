import type { TopLevelSpec } from 'vega-lite';
import type { SimulationResult } from './simulation';
import { waitsSeconds } from './summary';

/**
 * The simulator's plots as Vega-Lite specifications, compiled to Vega and rendered to SVG
 * by `vega` itself in Node (docs/simulator.md says why): declarative charts with real
 * axes, legends and scales from a well-kept library, never hand-drawn SVG. The data are
 * pre-aggregated here (at most ~1,000 time buckets, 60 histogram bins), so a run with
 * half a million visitors renders in well under a second.
 */

export interface PlotFile {
  readonly name: string;
  readonly spec: TopLevelSpec;
}

/** Bucket width in seconds so that a run gives at most ~1,000 points per line. */
export function bucketSeconds(r: SimulationResult): number {
  const asked = r.scenario.sampleSeconds;
  if (asked !== undefined) return asked;
  const end = Math.max(1, r.endMs / 1000);
  const raw = end / 1000;
  for (const nice of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]) if (nice >= raw) return nice;
  return 3600;
}

function cumulative(times: Float64Array, buckets: number, widthMs: number): number[] {
  const counts = new Array<number>(buckets).fill(0);
  for (const t of times) {
    if (Number.isNaN(t)) continue;
    const b = Math.min(buckets - 1, Math.floor(t / widthMs));
    counts[b]! += 1;
  }
  for (let i = 1; i < buckets; i++) counts[i]! += counts[i - 1]!;
  return counts;
}

const WIDTH = 640;
const HEIGHT = 260;

export function plotSpecs(r: SimulationResult): PlotFile[] {
  const w = bucketSeconds(r);
  const buckets = Math.max(1, Math.ceil(r.endMs / 1000 / w) + 1);
  const v = r.visitors;
  // An admission that reached a present visitor; the ticket of one who gave up admits nobody.
  const admitted = v.admittedMs.map((t, i) => (Number.isNaN(v.gaveUpMs[i]!) ? t : NaN));
  const series: Array<[string, number[]]> = [
    ['arrived', cumulative(v.arrivedMs, buckets, w * 1000)],
    ['admitted', cumulative(admitted, buckets, w * 1000)],
    ['left the site', cumulative(v.leftSiteMs, buckets, w * 1000)],
    ['gave up', cumulative(v.gaveUpMs, buckets, w * 1000)],
  ];
  const flow = series.flatMap(([name, c]) => c.map((count, i) => ({ minute: ((i + 1) * w) / 60, series: name, visitors: count })));

  const perBucket = (xs: readonly number[]) => {
    const out = new Array<number>(buckets).fill(0);
    xs.forEach((x, s) => {
      const b = Math.min(buckets - 1, Math.floor(s / w));
      if (x > out[b]!) out[b] = x;
    });
    return out;
  };
  const waiting = perBucket(r.perSecond.waitingMax);
  const onSite = perBucket(r.perSecond.onSiteMax);
  const cap = r.scenario.queue.maxActive;
  // With a cap, the store's own count of places taken beside the visitors on the site: it
  // runs above them by the admitted visitors who have not claimed yet (their places are held).
  const siteLines = [
    ...onSite.map((x, i) => ({ minute: (i * w) / 60, visitors: x, series: 'on the site' })),
    ...(cap !== undefined ? perBucket(r.perSecond.occupancyMax).map((x, i) => ({ minute: (i * w) / 60, visitors: x, series: 'places taken (store count)' })) : []),
  ];
  // Each limit a dashed line with its label, the capacity's above it and the cap's below (they are often close).
  const rules = [{ y: r.scenario.site.capacity, label: `site capacity ${r.scenario.site.capacity}`, color: 'firebrick', dy: -6 }];
  if (cap !== undefined) rules.push({ y: cap, label: `maxActive ${cap}`, color: '#6b21a8', dy: 12 });

  const waits = waitsSeconds(r);
  const maxWait = waits.length > 0 ? waits[waits.length - 1]! : 0;
  const inMinutes = maxWait > 180;
  const unit = inMinutes ? 60 : 1;
  const binWidth = Math.max(maxWait / unit / 60, 0.001);
  const bins = new Map<number, number>();
  for (const s of waits) {
    const b = Math.min(59, Math.floor(s / unit / binWidth));
    bins.set(b, (bins.get(b) ?? 0) + 1);
  }
  const histogram = [...bins].map(([b, count]) => ({ from: b * binWidth, to: (b + 1) * binWidth, visitors: count }));
  const title = r.scenario.name;
  const q = r.scenario.queue;
  const subtitle = `S = ${q.windowSize} every ${q.intervalSeconds} s, K = ${q.activeWindowCount}${q.maxActive !== undefined ? `, maxActive ${q.maxActive}` : ''}; site capacity ${r.scenario.site.capacity}`;

  return [
    {
      name: 'cumulative-flow',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title: { text: `${title}: cumulative flow`, subtitle },
        width: WIDTH,
        height: HEIGHT,
        data: { values: flow },
        mark: { type: 'line', interpolate: 'step-after' },
        encoding: {
          x: { field: 'minute', type: 'quantitative', title: 'minutes from t = 0' },
          y: { field: 'visitors', type: 'quantitative', title: 'visitors (cumulative)' },
          color: { field: 'series', type: 'nominal', title: null, sort: ['arrived', 'admitted', 'left the site', 'gave up'] },
        },
      },
    },
    {
      name: 'queue-and-site',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title: { text: `${title}: queue length and visitors on the site`, subtitle },
        vconcat: [
          {
            width: WIDTH,
            height: HEIGHT / 2,
            data: { values: waiting.map((x, i) => ({ minute: (i * w) / 60, visitors: x })) },
            mark: { type: 'line', interpolate: 'step-after', color: '#e45756' },
            encoding: {
              x: { field: 'minute', type: 'quantitative', title: null },
              y: { field: 'visitors', type: 'quantitative', title: 'waiting in the queue' },
            },
          },
          {
            width: WIDTH,
            height: HEIGHT / 2,
            layer: [
              {
                data: { values: siteLines },
                mark: { type: 'line', interpolate: 'step-after' },
                encoding: {
                  x: { field: 'minute', type: 'quantitative', title: `minutes from t = 0 (most in each ${w} s)` },
                  y: { field: 'visitors', type: 'quantitative', title: 'on the site' },
                  color: { field: 'series', type: 'nominal', title: null, scale: { domain: ['on the site', 'places taken (store count)'], range: ['#4c78a8', '#f58518'] }, legend: { labelLimit: 400 } },
                },
              },
              ...rules.map((rule) => ({
                data: { values: [rule] },
                layer: [
                  { mark: { type: 'rule' as const, strokeDash: [6, 4], color: rule.color }, encoding: { y: { field: 'y', type: 'quantitative' as const } } },
                  {
                    mark: { type: 'text' as const, align: 'left' as const, dx: 4, dy: rule.dy, color: rule.color },
                    encoding: { y: { field: 'y', type: 'quantitative' as const }, x: { value: 0 }, text: { field: 'label' } },
                  },
                ],
              })),
            ],
          },
        ],
      },
    },
    {
      name: 'time-in-queue',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title: { text: `${title}: time in queue`, subtitle: `${waits.length} admitted visitors` },
        width: WIDTH,
        height: HEIGHT,
        data: { values: histogram },
        mark: 'bar',
        encoding: {
          x: { field: 'from', type: 'quantitative', bin: { binned: true, step: binWidth }, title: `time in queue (${inMinutes ? 'minutes' : 'seconds'})` },
          x2: { field: 'to' },
          y: { field: 'visitors', type: 'quantitative', title: 'visitors' },
        },
      },
    },
  ];
}

/** Compiles a Vega-Lite spec and renders it to SVG in Node (no browser, no canvas). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Both packages are ES modules only; a dynamic import loads them from this CommonJS build.
  const vl = await import('vega-lite');
  const vega = await import('vega');
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
