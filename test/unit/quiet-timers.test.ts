import { EventEmitter } from 'node:events';
import pino from 'pino';
import { FlowSampler } from '../../internal/analytics/flow-sampler';
import { SharingDetector } from '../../internal/abuse/sharing-detector';
import type { AbuseStore } from '../../internal/abuse/abuse-store';
import { OriginProbe } from '../../internal/health/origin-health';
import { LeaderLease } from '../../internal/leader/lease';
import type { QueueStateCache, SnapshotListener } from '../../internal/queue/state-cache';
import type { QueueSnapshot } from '../../internal/queue/queue-state';
import type { FlowStore } from '../../internal/store/flow-store';

/**
 * A replica serving many quiet queues must not wake for each of them every second
 * (docs/benchmarks.md, "Many idle queues: the replica's CPU"). These parts of a queue
 * keep no timer while there is nothing for them to do, and wake when there is.
 */
const logger = pino({ level: 'silent' });

beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
afterEach(() => jest.useRealTimers());

function snapshot(counter: number, windowEnd = 0): QueueSnapshot {
  return {
    epoch: 'e1', windowEnd, nextDueMs: 0, version: 1, counter, storeNowMs: 0,
    windowSize: 10, intervalMs: 1000, activeWindowCount: 2, mode: 'open', opensAtMs: 0, maxActive: 0,
  } as QueueSnapshot;
}

