import pino from 'pino';
import { LeaderLease } from '../../internal/leader/lease';
import { Ticker } from '../../internal/leader/ticker';
import { QueueStateCache } from '../../internal/queue/state-cache';
import { MemoryQueueStore } from '../../internal/store/memory-store';
import { waitFor } from '../helpers/ports';

/**
 * A renewal that is answered after the lease's local validity lapsed restores
 * leadership without an 'acquired' event. The ticker must notice and go on
 * ticking: a leader that holds the lease but never ticks would freeze the queue,
 * since no other replica can take the lease over.
 */
test('the ticker keeps ticking after a renewal answered past the lease validity', async () => {
  const logger = pino({ level: 'silent' });
  const store = new MemoryQueueStore({ queueId: 'late', logger });
  const settings = { windowSize: 1, intervalMs: 20, activeWindowCount: 1, mode: 'open' as const, opensAtMs: 0 };
  let delayNext = false;
  const realRenew = store.renewLease.bind(store);
  // Fault injection (TTL 200, renew every 120, so the local validity ends 80 ms after a
  // renewal is sent): the next renewal reaches the store 60 ms late and its reply comes
  // 60 ms after that. The store renews in time; the reply lands after the local validity.
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  store.renewLease = async (owner, ttl) => {
    if (!delayNext) return realRenew(owner, ttl);
    delayNext = false;
    await sleep(60);
    const r = await realRenew(owner, ttl);
    await sleep(60);
    return r;
  };
  const cache = new QueueStateCache({ store, settings: () => settings, logger, refreshMs: 1000, maxStalenessMs: 5000 });
  const lease = new LeaderLease({ store, owner: 'me', ttlMs: 200, renewMs: 120, logger });
  const ticker = new Ticker({ store, lease, cache, logger });
  await cache.start();
  await store.issueTickets(10_000, settings);
  lease.start();
  ticker.start();
  try {
    await waitFor(() => (cache.peek()?.windowEnd ?? 0) > 5, { what: 'first advances' });
    delayNext = true;
    await waitFor(() => !delayNext, { what: 'the delayed renewal to start' });
    // The lease was never lost in the store, so no 'acquired' event comes; advances must resume.
    const before = cache.peek()!.windowEnd;
    await waitFor(() => cache.peek()!.windowEnd >= before + 10, { timeoutMs: 5000, what: 'advances after the late renewal' });
    expect(lease.isLeader()).toBe(true);
  } finally {
    await ticker.close();
    await lease.close();
    await cache.close();
    await store.close();
  }
});
