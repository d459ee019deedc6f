import { UnavailableError } from '../errors/errors';
import { FLOW_RETENTION_MS, type FlowRecordResult, type FlowResolution, type FlowSample, type FlowStore } from './flow-store';
import type { MemoryQueueCell } from './memory-store';

/** A queue's flow samples in the embedded store: what its two streams hold. */
export class MemoryFlowSeries {
  readonly second: FlowSample[] = [];
  readonly minute: FlowSample[] = [];

  clear(): void {
    this.second.length = 0;
    this.minute.length = 0;
  }
}

/** The last index with t < x (binary search), -1 if none. */
function lastBefore(a: readonly FlowSample[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]!.t < x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * The embedded counterpart of RedisFlowStore: flow-sample.lua step for step
 * (test/store/flow-store-contract.test.ts runs one suite against both). Trimming is
 * exact here, where Redis trims whole listpack nodes; both keep at least the window.
 */
export class MemoryFlowStore implements FlowStore {
  constructor(
    private readonly cell: MemoryQueueCell,
    private readonly clock: () => number,
    private readonly isOpen: () => boolean,
  ) {}

  async record(atMs?: number): Promise<FlowRecordResult> {
    if (!this.isOpen()) throw new UnavailableError('store_unavailable', 'the embedded store is closed', 1);
    const now = atMs ?? this.clock();
    const st = this.cell.state;
    if (!st) return { outcome: 'missing', t: now, issued: 0, admitted: 0 };
    const f = this.cell.flow;
    const issued = st.counter;
    const admitted = st.windowEnd;
    const second = now - (now % 1000);
    const minute = now - (now % 60_000);
    const lastS = f.second[f.second.length - 1];
    if (lastS && lastS.issued === issued && lastS.admitted === admitted) return { outcome: 'unchanged', t: now, issued, admitted };
    if (lastS && lastS.t >= second) return { outcome: 'same_second', t: now, issued, admitted };
    f.second.push({ t: second, issued, admitted });
    f.second.splice(0, lastBefore(f.second, second - FLOW_RETENTION_MS.second) + 1);
    const lastM = f.minute[f.minute.length - 1];
    if ((!lastM || lastM.t < minute) && (lastM?.issued !== issued || lastM?.admitted !== admitted)) {
      f.minute.push({ t: minute, issued, admitted });
      f.minute.splice(0, lastBefore(f.minute, minute - FLOW_RETENTION_MS.minute) + 1);
    }
    return { outcome: 'written', t: now, issued, admitted };
  }

  async read(resolution: FlowResolution, fromMs: number, toMs: number): Promise<FlowSample[]> {
    if (!this.isOpen()) throw new UnavailableError('store_unavailable', 'the embedded store is closed', 1);
    const a = this.cell.flow[resolution];
    const start = Math.max(0, lastBefore(a, fromMs));
    return a.slice(start).filter((s, i) => (i === 0 && s.t < fromMs) || (s.t >= fromMs && s.t <= toMs));
  }
}
