import { isQueueMode, type HighWater, type QueueMode, type RollbackReason } from './queue-state';

/**
 * The integrity rules of a queue's stored state, as pure functions. The Lua scripts
 * (internal/store/lua) apply the same rules inside Redis; the embedded store and the
 * pub/sub reader apply these. Tested by tables in test/unit/state-check.test.ts.
 */

/** 2^53 − 1: above it a double (a Lua number, a JS number) no longer holds every integer. */
export const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/** Inclusive range of every numeric field; S, I and K match the config's bounds. */
export const FIELD_RANGES = Object.freeze({
  windowEnd: [0, MAX_EXACT],
  nextDueMs: [0, MAX_EXACT],
  windowSize: [1, 1_000_000_000],
  // One week: an interval longer than that is a typo, not a queue.
  intervalMs: [1, 604_800_000],
  activeWindowCount: [1, 1_000_000],
  version: [1, MAX_EXACT],
  counter: [0, MAX_EXACT],
  // 0 means no opening time (a queue that is not a pre-queue).
  opensAtMs: [0, MAX_EXACT],
} as const);

export type StateField = keyof typeof FIELD_RANGES;

/**
 * A plain decimal integer within [lo, hi], else undefined. Strings must look like the
 * Lua pattern ^-?%d+$ (at most 16 digits): 'nan', 'inf', '1e400', '0x1f', ' 7' and '1.5'
 * are refused, which Number() and Lua's tonumber() would accept.
 */
export function strictInt(v: unknown, lo: number, hi: number): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && v.length <= 17 && /^-?\d+$/.test(v)) n = Number(v);
  else return undefined;
  if (!Number.isSafeInteger(n) || n < lo || n > hi) return undefined;
  return n;
}

/** The validated fields of a queue state. */
export type CheckedState = { readonly epoch: string; readonly mode: QueueMode } & { readonly [F in StateField]: number };

/**
 * Fields a state written before queue states existed lacks: such a queue is open and has
 * no opening time (the scripts read them the same way: `mode or 'open'`, `opensAtMs or 0`).
 */
const LEGACY_DEFAULTS: Readonly<Record<string, string>> = Object.freeze({ mode: 'open', opensAtMs: '0' });

export type StateCheck = { readonly ok: true; readonly state: CheckedState } | { readonly ok: false; readonly field: string; readonly value: unknown };

/** Validates every field as the scripts do; the first bad field is named. */
export function checkState(raw: Readonly<Record<string, unknown>>): StateCheck {
  const epoch = raw.epoch;
  if (typeof epoch !== 'string' || epoch.length === 0 || epoch.length > 64) return { ok: false, field: 'epoch', value: epoch };
  const out: Record<string, number> = {};
  for (const field of Object.keys(FIELD_RANGES) as StateField[]) {
    const [lo, hi] = FIELD_RANGES[field];
    const v = raw[field] === undefined ? LEGACY_DEFAULTS[field] : raw[field];
    const n = strictInt(v, lo, hi);
    if (n === undefined) return { ok: false, field, value: raw[field] };
    out[field] = n;
  }
  const mode = raw.mode === undefined ? LEGACY_DEFAULTS.mode : raw.mode;
  if (!isQueueMode(mode)) return { ok: false, field: 'mode', value: raw.mode };
  return { ok: true, state: { epoch, mode, ...(out as { [F in StateField]: number }) } };
}

/**
 * Whether a stored state went backwards, judged against what a caller has seen: the
 * same tests, in the same order, as the scripts. null means it did not.
 *
 * - an epoch the caller saw replaced is back: a restored copy;
 * - W > counter + S: no sequence of joins and advances makes it (W starts at S with
 *   counter 0, and an advance runs only when counter > W), so the counter was set back;
 * - in the caller's epoch, a counter, W or version below one it saw.
 */
export function rollbackReason(
  s: { readonly epoch: string; readonly counter: number; readonly windowEnd: number; readonly windowSize: number; readonly version: number },
  seen: HighWater,
): RollbackReason | null {
  if (seen.retired.includes(s.epoch)) return 'retired_epoch';
  if (s.windowEnd > s.counter + s.windowSize) return 'window_above_counter';
  if (seen.epoch === s.epoch) {
    if (s.counter < seen.counter) return 'counter_below_seen';
    if (s.windowEnd < seen.windowEnd) return 'window_below_seen';
    if (s.version < seen.version) return 'version_below_seen';
  }
  return null;
}
