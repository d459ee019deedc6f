import { totalmem } from 'node:os';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { cgroupWorkingSetReader } from './cgroup-memory';

/**
 * Memory pressure: the replica's own guard against being killed for memory.
 *
 * A count of open event streams (SSE_MAX_STREAMS) alone cannot hold a replica inside
 * its memory limit, because the rest of its memory is not fixed: in one measured run
 * (`npm run bench:memory`, docs/k8s.md), 1,000 queues took an idle replica from 107 to
 * 154 MiB of RSS, and a 256 MiB replica sized for 16,000 streams with one queue was
 * killed by the kernel while its streams opened with 1,000 queues defined. So each
 * replica also watches its memory, and while it is short it refuses new streams (429;
 * the waiting page polls
 * /status instead), the one thing visitors can make it hold on to. Two signals, each
 * against a high water of its limit:
 *   - The memory in use against the container's memory limit (the cgroup's, which node
 *     reads), SSE_MEMORY_HIGH_WATER: the larger of RSS and the cgroup's working set
 *     (usage less inactive file pages, internal/health/cgroup-memory.ts), what kubelet
 *     evicts on and close to what the kernel's OOM killer acts on. Four times a second.
 *   - The live old generation against its limit (--max-old-space-size),
 *     SSE_HEAP_HIGH_WATER: what V8 aborts
 *     on ("Ineffective mark-compacts near heap limit"). Not the whole heap: V8's heap
 *     limit adds the young generation (three semi-spaces: 48 MiB with
 *     --max-semi-space-size=16), so a replica whose old generation is full can show
 *     its heap at 73% of the limit; one did, and aborted. The limit is the
 *     --max-old-space-size node was started with (the overlays' container command);
 *     without one, V8's heap limit less an estimate of the young generation. "Live"
 *     is the old generation in use when the observer hears of the last full
 *     (mark-compact) collection, a few ms after it (a little above the true live size,
 *     the safe side): at any other moment it includes garbage, which under joins
 *     spread over 1,000 queues swings by more than 200 MiB between collections. Before
 *     the first full collection, the old generation in use stands in for it. Its high
 *     water is lower (0.6 by default) than the memory's (0.8): with live heap at 0.8 of a
 *     152 MiB old generation, joins over 1,000 queues fell to 1,453 a second and the
 *     collector's pauses outlasted the Redis command timeout (51 joins answered 503);
 *     the collector needs room to work, not just room to fit.
 * Pressure ends when each signal is `hysteresis` below its high water, so a replica at
 * the edge does not flap between refusing and accepting.
 */
export interface MemorySample {
  /** The larger of RSS and the cgroup's working set (RSS alone without a readable cgroup). */
  readonly used: number;
  /** The old generation in use (the heap less its young generation). */
  readonly heapUsed: number;
  /** The old generation's limit (V8's heap limit less the young generation's reserve). */
  readonly heapLimit: number;
  /** The old generation in use just after the last full collection; undefined before the first. */
  readonly heapLive: number | undefined;
}

export interface MemoryLimits {
  /** The container's memory limit in bytes; undefined when the process has none below the machine's memory. */
  readonly memoryLimit: number | undefined;
  /** Share of the memory limit at which pressure starts (0 turns this signal off). */
  readonly highWater: number;
  /** Share of the old generation's limit the live heap may take (0 turns this signal off). */
  readonly heapHighWater: number;
  /** How far below its high water (a share) each signal must fall for pressure to end. */
  readonly hysteresis: number;
}

/** Which signal is over its high water; the replica is under pressure while either is. */
export interface PressureState {
  readonly memory: boolean;
  readonly heap: boolean;
}

export const NO_PRESSURE: PressureState = { memory: false, heap: false };

/**
 * Each signal's state after `sample`, given its state before (pure, for the table tests).
 * Each has its own hysteresis: a signal that never crossed its high water does not hold
 * pressure on from inside its band (a full base replica's live heap sits at 0.58 of the
 * old generation, inside the heap's band of 0.55-0.6).
 */
export function nextPressure(was: PressureState, sample: MemorySample, limits: MemoryLimits): PressureState {
  const over = (on: boolean, share: number, highWater: number) => highWater > 0 && share >= (on ? highWater - limits.hysteresis : highWater);
  const usedShare = limits.memoryLimit ? sample.used / limits.memoryLimit : 0;
  const heapShare = sample.heapLimit > 0 ? (sample.heapLive ?? sample.heapUsed) / sample.heapLimit : 0;
  return { memory: over(was.memory, usedShare, limits.highWater), heap: over(was.heap, heapShare, limits.heapHighWater) };
}

/**
 * The old generation's limit in bytes from node's own command line
 * (`--max-old-space-size=MiB`, the last one wins as in node), or undefined without one.
 * NODE_OPTIONS is not seen here: the overlays pass the flags in the container's command.
 */
export function oldSpaceLimitFromFlags(execArgv: readonly string[]): number | undefined {
  let mib: number | undefined;
  for (const a of execArgv) {
    const m = /^--max[-_]old[-_]space[-_]size=(\d+(?:\.\d+)?)$/.exec(a);
    if (m) mib = Number(m[1]);
  }
  return mib !== undefined && mib > 0 ? mib * 2 ** 20 : undefined;
}

/**
 * The memory limit of the container this process runs in: node reads it from the
 * cgroup (`process.constrainedMemory()`); a value at or above the machine's memory (or
 * none) means no limit of its own.
 */
export function containerMemoryLimit(constrained: number | undefined, total: number): number | undefined {
  if (constrained === undefined || !Number.isFinite(constrained) || constrained <= 0 || constrained >= total) return undefined;
  return constrained;
}

