/**
 * A binary min-heap of (time, id) pairs: the simulator's pending departures from the
 * site. Ties are broken by id so every run pops in the same order.
 */
export class MinHeap {
  private readonly t: number[] = [];
  private readonly id: number[] = [];

  get size(): number {
    return this.t.length;
  }

  peekTime(): number {
    return this.t.length > 0 ? this.t[0]! : Infinity;
  }

  push(time: number, id: number): void {
    this.t.push(time);
    this.id.push(id);
    let i = this.t.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Removes the earliest entry and returns its id (undefined when empty). */
  pop(): number | undefined {
    const n = this.t.length;
    if (n === 0) return undefined;
    const top = this.id[0]!;
    this.swap(0, n - 1);
    this.t.pop();
    this.id.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.t.length && this.less(l, m)) m = l;
      if (r < this.t.length && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }

  private less(a: number, b: number): boolean {
    return this.t[a]! < this.t[b]! || (this.t[a] === this.t[b] && this.id[a]! < this.id[b]!);
  }

  private swap(a: number, b: number): void {
    [this.t[a], this.t[b]] = [this.t[b]!, this.t[a]!];
    [this.id[a], this.id[b]] = [this.id[b]!, this.id[a]!];
  }
}
