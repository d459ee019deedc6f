/**
 * Decides whether a repeated log line is written: at most one line per key per
 * window, the next one carrying how many were suppressed meanwhile. Refused
 * requests on the hot routes (401s from an expired ticket, the gate turning
 * away visitors without a pass) can come at thousands per second; each kind
 * stays visible without the log growing with the traffic. The clock is passed in.
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly windowMs = 1000,
    /** Distinct keys tracked; keys are bounded by route x error code, this is a backstop. */
    private readonly maxKeys = 1024,
  ) {}

  /** Returns the number of lines suppressed since the last written one, or -1 to suppress this one. */
  admit(key: string, nowMs: number): number {
    const e = this.last.get(key);
    if (e && nowMs - e.at < this.windowMs) {
      e.suppressed++;
      return -1;
    }
    const suppressed = e?.suppressed ?? 0;
    if (!e && this.last.size >= this.maxKeys) this.last.clear();
    this.last.set(key, { at: nowMs, suppressed: 0 });
    return suppressed;
  }
}
