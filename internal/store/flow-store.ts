import { queueKeys, type QueueKeys } from './keys';
import type { RedisQueueStore } from './redis-store';

/**
 * One sample of a queue's cumulative flow: tickets issued (the counter) and
 * tickets admitted (the window end W) at time `t`. The value holds from `t`
 * until the next sample (samples are written only when something changed).
 */
export interface FlowSample {
  /** ms since the Unix epoch, in the store's clock; a whole second or minute. */
  readonly t: number;
  readonly issued: number;
  readonly admitted: number;
}

export type FlowResolution = 'second' | 'minute';

/** How long each resolution is kept (the console's charts: one hour by the second, seven days by the minute). */
export const FLOW_RETENTION_MS: Readonly<Record<FlowResolution, number>> = Object.freeze({
  second: 3_600_000,
  minute: 7 * 24 * 3_600_000,
});

export type FlowRecordOutcome = 'written' | 'unchanged' | 'same_second' | 'missing';

export interface FlowRecordResult {
  readonly outcome: FlowRecordOutcome;
  /** The values the store read (the counter and W at `t`). */
  readonly issued: number;
  readonly admitted: number;
  readonly t: number;
}

/** A queue's flow samples (flow-sample.lua and its embedded counterpart). */
export interface FlowStore {
  /**
   * Samples the queue's counter and W now (store clock), or at `atMs` (an import of past
   * samples; it must be later than the last one). Written only when they changed.
   */
  record(atMs?: number): Promise<FlowRecordResult>;
  /** Samples with fromMs <= t <= toMs, preceded by the last one before fromMs (to fill forward from). */
  read(resolution: FlowResolution, fromMs: number, toMs: number): Promise<FlowSample[]>;
}

const RECORD_OUTCOMES: Record<number, FlowRecordOutcome> = { 1: 'written', 0: 'unchanged', 2: 'same_second', 3: 'missing' };

type StreamEntry = { id: string; message: Record<string, string> };

function sampleOf(e: StreamEntry): FlowSample | undefined {
  const t = Number(e.id.split('-')[0]);
  const issued = Number(e.message.i);
  const admitted = Number(e.message.a);
  // Written only by flow-sample.lua; anything else in the key is not ours to plot.
  if (!Number.isSafeInteger(t) || !Number.isSafeInteger(issued) || !Number.isSafeInteger(admitted)) return undefined;
  return { t, issued, admitted };
}

/** Flow samples on the queue's Redis, with the queue store's client and error mapping. */
export class RedisFlowStore implements FlowStore {
  private readonly keys: QueueKeys;

  constructor(private readonly store: RedisQueueStore) {
    this.keys = queueKeys(store.queueId);
  }

  async record(atMs?: number): Promise<FlowRecordResult> {
    const k = this.keys;
    const r = await this.store.call('flowSample', () =>
      this.store.redis.flowSample(k.state, k.counter, k.flowSeconds, k.flowMinutes, atMs === undefined ? '' : String(atMs), FLOW_RETENTION_MS.second, FLOW_RETENTION_MS.minute),
    );
    const outcome = RECORD_OUTCOMES[Number(r[0])];
    if (!outcome) throw new Error(`flow-sample.lua returned unknown code ${String(r[0])}`);
    return { outcome, t: Number(r[1]), issued: Number(r[2]), admitted: Number(r[3]) };
  }

  async read(resolution: FlowResolution, fromMs: number, toMs: number): Promise<FlowSample[]> {
    const key = resolution === 'second' ? this.keys.flowSeconds : this.keys.flowMinutes;
    const from = Math.max(0, Math.floor(fromMs));
    const to = Math.max(0, Math.floor(toMs));
    // Two reads of one key: the one before the range (exclusive "(" end) and the range itself.
    // ("(0-0" is not a valid exclusive end: nothing lies before time 0.)
    const [before, within] = await this.store.call('flowRead', () =>
      Promise.all([
        from > 0 ? this.store.redis.xRevRange(key, `(${from}-0`, '-', { COUNT: 1 }) : Promise.resolve([]),
        this.store.redis.xRange(key, `${from}-0`, `${to}-0`),
      ]),
    );
    const out: FlowSample[] = [];
    for (const e of [...before, ...within] as unknown as StreamEntry[]) {
      const s = sampleOf(e);
      if (s) out.push(s);
    }
    return out;
  }
}
