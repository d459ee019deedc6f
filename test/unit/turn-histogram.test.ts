import { Counter, Histogram, Registry } from 'prom-client';
import { TurnHistogram } from '../../internal/observability/turn-histogram';
import { TurnCounter } from '../../internal/observability/turn-counter';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const turn = () => new Promise((r) => setImmediate(r));

/**
 * A scrape's samples by series. Series order is prom-client's insertion order and
 * a batched sum adds in another order (its last bits may differ): neither is part
 * of what Prometheus reads, so sums compare to 1e-9 and everything else exactly.
 */
async function samples(registry: Registry): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await registry.metrics()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return out;
}
async function expectSameScrape(batched: Registry, plain: Registry): Promise<void> {
  const b = await samples(batched);
  const p = await samples(plain);
  expect(Object.keys(b).sort()).toEqual(Object.keys(p).sort());
  for (const k of Object.keys(p)) {
    if (k.includes('_sum')) expect(b[k]).toBeCloseTo(p[k]!, 9);
    else expect([k, b[k]]).toEqual([k, p[k]]);
  }
}

/** Two registries with the same histogram: one fed per observation, one through TurnHistogram. */
function pair() {
  const make = () => {
    const registry = new Registry();
    const h = new Histogram({ name: 'd_seconds', help: 'd', labelNames: ['route'] as const, buckets: BUCKETS, registers: [registry] });
    return { registry, h };
  };
  return { plain: make(), batched: make() };
}

describe('TurnHistogram', () => {
  test.each([
    ['nothing', []],
    ['one value in the first bucket', [0.0001]],
    ['every bound exactly (le is inclusive)', BUCKETS],
    ['just above every bound', BUCKETS.map((b) => b + 1e-12)],
    ['zero and a negative value', [0, -1]],
    ['above the last bound (+Inf only)', [2.5000001, 10, 1e9]],
    ['a mix', [0.0003, 0.0007, 0.0007, 0.002, 0.3, 3, 0.0004, 0.0005]],
  ])('exports what per-observation observe exports: %s', async (_name, values) => {
    const { plain, batched } = pair();
    const t = new TurnHistogram(batched.h, { route: '/status' });
    for (const v of values) {
      plain.h.observe({ route: '/status' }, v);
      t.observe(v);
    }
    await turn();
    await expectSameScrape(batched.registry, plain.registry);
  });

  test('several turns, several series, and observations the other way into the same series', async () => {
    const { plain, batched } = pair();
    const a = new TurnHistogram(batched.h, { route: '/status' });
    const b = new TurnHistogram(batched.h, { route: '/verify' });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) {
        const v = (i * 0.37) % 3;
        plain.h.observe({ route: i % 2 ? '/status' : '/verify' }, v);
        (i % 2 ? a : b).observe(v);
        if (i % 10 === 0) {
          plain.h.observe({ route: '/status' }, 0.02);
          batched.h.observe({ route: '/status' }, 0.02);
        }
      }
      await turn();
      await expectSameScrape(batched.registry, plain.registry);
    }
  });

  test('a scrape in a later turn sees every observation of the turns before', async () => {
    const { batched } = pair();
    const t = new TurnHistogram(batched.h, { route: '/status' });
    for (let i = 0; i < 7; i++) t.observe(0.0002);
    // Batched, not observed one by one (the prom-client internals were found).
    expect((await batched.h.get()).values).toEqual([]);
    await turn();
    const v = (await batched.h.get()).values.find((x) => x.metricName === 'd_seconds_count');
    expect(v?.value).toBe(7);
  });

  test('a reset or a removed series is made anew, with only what came after', async () => {
    const { plain, batched } = pair();
    const t = new TurnHistogram(batched.h, { route: '/status' });
    t.observe(0.001);
    await turn();
    batched.registry.resetMetrics();
    t.observe(0.2);
    plain.h.observe({ route: '/status' }, 0.2);
    await turn();
    await expectSameScrape(batched.registry, plain.registry);
    batched.h.remove({ route: '/status' });
    plain.h.remove({ route: '/status' });
    t.observe(0.004);
    plain.h.observe({ route: '/status' }, 0.004);
    await turn();
    await expectSameScrape(batched.registry, plain.registry);
  });

  test('a non-finite value is refused as prom-client refuses it', () => {
    const { batched } = pair();
    const t = new TurnHistogram(batched.h, { route: '/status' });
    expect(() => t.observe(NaN)).toThrow(TypeError);
    expect(() => t.observe(Infinity)).toThrow(TypeError);
  });
});

describe('TurnCounter', () => {
  test('counts per key, handed over once per turn, with labels made once per key', async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'r_total', help: 'r', labelNames: ['status'] as const, registers: [registry] });
    const t = new TurnCounter<'status', number>(c);
    const made: number[] = [];
    const labels = (status: number) => {
      made.push(status);
      return { status };
    };
    for (let i = 0; i < 5; i++) t.inc(200, labels);
    t.inc(401, labels);
    expect((await c.get()).values).toEqual([]);
    await turn();
    t.inc(200, labels);
    await turn();
    const byStatus = Object.fromEntries((await c.get()).values.map((v) => [v.labels.status, v.value]));
    expect(byStatus).toEqual({ 200: 6, 401: 1 });
    expect(made).toEqual([200, 401]);
  });
});
