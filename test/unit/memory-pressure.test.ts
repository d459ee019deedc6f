import pino from 'pino';
import { MemoryPressure, containerMemoryLimit, nextPressure, oldSpaceLimitFromFlags, type MemorySample } from '../../internal/health/memory-pressure';

const MiB = 2 ** 20;
const limits = { memoryLimit: 256 * MiB, highWater: 0.8, heapHighWater: 0.6, hysteresis: 0.05 };
const sample = (usedMiB: number, heapUsedMiB: number, heapLiveMiB: number | undefined, heapLimitMiB = 200): MemorySample => ({
  used: usedMiB * MiB,
  heapUsed: heapUsedMiB * MiB,
  heapLive: heapLiveMiB === undefined ? undefined : heapLiveMiB * MiB,
  heapLimit: heapLimitMiB * MiB,
});

describe('nextPressure', () => {
  // Memory in use: high water 0.8 × 256 = 204.8 MiB, ends below 0.75 × 256 = 192.
  // Live heap: high water 0.6 × 200 = 120 MiB, ends below 0.55 × 200 = 110.
  const off = { memory: false, heap: false };
  const mem = { memory: true, heap: false };
  const heap = { memory: false, heap: true };
  const both = { memory: true, heap: true };
  it.each([
    ['quiet', off, sample(120, 60, 50), off],
    ['in use at the high water', off, sample(204.8, 60, 50), mem],
    ['in use just below it', off, sample(204.7, 60, 50), off],
    ['in use in the hysteresis band stays under pressure', mem, sample(195, 60, 50), mem],
    ['in use in the hysteresis band does not start it', off, sample(195, 60, 50), off],
    ['in use below the band ends it', mem, sample(191.9, 60, 50), off],
    ['live heap at its high water', off, sample(150, 130, 120), heap],
    ['live heap just below it', off, sample(150, 130, 119.9), off],
    ['heap in use high but live low: garbage, no pressure', off, sample(150, 185, 60), off],
    ['before the first full collection, the heap in use stands in for live', off, sample(150, 125, undefined), heap],
    ['live heap in the band stays under pressure', heap, sample(150, 130, 111), heap],
    ['live heap below the band ends it', heap, sample(150, 130, 109), off],
    ['heap in use at 99% but live low: still garbage', off, sample(150, 198, 40), off],
    ['once live is known, a high reading in use does not keep pressure on', heap, sample(150, 198, 40), off],
    ['both over', off, sample(210, 130, 125), both],
    ['each signal keeps its own state: memory ends, heap stays', both, sample(191, 130, 111), heap],
    // The heap never crossed 0.6; sitting in its band (0.555) must not hold pressure on after memory ends.
    ['a signal in its band that never crossed does not hold pressure on', mem, sample(191, 130, 111), off],
  ])('%s', (_name, was, s, expected) => {
    expect(nextPressure(was, s, limits)).toEqual(expected);
  });

  it('without a container limit only the heap counts', () => {
    const none = { ...limits, memoryLimit: undefined };
    expect(nextPressure(off, sample(100_000, 60, 50), none)).toEqual(off);
    expect(nextPressure(off, sample(100, 130, 121), none)).toEqual(heap);
  });

  it('a high water of 0 turns its signal off', () => {
    expect(nextPressure(off, sample(255, 60, 50), { ...limits, highWater: 0 })).toEqual(off);
    expect(nextPressure(off, sample(100, 199, 199), { ...limits, heapHighWater: 0 })).toEqual(off);
    expect(nextPressure(both, sample(255, 199, 199), { ...limits, highWater: 0, heapHighWater: 0 })).toEqual(off);
  });
});

describe('containerMemoryLimit', () => {
  const total = 24 * 1024 * MiB;
  it.each([
    ['a cgroup limit below the machine', 256 * MiB, 256 * MiB],
    ['none (node 20 gives undefined)', undefined, undefined],
    ['none (0)', 0, undefined],
    ['no limit (node 20 on this machine: 2^64)', 2 ** 64, undefined],
    ['no limit (cgroup v1 unlimited, 2^63 rounded to a page)', 9223372036854771712, undefined],
    ['exactly the machine', total, undefined],
    ['NaN', NaN, undefined],
  ])('%s', (_name, constrained, expected) => {
    expect(containerMemoryLimit(constrained, total)).toBe(expected);
  });
});

describe('oldSpaceLimitFromFlags', () => {
  it.each([
    ['none', [], undefined],
    ['the overlays\' flag', ['--max-old-space-size=152', '--max-semi-space-size=16'], 152 * MiB],
    ['underscores, as V8 also accepts', ['--max_old_space_size=64'], 64 * MiB],
    ['the last one wins', ['--max-old-space-size=100', '--max-old-space-size=200'], 200 * MiB],
    ['a fraction of a MiB', ['--max-old-space-size=0.5'], 0.5 * MiB],
    ['zero is no limit of its own', ['--max-old-space-size=0'], undefined],
    ['another flag only', ['--max-semi-space-size=16', '--inspect'], undefined],
    ['a script argument that looks alike is not matched', ['--max-old-space-size'], undefined],
  ])('%s', (_name, argv, expected) => {
    expect(oldSpaceLimitFromFlags(argv)).toBe(expected);
  });
});

describe('MemoryPressure', () => {
  const logger = pino({ level: 'silent' });

  it('turns on and off with its readings, tells each change once, and tracks live heap from full collections', () => {
    let reading = { used: 100 * MiB, heapUsed: 50 * MiB, heapLimit: 200 * MiB };
    const changes: boolean[] = [];
    const m = new MemoryPressure({ highWater: 0.8, heapHighWater: 0.6, logger, memoryLimit: 256 * MiB, read: () => reading, onChange: (on) => changes.push(on) });
    expect(m.memoryLimit()).toBe(256 * MiB);
    m.sample();
    expect(m.active()).toBe(false);
    reading = { ...reading, used: 210 * MiB };
    m.sample();
    m.sample();
    expect(m.active()).toBe(true);
    reading = { ...reading, used: 150 * MiB, heapUsed: 170 * MiB };
    m.sample();
    // Old generation in use at 85% of its limit, no full collection yet: counted as live.
    expect(m.active()).toBe(true);
    m.fullCollection(60 * MiB);
    expect(m.active()).toBe(false);
    expect(changes).toEqual([true, false]);
  });

  it('detects the container limit unless told one, and takes null for none', () => {
    const read = () => ({ used: 1, heapUsed: 1, heapLimit: 2 });
    expect(new MemoryPressure({ highWater: 0.8, heapHighWater: 0.6, logger, memoryLimit: null, read }).memoryLimit()).toBeUndefined();
    const detected = new MemoryPressure({ highWater: 0.8, heapHighWater: 0.6, logger, read }).memoryLimit();
    expect(detected === undefined || detected > 0).toBe(true);
  });

  it('never starts with both high waters at 0, and close() is idempotent', () => {
    const m = new MemoryPressure({ highWater: 0, heapHighWater: 0, logger, memoryLimit: 256 * MiB, read: () => ({ used: 255 * MiB, heapUsed: 1, heapLimit: 2 }) });
    m.start();
    expect(m.active()).toBe(false);
    m.close();
    m.close();
  });
});
