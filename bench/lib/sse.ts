import { request, type ClientRequest } from 'node:http';
import { rssBytes, waitFor } from './procs';

export interface SseFigures {
  readonly streams: number;
  readonly failed: number;
  /** Growth of the server's resident memory per open stream, in bytes. */
  readonly rssPerStreamBytes: number;
  /** From the first stream receiving the advance's status event to the last one, in ms. */
  readonly pushSpreadMs: number;
  /** Streams that received the advance. */
  readonly pushed: number;
}

interface Stream {
  req: ClientRequest;
  firstAt?: number;
  windowEnd: number;
  pushedAt?: number;
}

/**
 * Opens `tokens.length` SSE streams on GET /events, then measures the
 * server's memory per open stream and how long one window advance takes to
 * reach every stream. The client runs on the load core; its own parsing is
 * part of the spread, so the figure is an upper bound for the server alone.
 */
export async function measureSse(base: string, tokens: readonly string[], serverPid: number, intervalMs: number): Promise<SseFigures> {
  const streams: Stream[] = [];
  let failed = 0;
  /** The highest windowEnd any stream saw before the measured advance. */
  let pushTarget: number | undefined;
  const rssBefore = rssBytes(serverPid);

  const open = (token: string) =>
    new Promise<void>((resolve) => {
      const s: Stream = { req: undefined as unknown as ClientRequest, windowEnd: -1 };
      const req = request(`${base}/events`, { agent: false, headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' } }, (res) => {
        if (res.statusCode !== 200) {
          failed++;
          res.resume();
          resolve();
          return;
        }
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          buf += chunk;
          let end: number;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            let event = 'message';
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trim();
            }
            if (event !== 'status') continue;
            const w = (JSON.parse(data) as { windowEnd: number }).windowEnd;
            const now = performance.now();
            if (s.firstAt === undefined) {
              s.firstAt = now;
              resolve();
            } else if (s.pushedAt === undefined && pushTarget !== undefined && w > pushTarget) {
              s.pushedAt = now;
            }
            s.windowEnd = Math.max(s.windowEnd, w);
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', () => {
        if (s.firstAt === undefined) failed++;
        resolve();
      });
      req.end();
      s.req = req;
      streams.push(s);
    });

  try {
    // Open in chunks of 500 so the accept queue never overflows.
    for (let i = 0; i < tokens.length; i += 500) await Promise.all(tokens.slice(i, i + 500).map(open));
    const live = streams.filter((s) => s.firstAt !== undefined);
    await new Promise((r) => setTimeout(r, 500));
    const rssAfter = rssBytes(serverPid);
    pushTarget = Math.max(...live.map((s) => s.windowEnd));
    await waitFor(
      async () => (live.every((s) => s.pushedAt !== undefined) ? true : undefined),
      3 * intervalMs + 20_000,
      'one window advance to reach every stream',
    ).catch(() => undefined);
    const pushed = live.filter((s) => s.pushedAt !== undefined).map((s) => s.pushedAt!);
    return {
      streams: live.length,
      failed,
      rssPerStreamBytes: live.length ? (rssAfter - rssBefore) / live.length : NaN,
      pushSpreadMs: pushed.length ? Math.max(...pushed) - Math.min(...pushed) : NaN,
      pushed: pushed.length,
    };
  } finally {
    for (const s of streams) s.req.destroy();
  }
}

export interface HeldStreams {
  /** Streams answered 200 and not closed since. */
  open(): number;
  /** Streams answered with anything but 200 (429 at SSE_MAX_STREAMS), or whose connection failed. */
  readonly refused: number;
  /** Streams the server or the network closed after a 200 (not counting `close()`). */
  closedByServer(): number;
  close(): void;
}

/**
 * Opens one GET /events stream per token and keeps them open, reading and
 * discarding what arrives (heartbeats, status events), until `close()`. For
 * memory figures under load: the streams hold what a full replica holds.
 */
export async function holdStreams(base: string, tokens: readonly string[]): Promise<HeldStreams> {
  const reqs: ClientRequest[] = [];
  let live = 0;
  let refused = 0;
  let closedByServer = 0;
  let closing = false;
  const open = (token: string) =>
    new Promise<void>((resolve) => {
      let answered = false;
      const req = request(`${base}/events`, { agent: false, headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' } }, (res) => {
        answered = true;
        if (res.statusCode !== 200) {
          refused++;
          res.resume();
          resolve();
          return;
        }
        live++;
        res.on('data', () => undefined);
        res.on('close', () => {
          live--;
          if (!closing) closedByServer++;
        });
        res.on('error', () => undefined);
        resolve();
      });
      req.on('error', () => {
        if (!answered && !closing) refused++;
        resolve();
      });
      req.end();
      reqs.push(req);
    });
  // In chunks of 500 so the accept queue never overflows.
  for (let i = 0; i < tokens.length; i += 500) await Promise.all(tokens.slice(i, i + 500).map(open));
  return {
    open: () => live,
    get refused() {
      return refused;
    },
    closedByServer: () => closedByServer,
    close() {
      closing = true;
      for (const r of reqs) r.destroy();
    },
  };
}
