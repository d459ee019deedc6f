import type { ServerProcess } from './server-process';

export interface JoinRecord {
  readonly atMs: number;
  readonly status: number;
  readonly epoch?: string;
  readonly ticket?: number;
  readonly code?: string;
  readonly retryAfter?: string | null;
}

/** The payload of a ticket JWT (the test does not need to check its signature). */
export function ticketClaims(token: string): { epoch: string; ticket: number } {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  return { epoch: String(payload.epoch), ticket: Number(payload.ticket) };
}

/** One POST /join, recorded; a network error counts as status 0. */
export async function joinOnce(server: ServerProcess): Promise<JoinRecord> {
  const atMs = Date.now();
  try {
    const r = await server.fetch('/join', { method: 'POST', signal: AbortSignal.timeout(5000) });
    const body = (await r.json().catch(() => ({}))) as { token?: string; ticket?: number; error?: { code?: string } };
    if (r.status === 201 && body.token) {
      const c = ticketClaims(body.token);
      return { atMs, status: r.status, epoch: c.epoch, ticket: body.ticket ?? c.ticket };
    }
    return { atMs, status: r.status, code: body.error?.code, retryAfter: r.headers.get('retry-after') };
  } catch {
    return { atMs, status: 0 };
  }
}

/**
 * A bounded join load: `workers` loops, each joining every `pauseMs`, until
 * `stop()` says so, `maxJoins` were sent, or `maxMs` passed.
 */
export async function joinLoad(
  server: ServerProcess,
  opts: { workers: number; pauseMs: number; maxJoins: number; maxMs: number; stop: (records: readonly JoinRecord[]) => boolean },
): Promise<JoinRecord[]> {
  const records: JoinRecord[] = [];
  const deadline = Date.now() + opts.maxMs;
  let sent = 0;
  const worker = async () => {
    while (sent < opts.maxJoins && Date.now() < deadline && !opts.stop(records)) {
      sent++;
      records.push(await joinOnce(server));
      await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  };
  await Promise.all(Array.from({ length: opts.workers }, worker));
  return records.sort((a, b) => a.atMs - b.atMs);
}

/** Every successful join's (epoch, ticket), and the ones seen twice. */
export function duplicateTickets(records: readonly JoinRecord[]): string[] {
  const seen = new Set<string>();
  const dups: string[] = [];
  for (const r of records) {
    if (r.status !== 201) continue;
    const k = `${r.epoch}:${r.ticket}`;
    if (seen.has(k)) dups.push(k);
    seen.add(k);
  }
  return dups;
}
