import pino from 'pino';
import { LeaderLease } from '../../internal/leader/lease';
import { Ticker } from '../../internal/leader/ticker';
import { QueueStateCache } from '../../internal/queue/state-cache';
import { MemoryQueueStore } from '../../internal/store/memory-store';
import { waitFor } from '../helpers/ports';

/**
 * A first visitor who joins while an idle check's advance is in flight (after the
 * script ran, before its reply) must not wait for the next idle check: the reply
 * says "nothing to do", but the join's announcement said otherwise. Here the idle
 * check is 5 s and the interval 20 ms; the visitor must be admitted well before
 * the next idle check.
 */
test('a join that lands while an advance is in flight wakes the ticker when it returns', async () => {
  const logger = pino({ level: 'silent' });
  const store = new MemoryQueueStore({ queueId: 'wake', logger });
  const settings = { windowSize: 1, intervalMs: 20, activeWindowCount: 1, mode: 'open' as const, opensAtMs: 0 };
  const realAdvance = store.advance.bind(store);
  let inject = true;
  let injectedAt = 0;
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  // Fault injection: the first advance that finds nothing to do (nobody waits) runs, then a
  // visitor joins, then the reply ("skipped": go to sleep) comes back 50 ms later.
  store.advance = async (owner, seen) => {
    const r = await realAdvance(owner, seen);
    if (inject && r.outcome === 'skipped') {
      inject = false;
      // Two tickets: W may already stand one past the counter (a window of S = 1 opened
      // before anyone came), so the second is the one that must wait for an advance.
      await store.issueTickets(2, settings);
      injectedAt = Date.now();
      await sleep(50);
    }
    return r;
  };
  const cache = new QueueStateCache({ store, settings: () => settings, logger, refreshMs: 60_000, maxStalenessMs: 120_000 });
  const lease = new LeaderLease({ store, owner: 'me', ttlMs: 2000, renewMs: 600, logger });
  const ticker = new Ticker({ store, lease, cache, logger, idleCheckMs: 5000 });
  await cache.start();
  lease.start();
  ticker.start();
  try {
    await waitFor(() => injectedAt > 0, { what: 'the join during the first advance' });
    await waitFor(() => (cache.peek()?.windowEnd ?? 0) >= 2, { timeoutMs: 4000, what: 'ticket 2 admitted before the next idle check' });
    expect(Date.now() - injectedAt).toBeLessThan(4000);
  } finally {
    await ticker.close();
    await lease.close();
    await cache.close();
    await store.close();
  }
});