export interface MemoryPressureOptions {
  /** Share of the container's memory limit at which new streams are refused (SSE_MEMORY_HIGH_WATER); 0: not this signal. */
  readonly highWater: number;
  /** Share of the old generation's limit the live heap may take (SSE_HEAP_HIGH_WATER); 0: not this signal. */
  readonly heapHighWater: number;
  readonly logger: Logger;
  /** Told of every change: for the waitroom_memory_pressure gauge. */
  readonly onChange?: (underPressure: boolean) => void;
  /** The container's limit in bytes; null for none; default: the cgroup's, read by node. */
  readonly memoryLimit?: number | null;
  /** Default 250 ms: a reading costs a few µs, and streams can open by the thousand a second. */
  readonly sampleMs?: number;
  /** Injectable for tests: the reading without heapLive, which this class tracks. */
  readonly read?: () => Omit<MemorySample, 'heapLive'>;
}

/**
 * Reads the memory in use (the larger of RSS and the cgroup's working set) and the old
 * generation. The old generation's limit is `oldLimit` when node was given one;
 * otherwise V8's heap limit less the young generation's share, three
 * semi-spaces, i.e. 1.5 times the new space's committed size (two semi-spaces) once it
 * has grown to its maximum (the largest seen is kept). That estimate errs high until the
 * new space has grown, which is why the overlays pass --max-old-space-size.
 */
function memoryReader(oldLimit: number | undefined, cgroup: boolean): () => Omit<MemorySample, 'heapLive'> {
  // Without a container limit the memory signal is off: no cgroup files to read (the
  // enclosing cgroup's usage would be other processes' too, and only misleads the log).
  const workingSet = cgroup ? cgroupWorkingSetReader() : undefined;
  let youngReserve = 0;
  return () => {
    const h = getHeapStatistics();
    let youngUsed = 0;
    for (const s of getHeapSpaceStatistics()) {
      if (s.space_name === 'new_space') youngReserve = Math.max(youngReserve, 1.5 * s.space_size);
      if (s.space_name === 'new_space' || s.space_name === 'new_large_object_space') youngUsed += s.space_used_size;
    }
    // The larger of the two: the working set leaves out file pages charged to another cgroup
    // (the node binary, when another process loaded it first), RSS leaves out page cache and
    // socket buffers; one run with the working set alone let a replica open 33% more
    // streams and be killed under the join load that followed.
    const rss = process.memoryUsage.rss();
    return { used: Math.max(rss, workingSet?.() ?? 0), heapUsed: h.used_heap_size - youngUsed, heapLimit: oldLimit ?? h.heap_size_limit - youngReserve };
  };
}

/** Samples the replica's memory four times a second and after every full collection; `active()` is read on every new event stream. */
export class MemoryPressure {
  private readonly limits: MemoryLimits;
  private readonly read: () => Omit<MemorySample, 'heapLive'>;
  private timer: NodeJS.Timeout | undefined;
  private gc: PerformanceObserver | undefined;
  private heapLive: number | undefined;
  private state: PressureState = NO_PRESSURE;

  constructor(private readonly o: MemoryPressureOptions) {
    const detected = o.memoryLimit === undefined ? containerMemoryLimit(process.constrainedMemory?.(), totalmem()) : (o.memoryLimit ?? undefined);
    this.limits = { memoryLimit: detected, highWater: o.highWater, heapHighWater: o.heapHighWater, hysteresis: 0.05 };
    this.read = o.read ?? memoryReader(oldSpaceLimitFromFlags(process.execArgv), detected !== undefined);
  }

  /** The container limit in bytes, when there is one (logged at start). */
  memoryLimit(): number | undefined {
    return this.limits.memoryLimit;
  }

  start(): void {
    if (this.timer || (this.o.highWater <= 0 && this.o.heapHighWater <= 0)) return;
    // One entry per collection (about a hundred a second under a join load): only full ones are read.
    this.gc = new PerformanceObserver((list) => {
      if (list.getEntries().some((e) => ((e as unknown as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) {
        this.fullCollection(this.read().heapUsed);
      }
    });
    this.gc.observe({ entryTypes: ['gc'] });
    this.sample();
    this.timer = setInterval(() => this.sample(), this.o.sampleMs ?? 250);
    // Never what keeps the process alive.
    this.timer.unref();
  }

  /** True while new event streams are refused. */
  active(): boolean {
    return this.state.memory || this.state.heap;
  }

  /** Records the old generation in use just after a full collection (the observer calls it; tests too). */
  fullCollection(heapUsed: number): void {
    this.heapLive = heapUsed;
    this.sample();
  }

  /** One reading; start() calls it every sampleMs. */
  sample(): void {
    const sample: MemorySample = { ...this.read(), heapLive: this.heapLive };
    const wasOn = this.active();
    this.state = nextPressure(this.state, sample, this.limits);
    const next = this.active();
    if (next === wasOn) return;
    const mib = (n: number | undefined) => (n === undefined ? null : Math.round(n / 2 ** 20));
    const fields = {
      memoryUsedMiB: mib(sample.used),
      memoryLimitMiB: mib(this.limits.memoryLimit),
      oldGenerationUsedMiB: mib(sample.heapUsed),
      oldGenerationLiveMiB: mib(sample.heapLive),
      oldGenerationLimitMiB: mib(sample.heapLimit),
      highWater: this.limits.highWater,
      heapHighWater: this.limits.heapHighWater,
      signals: this.state,
    };
    if (next) this.o.logger.warn(fields, 'memory pressure: refusing new event streams (visitors poll /status instead)');
    else this.o.logger.info(fields, 'memory pressure over: accepting event streams again');
    this.o.onChange?.(next);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.gc?.disconnect();
    this.gc = undefined;
  }
}
