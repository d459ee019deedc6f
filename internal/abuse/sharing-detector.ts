import type { Logger } from 'pino';
import type { AbuseStore, PassClientBatch } from './abuse-store';

export interface SharingDetectorOptions {
  readonly store: AbuseStore;
  /** Distinct clients a pass may be used from within the window; 0 turns detection off. */
  readonly maxClients: number;
  readonly windowMs: number;
  readonly flushMs: number;
  readonly logger: Logger;
  /** Called for each pass this replica's batch revoked, with its exp (ms). */
  readonly onRevoked: (jti: string, expMs: number) => void;
  readonly now?: () => number;
}

/** Passes remembered per replica (each a few client ids); beyond it the oldest are forgotten. */
const MAX_PASSES = 200_000;
/** Passes sent per pass-clients.lua call. */
const BATCH = 500;

/**
 * Sharing detection without a Redis call on /verify: the gate calls note() with
 * each allowed pass and the client it came from (a Map lookup). Only a pair this
 * replica has not sent before is queued; flushMs after the first of them the queued
 * pairs go to pass-clients.lua in batches, which adds them to a HyperLogLog per pass (all
 * replicas' pairs meet there) and revokes any pass above maxClients. The verdict
 * returns through the revocation list (pub/sub), so every gate refuses the pass
 * within about flushMs plus a pub/sub hop of its (maxClients+1)th client.
 *
 * The flush timer runs only while pairs are queued: a queue whose gate sees no new
 * pair costs no timer at all (1,000 quiet queues made 1,000 empty flushes a second
 * when it ran on an interval; docs/benchmarks.md, "Many idle queues: the replica's CPU").
 */
export class SharingDetector {
  /** jti -> its exp (ms) and the clients already sent (at most maxClients + 1). */
  private readonly seen = new Map<string, { expMs: number; clients: Set<string> }>();
  private pending = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly o: SharingDetectorOptions) {
    this.now = o.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.o.maxClients > 0;
  }

  /** Records that pass `jti` (expiring at expSeconds) was used by `client`. Synchronous, no I/O. */
  note(jti: string, expSeconds: number, client: string): void {
    if (!this.enabled || this.closed) return;
    let e = this.seen.get(jti);
    if (!e) {
      if (this.seen.size >= MAX_PASSES) this.evict();
      e = { expMs: expSeconds * 1000, clients: new Set() };
      this.seen.set(jti, e);
    }
    if (e.clients.has(client) || e.clients.size > this.o.maxClients) return;
    e.clients.add(client);
    let p = this.pending.get(jti);
    if (!p) {
      p = new Set();
      this.pending.set(jti, p);
    }
    p.add(client);
    this.arm();
  }

  /** One flush flushMs from now, unless one is already due. */
  private arm(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      // A pair queued from now on (also while this batch is in flight) arms the next flush.
      this.timer = undefined;
      void this.flush();
    }, this.o.flushMs);
    this.timer.unref();
  }

  /** Sends the queued pairs now; concurrent calls share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.send().finally(() => {
      this.flushing = undefined;
      // A timer that fired while this batch was in flight joined it and sent nothing of its
      // own: pairs queued meanwhile need a timer of their own.
      if (this.pending.size > 0) this.arm();
    });
    return this.flushing;
  }

  private async send(): Promise<void> {
    if (this.pending.size === 0) return;
    const queued = this.pending;
    this.pending = new Map();
    const all: PassClientBatch[] = [...queued].map(([jti, clients]) => ({ jti, clients: [...clients] }));
    for (let i = 0; i < all.length; i += BATCH) {
      const batch = all.slice(i, i + BATCH);
      try {
        const revoked = await this.o.store.notePassClients(batch, this.o.maxClients, this.o.windowMs);
        for (const jti of revoked) this.o.onRevoked(jti, this.seen.get(jti)?.expMs ?? this.now() + this.o.windowMs);
      } catch (err) {
        // The pairs are not lost from the count's point of view for long: forget that they
        // were sent, so the next use of each pass queues them again.
        for (const b of batch) for (const c of b.clients) this.seen.get(b.jti)?.clients.delete(c);
        this.o.logger.warn({ err: (err as Error).message, passes: batch.length }, 'sharing detection batch failed; pairs will be resent on next use');
      }
    }
  }

  /** Drops expired passes, then the oldest, to make room. */
  private evict(): void {
    const now = this.now();
    for (const [jti, e] of this.seen) if (e.expMs <= now) this.seen.delete(jti);
    while (this.seen.size >= MAX_PASSES) this.seen.delete(this.seen.keys().next().value as string);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // Pairs queued while a batch was in flight go in a batch of their own.
    while (this.flushing || this.pending.size > 0) await this.flush();
  }
}
