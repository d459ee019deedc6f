import { createClient } from 'redis';
import type { WaitroomServer } from '../../internal/server/waitroom-server';
import { queueKeys } from '../../internal/store/keys';
import { startInProcess } from '../helpers/in-process';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';

interface Advance {
  windowEnd: number;
  nextDueMs: number;
  nowMs: number;
}

let redis: TestRedis;

beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(async () => {
  await redis?.close();
});

/** Records every advance the store publishes, as any replica would see it. */
async function recordAdvances(queue: string): Promise<{ list: Advance[]; close: () => Promise<void> }> {
  const list: Advance[] = [];
  let seenW = 0;
  const sub = createClient({ url: redis.url });
  // The test's Redis stops in afterAll; a subscriber still open then must not fail the run.
  sub.on('error', () => undefined);
  await sub.connect();
  // Numbers travel as decimal strings (exact beyond cjson's 14 digits).
  await sub.sSubscribe(queueKeys(queue).events, (m) => {
    const a = JSON.parse(m) as Record<keyof Advance | 'version', string>;
    // The channel also carries the queue's creation and the first waiting join (which
    // wakes the ticker), both without moving W: an advance is a message that moves W up.
    // Both carry version 1 (the state as created).
    const windowEnd = Number(a.windowEnd);
    const moved = Number(a.version) > 1 && windowEnd > seenW;
    seenW = Math.max(seenW, windowEnd);
    if (!moved) return;
    list.push({ windowEnd, nextDueMs: Number(a.nextDueMs), nowMs: Number(a.nowMs) });
  });
  return { list, close: () => sub.close() };
}

describe('the ticker', () => {
  let server: WaitroomServer;
  afterEach(async () => server?.shutdown());

  test('advances W by exactly S once per due slot, then skips while nobody waits', async () => {
    const S = 3;
    const intervalMs = 50;
    const rec = await recordAdvances('tick');
    server = await startInProcess({ REDIS_URL: redis.url, QUEUE_ID: 'tick', WINDOW_SIZE: String(S), WINDOW_INTERVAL: '0.05' });
    await Promise.all(Array.from({ length: 30 }, () => server.service.join()));
    // W starts at S = 3 and must reach 30 in 9 advances.
    await waitFor(() => server.cache.peek()!.windowEnd >= 30, { timeoutMs: 10_000, what: 'W to reach 30' });
    await waitFor(() => rec.list.length >= 9, { what: '9 published advances' });
    expect(rec.list.map((a) => a.windowEnd)).toEqual([6, 9, 12, 15, 18, 21, 24, 27, 30]);
    // In Redis's own clock, consecutive advances are at least one interval apart:
    // no slot is used twice.
    for (let i = 1; i < rec.list.length; i++) {
      expect(rec.list[i]!.nowMs - rec.list[i - 1]!.nowMs).toBeGreaterThanOrEqual(intervalMs);
      expect(rec.list[i]!.nextDueMs).toBe(rec.list[i]!.nowMs + intervalMs);
    }

    // Caught up: the ticker skips and W stays.
    const skipped = async () => (await server.metrics.advancesSkipped.get()).values[0]?.value ?? 0;
    await waitFor(async () => (await skipped()) >= 1, { what: 'a skipped tick' });
    const state = await redis.withClient((c) => c.hGetAll(queueKeys('tick').state));
    expect(Number(state.windowEnd)).toBe(30);
    expect(rec.list).toHaveLength(9);

    // The due time stayed in the past, so the next ticket over W is admitted promptly.
    const late = await server.service.join();
    expect(late.ticket).toBe(31);
    expect(late.status).toBe('waiting');
    expect(late.etaSeconds).toBe(0);
    await waitFor(() => server.cache.peek()!.windowEnd === 33, { timeoutMs: 2000, what: 'prompt admission of ticket 31' });
    await rec.close();
  });

  test('status answers from memory: waiting, then active, then expired as W moves', async () => {
    server = await startInProcess({ REDIS_URL: redis.url, QUEUE_ID: 'life', WINDOW_SIZE: '2', WINDOW_INTERVAL: '0.05', ACTIVE_WINDOW_COUNT: '1' });
    const joins = await Promise.all(Array.from({ length: 8 }, () => server.service.join()));
    const last = joins[7]!;
    expect(server.service.status(last.token).status).toBe('waiting');
    const seen = new Set<string>();
    await waitFor(
      () => {
        seen.add(server.service.status(last.token).status);
        return seen.has('active');
      },
      { intervalMs: 5, what: 'ticket 8 active' },
    );
    expect(server.service.status(joins[0]!.token).status).toBe('expired');
    // Keep the queue busy so W moves past ticket 8.
    await Promise.all(Array.from({ length: 4 }, () => server.service.join()));
    await waitFor(() => server.service.status(last.token).status === 'expired', { what: 'ticket 8 expired' });
  });
});
