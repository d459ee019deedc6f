import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';
import { runTool } from '../helpers/prometheus-tools';
import { requireTool } from '../helpers/tools';

/**
 * What a real /metrics scrape says. `promtool check metrics` applies Prometheus's naming conventions to a real
 * scrape: a gauge whose name says counter (the old waitroom_ticket_counter),
 * a `_total` that is not a counter, a missing HELP. The scrape comes from a
 * real server process against a real Redis, after traffic has touched every
 * labelled family.
 */

let redis: TestRedis;
let server: ServerProcess;

beforeAll(async () => {
  requireTool('promtool');
  redis = await TestRedis.start();
  server = await ServerProcess.start({ REDIS_URL: redis.url, QUEUE_ID: 'lint', WINDOW_SIZE: '1', WINDOW_INTERVAL: '5' });
});
afterAll(async () => {
  await server?.stop();
  await redis?.close();
});

test('a real /metrics scrape passes promtool check metrics without a finding', async () => {
  const joins = await Promise.all(Array.from({ length: 4 }, () => server.fetch('/join', { method: 'POST' }).then((r) => r.json() as Promise<{ token: string }>)));
  await server.fetch('/status', { headers: { authorization: `Bearer ${joins[0]!.token}` } });
  await server.fetch('/no-such-route');
  const res = await server.fetch('/metrics');
  expect(res.status).toBe(200);
  const scrape = await res.text();
  // The families the dashboard and the rules read are all there, per queue.
  for (const family of ['waitroom_last_ticket', 'waitroom_waiting', 'waitroom_last_ticket_eta_seconds', 'waitroom_tick_lag_seconds', 'waitroom_leader', 'waitroom_state_age_seconds']) {
    expect(scrape).toMatch(new RegExp(`^${family}\\{queue="lint"\\} -?[0-9.e+-]+$`, 'm'));
  }
  expect(scrape).not.toContain('waitroom_ticket_counter');

  const r = runTool('promtool', ['check', 'metrics'], { input: scrape });
  expect({ status: r.status, findings: r.output.trim() }).toEqual({ status: 0, findings: '' });
});

test('the check is not vacuous: it flags a gauge named like a counter', () => {
  const bad = '# HELP waitroom_ticket_counter Highest ticket issued.\n# TYPE waitroom_ticket_counter gauge\nwaitroom_ticket_counter{queue="q"} 3\n';
  const r = runTool('promtool', ['check', 'metrics'], { input: bad });
  expect(r.status).not.toBe(0);
  expect(r.output).toContain('waitroom_ticket_counter');
});

/** One sample of a family for queue "lint" from a fresh scrape. */
async function sample(family: string): Promise<number> {
  const text = await (await server.fetch('/metrics')).text();
  const m = new RegExp(`^${family}\\{queue="lint"\\} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`${family} is not in the scrape`);
  return Number(m[1]);
}

test('the ETA of the last ticket counts down between scrapes while nobody joins', async () => {
  // S = 1 and I = 5 s: three more tickets wait at least 10 s.
  for (let i = 0; i < 3; i++) await server.fetch('/join', { method: 'POST' });
  const first = await sample('waitroom_last_ticket_eta_seconds');
  expect(first).toBeGreaterThanOrEqual(10);
  // No join in between: a gauge set on join (the old one) would stay at `first`.
  let later = first;
  await waitFor(
    async () => {
      later = await sample('waitroom_last_ticket_eta_seconds');
      return later < first;
    },
    { timeoutMs: 8000, intervalMs: 200, what: 'the ETA to count down' },
  );
  expect(later).toBeGreaterThan(0);
  expect(await sample('waitroom_waiting')).toBeGreaterThan(0);
});
