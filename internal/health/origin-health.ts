import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';

/**
 * Holding admissions while a queue's site (the origin) is unhealthy (docs/system.md,
 * "Holding while the site is unhealthy"). The queue's leader probes the URL the operator
 * set; after `failuresBeforeHold` failed probes in a row it holds admissions
 * (set-origin-hold.lua), after `successesBeforeResume` good ones in a row it resumes them.
 * The decision is a pure function (`nextHealth`), tested with tables.
 */
export interface OriginHealthSettings {
  readonly url: string;
  readonly intervalSeconds: number;
  readonly timeoutMs: number;
  readonly failuresBeforeHold: number;
  readonly successesBeforeResume: number;
  /** Probe link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata services live there). */
  readonly allowLinkLocal: boolean;
}

export interface HealthState {
  readonly healthy: boolean;
  /** Failed probes in a row (while healthy). */
  readonly failures: number;
  /** Good probes in a row (while unhealthy). */
  readonly successes: number;
}

export const HEALTHY: HealthState = Object.freeze({ healthy: true, failures: 0, successes: 0 });

/** The state after one probe; `changed` when it crosses a threshold. */
export function nextHealth(s: HealthState, ok: boolean, t: Pick<OriginHealthSettings, 'failuresBeforeHold' | 'successesBeforeResume'>): HealthState & { changed: boolean } {
  if (s.healthy) {
    if (ok) return { healthy: true, failures: 0, successes: 0, changed: false };
    const failures = s.failures + 1;
    if (failures >= t.failuresBeforeHold) return { healthy: false, failures: 0, successes: 0, changed: true };
    return { healthy: true, failures, successes: 0, changed: false };
  }
  if (!ok) return { healthy: false, failures: 0, successes: 0, changed: false };
  const successes = s.successes + 1;
  if (successes >= t.successesBeforeResume) return { healthy: true, failures: 0, successes: 0, changed: true };
  return { healthy: false, failures: 0, successes, changed: false };
}

/** True for link-local addresses: IPv4 169.254.0.0/16 (AWS, GCP, Azure metadata), IPv6 fe80::/10, and fd00:ec2::254 (AWS IPv6 metadata). */
export function isLinkLocal(address: string): boolean {
  const v = isIP(address);
  if (v === 4) return address.startsWith('169.254.');
  if (v === 6) {
    const a = address.toLowerCase();
    if (a.startsWith('::ffff:')) return isLinkLocal(a.slice(7));
    return /^fe[89ab][0-9a-f]?:/.test(a) || a === 'fd00:ec2::254';
  }
  return false;
}

/**
 * Refuses a probe URL that is not http(s) or whose host resolves to a link-local address,
 * unless allowed. The URL is set by an operator, but an admin token must not become a way to
 * read a cloud metadata service from inside the network (SSRF). Checked before every probe,
 * so a DNS name later pointed at a metadata address is refused too.
 */
export async function checkProbeUrl(raw: string, allowLinkLocal: boolean, resolve: (host: string) => Promise<string[]> = defaultResolve): Promise<URL> {
  const u = new URL(raw);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`probe URL must be http(s), not ${u.protocol}`);
  if (allowLinkLocal) return u;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (host.toLowerCase() === 'metadata.google.internal') throw new Error('probe URL is a cloud metadata service');
  const addresses = isIP(host) ? [host] : await resolve(host);
  for (const a of addresses) if (isLinkLocal(a)) throw new Error(`probe URL resolves to the link-local address ${a} (set allowLinkLocal to probe it)`);
  return u;
}

async function defaultResolve(host: string): Promise<string[]> {
  return (await lookup(host, { all: true })).map((r) => r.address);
}

/** One probe: healthy iff a 2xx answer arrives within the timeout; redirects are not followed (a 3xx fails). */
export async function probeOnce(s: OriginHealthSettings, fetchImpl: typeof fetch = fetch): Promise<{ ok: boolean; detail: string }> {
  try {
    const u = await checkProbeUrl(s.url, s.allowLinkLocal);
    const r = await fetchImpl(u, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(s.timeoutMs), headers: { 'User-Agent': 'waitroom-origin-probe' } });
    // The body is not needed: release the socket at once.
    await r.body?.cancel().catch(() => undefined);
    return { ok: r.status >= 200 && r.status < 300, detail: `HTTP ${r.status}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).name === 'TimeoutError' ? `no answer within ${s.timeoutMs} ms` : (err as Error).message };
  }
}

export interface OriginProbeOptions {
  /** The queue's probe settings now (they change live); null for none. */
  readonly settings: () => OriginHealthSettings | null;
  /** Only the queue's leader probes: one prober per queue, whichever replica leads. */
  readonly isLeader: () => boolean;
  /** Holds (true) or resumes (false) admissions in the store. */
  readonly setHold: (hold: boolean, source: 'probe', detail: string) => Promise<void>;
  /** Whether admissions are held now (from the replica's copy of the state). */
  readonly held: () => boolean;
  readonly logger: Logger;
}

/**
 * The leader's prober of one queue's origin. Sleeps while there is no probe URL or this
 * replica does not lead, with no timer at all: the queue's runtime calls wake() when its
 * settings change and when this replica becomes its leader (1,000 queues without a probe
 * made 1,000 empty checks a second when the sleeping prober looked every second). A new
 * leader starts from the stored hold (so a hold survives a leader change) and needs the
 * configured successes to resume.
 */
export class OriginProbe {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** undefined while not probing: the next probe starts from the stored hold. */
  private state: HealthState | undefined;
  private running: Promise<void> | undefined;
  /** wake() came while a check was running. */
  private woken = false;

  constructor(private readonly o: OriginProbeOptions) {}

  start(): void {
    this.wake();
  }

  /**
   * There may be something to probe now (the settings changed, or this replica became the
   * leader): a sleeping prober checks at once. A probe already due or in flight goes on.
   */
  wake(): void {
    if (this.running !== undefined) this.woken = true;
    else if (this.timer === undefined) this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.tick().finally(() => {
        this.running = undefined;
        // Woken while that check ran: it may have read the settings or the lease too early.
        if (this.woken) {
          this.woken = false;
          this.wake();
        }
      });
    }, ms);
  }

  private async tick(): Promise<void> {
    const s = this.o.settings();
    if (!s || !this.o.isLeader()) {
      // Not probing: start afresh from the stored hold when probing (again). No timer until
      // wake(): a settings change or a new leadership is what can change this answer.
      this.state = undefined;
      return;
    }
    this.state ??= this.o.held() ? { healthy: false, failures: 0, successes: 0 } : HEALTHY;
    const r = await probeOnce(s);
    if (this.closed) return;
    const next = nextHealth(this.state, r.ok, s);
    this.state = next;
    // Only a crossing is written: a hold the site pushed stands until the probe's verdict changes.
    if (next.changed) {
      try {
        await this.o.setHold(!next.healthy, 'probe', r.detail);
      } catch (err) {
        this.o.logger.warn({ err: (err as Error).message }, 'could not record the origin health; retrying at the next probe');
      }
    }
    this.schedule(s.intervalSeconds * 1000);
  }

  /** Stops probing; waits for a probe in flight. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }
}
