import { withGlobal, type Clock } from '@sinonjs/fake-timers';

/** The process's own setImmediate, kept before the virtual clock replaces it. */
const realSetImmediate = globalThis.setImmediate;

/**
 * The simulator's virtual time: @sinonjs/fake-timers (the library behind Jest's and
 * Sinon's fake timers) takes over this process's setTimeout, setInterval and setImmediate,
 * so the real Ticker, LeaderLease, state cache and embedded store run unchanged while
 * hours pass in seconds. Only one virtual clock may be installed at a time (it replaces
 * the process's timers), so simulations run one after another.
 *
 * step() runs the next due timer and then lets the promise continuations it started
 * (the ticker's `await store.advance()`) finish before the next timer, as they would
 * between two timers of a real event loop. (fake-timers' nextAsync does the same with
 * two real turns per timer; one is enough here and halves the run time.)
 */
export class VirtualClock {
  private static installed = false;
  private readonly clock: Clock;
  private removed = false;

  private constructor(startMs: number) {
    this.clock = withGlobal(globalThis).install({
      now: startMs,
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate'],
      // A long sale has millions of timer firings; the default limit (1,000) guards tests' runAll only.
      loopLimit: Number.MAX_SAFE_INTEGER,
    });
  }

  /** Installs the virtual clock at `startMs` (epoch ms); throws if one is installed already. */
  static install(startMs: number): VirtualClock {
    if (VirtualClock.installed) throw new Error('a virtual clock is already installed: simulations run one at a time');
    VirtualClock.installed = true;
    return new VirtualClock(startMs);
  }

  /** Virtual epoch milliseconds. */
  now(): number {
    return this.clock.now;
  }

  /** Runs the earliest pending timer (moving time to it) and the continuations it started. */
  async step(): Promise<void> {
    this.clock.next();
    // One real turn of the event loop: every promise continuation the timer started runs
    // to its end (the embedded store never waits for I/O) before the next timer fires.
    await new Promise<void>((resolve) => realSetImmediate(resolve));
  }

  /** Pending timers (for tests: a finished simulation leaves none of its own). */
  pending(): number {
    return this.clock.countTimers();
  }

  /** Gives the process its real timers back. Idempotent. */
  uninstall(): void {
    if (this.removed) return;
    this.removed = true;
    this.clock.uninstall();
    VirtualClock.installed = false;
  }
}
