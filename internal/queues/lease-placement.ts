/**
 * Which replica should lead which queue: rendezvous (highest random weight)
 * hashing over the live replicas. Every replica computes the same answer from
 * the same list, without talking to the others; when a replica joins or leaves,
 * only the queues it wins or held move (about 1/n of them). Pure functions.
 */

/** FNV-1a, 32 bits: fast, well spread for short ASCII keys; not a security boundary. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // A final avalanche (murmur3 fmix32): FNV alone leaves similar keys' weights close.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** The replica that should lead `queueId`, or undefined when no replica is known. */
export function preferredReplica(queueId: string, replicas: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const r of replicas) {
    const w = fnv1a(`${r}\u0000${queueId}`);
    // Ties (vanishingly rare) go to the smaller id, so every replica agrees.
    if (w > bestWeight || (w === bestWeight && best !== undefined && r < best)) {
      best = r;
      bestWeight = w;
    }
  }
  return best;
}

/**
 * This replica's view of the live replicas, refreshed by its heartbeat. Until
 * the first heartbeat answers (or when it keeps failing), every replica is
 * eligible for every queue, which is the single-leader election of one queue:
 * correctness never depends on the placement, only the spread does.
 */
export class LeasePlacement {
  private replicas: readonly string[] = [];

  constructor(readonly self: string) {}

  /** Returns true when the set changed. */
  update(replicas: readonly string[]): boolean {
    const next = [...replicas].sort();
    const same = next.length === this.replicas.length && next.every((r, i) => r === this.replicas[i]);
    this.replicas = next;
    return !same;
  }

  /** Forget the set (heartbeat failing): fall back to everyone eligible. */
  reset(): void {
    this.replicas = [];
  }

  live(): readonly string[] {
    return this.replicas;
  }

  shouldLead(queueId: string): boolean {
    if (!this.replicas.includes(this.self)) return true;
    return preferredReplica(queueId, this.replicas) === this.self;
  }
}