/** The cache's two calls the sampler uses, driven by the test. */
class FakeCache {
  snap: QueueSnapshot | undefined = snapshot(5);
  private readonly listeners = new Set<SnapshotListener>();
  peek(): QueueSnapshot | undefined {
    return this.snap;
  }
  onChange(l: SnapshotListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  set(s: QueueSnapshot): void {
    const prev = this.snap;
    this.snap = s;
    for (const l of this.listeners) l(s, prev);
  }
  get listenerCount(): number {
    return this.listeners.size;
  }
}

class FakeLease extends EventEmitter {
  leader = false;
  isLeader(): boolean {
    return this.leader;
  }
  acquire(): void {
    this.leader = true;
    this.emit('acquired');
  }
}

describe('FlowSampler: samples on a change, at most once a period, and keeps no timer while quiet', () => {
  function setup() {
    const cache = new FakeCache();
    const lease = new FakeLease();
    const calls: number[] = [];
    let fail = false;
    const flow = {
      record: async () => {
        calls.push(Date.now());
        if (fail) throw new Error('store down');
        return { outcome: 'recorded', issued: 0, admitted: 0, t: 0 };
      },
    } as unknown as FlowStore;
    const sampler = new FlowSampler({ flow, lease: lease as never, cache: cache as unknown as QueueStateCache, logger, periodMs: 1000 });
    return { cache, lease, calls, sampler, setFail: (f: boolean) => (fail = f) };
  }

  test('not the leader: no timer and no call, whatever changes', async () => {
    const { cache, calls, sampler } = setup();
    sampler.start();
    await jest.advanceTimersByTimeAsync(0);
    cache.set(snapshot(6));
    cache.set(snapshot(7));
    await jest.advanceTimersByTimeAsync(10_000);
    expect(calls).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
    sampler.close();
  });

  test('becoming the leader samples once, then a quiet queue keeps no timer', async () => {
    const { lease, calls, sampler } = setup();
    sampler.start();
    lease.acquire();
    await jest.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([1_000_000]);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(1);
    expect(jest.getTimerCount()).toBe(0);
    sampler.close();
  });

  test('changes within a period make one more sample a period after the last', async () => {
    const { cache, lease, calls, sampler } = setup();
    sampler.start();
    lease.acquire();
    await jest.advanceTimersByTimeAsync(0);
    await jest.advanceTimersByTimeAsync(200);
    for (let c = 6; c < 20; c++) cache.set(snapshot(c));
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(799);
    expect(calls).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([1_000_000, 1_001_000]);
    // A change long after: sampled at once.
    await jest.advanceTimersByTimeAsync(5000);
    cache.set(snapshot(30));
    await jest.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([1_000_000, 1_001_000, 1_006_000]);
    expect(jest.getTimerCount()).toBe(0);
    sampler.close();
  });

  test('a failed sample is retried a period later, and only while the state still differs', async () => {
    const { lease, calls, sampler, setFail } = setup();
    setFail(true);
    sampler.start();
    lease.acquire();
    await jest.advanceTimersByTimeAsync(0);
    setFail(false);
    await jest.advanceTimersByTimeAsync(1000);
    expect(calls).toEqual([1_000_000, 1_001_000]);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(2);
    sampler.close();
  });

  test('close stops listening and leaves no timer', async () => {
    const { cache, lease, sampler } = setup();
    sampler.start();
    lease.acquire();
    cache.set(snapshot(6));
    sampler.close();
    expect(cache.listenerCount).toBe(0);
    expect(lease.listenerCount('acquired')).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('OriginProbe: sleeps with no timer without a probe URL or the lead, and wakes on wake()', () => {
  const PROBE = { url: 'http://127.0.0.1:9/', intervalSeconds: 5, timeoutMs: 100, failuresBeforeHold: 3, successesBeforeResume: 2, allowLinkLocal: false };
  // The runtime calls wake() on a settings change, on leadership and on a lease believed again.
  test.each<[string, typeof PROBE | null, boolean]>([
    ['no probe URL, leading', null, true],
    ['a probe URL, another replica leads', PROBE, false],
  ])('%s: one check at start, then no timer until woken; a wake checks once', async (_what, settings, leader) => {
    let checks = 0;
    const probe = new OriginProbe({
      settings: () => {
        checks++;
        return settings;
      },
      isLeader: () => leader,
      held: () => false,
      setHold: async () => undefined,
      logger,
    });
    probe.start();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(checks).toBe(1);
    expect(jest.getTimerCount()).toBe(0);
    probe.wake();
    probe.wake();
    await jest.advanceTimersByTimeAsync(0);
    expect(checks).toBe(2);
    expect(jest.getTimerCount()).toBe(0);
    await probe.close();
  });
});

describe('SharingDetector: a flush timer only while pairs are queued', () => {
  test('no pass seen: no timer and no store call; a new pair is sent flushMs later, once', async () => {
    const batches: number[] = [];
    const store = {
      notePassClients: async (batch: readonly unknown[]) => {
        batches.push(batch.length);
        return [];
      },
    } as unknown as AbuseStore;
    const d = new SharingDetector({ store, maxClients: 3, windowMs: 60_000, flushMs: 250, logger, onRevoked: () => undefined });
    await jest.advanceTimersByTimeAsync(10_000);
    expect(batches).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
    d.note('p1', 2_000_000, 'a');
    d.note('p1', 2_000_000, 'b');
    d.note('p2', 2_000_000, 'a');
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(249);
    expect(batches).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([2]);
    // Pairs already sent queue nothing: no timer.
    d.note('p1', 2_000_000, 'a');
    expect(jest.getTimerCount()).toBe(0);
    await d.close();
  });
});

describe('SharingDetector: no pair stranded by a slow batch', () => {
  test('a pair noted while a batch outlasts flushMs is sent without another note', async () => {
    const sent: string[][] = [];
    let slow = true;
    const store = {
      notePassClients: async (batch: ReadonlyArray<{ jti: string; clients: string[] }>) => {
        sent.push(batch.map((b) => `${b.jti}:${b.clients.join('+')}`));
        if (slow) await new Promise((r) => setTimeout(r, 5000));
        return [];
      },
    } as unknown as AbuseStore;
    const d = new SharingDetector({ store, maxClients: 3, windowMs: 60_000, flushMs: 250, logger, onRevoked: () => undefined });
    d.note('p1', 2_000_000, 'a');
    await jest.advanceTimersByTimeAsync(250);
    expect(sent).toEqual([['p1:a']]);
    slow = false;
    // Queued during the slow batch; its timer fires while that batch is still in flight.
    d.note('p2', 2_000_000, 'b');
    await jest.advanceTimersByTimeAsync(10_000);
    expect(sent).toEqual([['p1:a'], ['p2:b']]);
    expect(jest.getTimerCount()).toBe(0);
    await d.close();
  });

  test('close() sends what is queued, also behind a batch in flight', async () => {
    const sent: string[] = [];
    const store = {
      notePassClients: async (batch: ReadonlyArray<{ jti: string }>) => {
        await new Promise((r) => setTimeout(r, 100));
        sent.push(...batch.map((b) => b.jti));
        return [];
      },
    } as unknown as AbuseStore;
    const d = new SharingDetector({ store, maxClients: 3, windowMs: 60_000, flushMs: 250, logger, onRevoked: () => undefined });
    d.note('p1', 2_000_000, 'a');
    await jest.advanceTimersByTimeAsync(260);
    d.note('p2', 2_000_000, 'a');
    const closing = d.close();
    await jest.advanceTimersByTimeAsync(1000);
    await closing;
    expect(sent).toEqual(['p1', 'p2']);
  });
});

describe('LeaderLease: renewals on a shared grid, and sleepWhile', () => {
  test("a renewal that lands after the lease's validity says 'valid' (no 'lost' was emitted)", async () => {
    let renewMs = 0;
    const lease = new LeaderLease({
      store: {
        acquireLease: async () => true,
        renewLease: async () => {
          await new Promise((r) => setTimeout(r, renewMs));
          return true;
        },
        releaseLease: async () => true,
      },
      owner: 'me',
      ttlMs: 3000,
      renewMs: 1000,
      logger,
      gridPhase: 0,
    });
    const events: string[] = [];
    for (const e of ['acquired', 'lost', 'valid']) lease.on(e, () => events.push(`${e}@${Date.now() - 1_000_000}`));
    lease.start();
    await jest.advanceTimersByTimeAsync(0);
    renewMs = 2500;
    // Renewal sent at 1000 answers at 3500: past the validity (3000), believed again until 4000.
    await jest.advanceTimersByTimeAsync(3200);
    expect(lease.isLeader()).toBe(false);
    await jest.advanceTimersByTimeAsync(300);
    expect(lease.isLeader()).toBe(true);
    expect(events).toEqual(['acquired@0', 'valid@3500']);
    renewMs = 0;
    // The next renewal is sent a period after that answer (4500), past the 4000 it was valid
    // until, and answers a tick later: believed again. Then the renewals are on time.
    await jest.advanceTimersByTimeAsync(5000);
    expect(events).toEqual(['acquired@0', 'valid@3500', 'valid@4501']);
    expect(lease.isLeader()).toBe(true);
    const closing = lease.close();
    await jest.advanceTimersByTimeAsync(10);
    await closing;
  });

  function store(log: string[]) {
    return {
      acquireLease: async () => {
        log.push(`acquire@${Date.now()}`);
        return true;
      },
      renewLease: async () => {
        log.push(`renew@${Date.now()}`);
        return true;
      },
      releaseLease: async () => true,
    };
  }

  test.each<[string, number, number, number, number[]]>([
    // what, start (local ms), renewMs, grid phase, the next three renewal times
    ['on the grid already', 1_000_000, 1666, 0, [1_001_600, 1_003_200, 1_004_800]],
    ['started between grid lines: brought forward, never later', 1_000_037, 1666, 0, [1_001_700, 1_003_300, 1_004_900]],
    ['short periods use a tenth of the period as the grid', 1_000_003, 300, 0, [1_000_290, 1_000_590, 1_000_890]],
    ['periods under 20 ms are not rounded', 1_000_003, 15, 0, [1_000_018, 1_000_033, 1_000_048]],
    ["a replica's phase moves its grid (half a step: 50 ms in)", 1_000_000, 1666, 0.5, [1_001_650, 1_003_250, 1_004_850]],
  ])('%s', async (_what, start, renewMs, gridPhase, expected) => {
    jest.setSystemTime(start);
    const log: string[] = [];
    const lease = new LeaderLease({ store: store(log), owner: 'me', ttlMs: renewMs * 3, renewMs, logger, gridPhase });
    lease.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(log).toEqual([`acquire@${start}`]);
    for (const at of expected) {
      await jest.advanceTimersByTimeAsync(at - Date.now() - 1);
      expect(log).toHaveLength(expected.indexOf(at) + 1);
      await jest.advanceTimersByTimeAsync(1);
      expect(log[log.length - 1]).toBe(`renew@${at}`);
      // Never later than the period after the previous step.
      expect(at - (expected[expected.indexOf(at) - 1] ?? start)).toBeLessThanOrEqual(renewMs);
    }
    await lease.close();
  });

  test('sleepWhile: a lease not held sleeps with no timer until wake()', async () => {
    const log: string[] = [];
    let asleep = true;
    let eligible = false;
    const lease = new LeaderLease({
      store: store(log),
      owner: 'me',
      ttlMs: 3000,
      renewMs: 1000,
      logger,
      gridPhase: 0,
      eligible: () => eligible,
      sleepWhile: () => asleep,
    });
    lease.start();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(log).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
    asleep = false;
    eligible = true;
    lease.wake();
    await jest.advanceTimersByTimeAsync(0);
    expect(lease.isLeader()).toBe(true);
    // Held: it renews whatever sleepWhile says.
    asleep = true;
    await jest.advanceTimersByTimeAsync(3000);
    expect(log.filter((l) => l.startsWith('renew'))).toHaveLength(3);
    expect(lease.isLeader()).toBe(true);
    // Not eligible any more: hands over, then sleeps.
    eligible = false;
    await jest.advanceTimersByTimeAsync(1000);
    expect(lease.isLeader()).toBe(false);
    const n = log.length;
    await jest.advanceTimersByTimeAsync(10_000);
    expect(log).toHaveLength(n);
    expect(jest.getTimerCount()).toBe(0);
    await lease.close();
  });
});
