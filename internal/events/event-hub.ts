import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { TokenError, TooManyRequestsError, UnavailableError, toErrorBody, toWaitroomError, type WaitroomError } from '../errors/errors';
import { statusJson } from '../http/api';
import { clientIp } from '../http/client-ip';
import type { Metrics } from '../observability/metrics';
import type { QueueSnapshot } from '../queue/queue-state';
import type { QueueStateCache } from '../queue/state-cache';
import type { QueueService } from '../service/queue-service';
import type { TicketClaims } from '../tokens/ticket-token';
import { HEARTBEAT_FRAME, eventFrame, isFinalId, retryFrame, stateId } from './sse-frame';
import { streamToken } from './ticket-source';

export interface EventHubOptions {
  readonly service: QueueService;
  readonly cache: QueueStateCache;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly heartbeatMs: number;
  readonly retryMs: number;
  readonly maxStreamsPerIp: number;
  readonly maxStreams: number;
  /** Proxies in front that append to X-Forwarded-For (TRUST_PROXY). */
  readonly trustProxy: number;
  /** True once shutdown began: new streams are refused. */
  readonly draining: () => boolean;
  /** Streams open on the whole replica (every queue's hub), for maxStreams; default this hub's. */
  readonly openStreams?: () => number;
  /** True while the replica is short of memory (internal/health/memory-pressure.ts): new streams are refused. */
  readonly memoryPressure?: () => boolean;
  /** Local clock in ms, injectable for tests. */
  readonly now?: () => number;
}

/** One open stream. Kept small: 10,000 of them live on one replica. */
interface Stream {
  readonly res: ServerResponse;
  readonly claims: TicketClaims;
  readonly ip: string;
  /** Id of the last state sent (or the client's Last-Event-ID). */
  lastId: string;
  closed: boolean;
}

function ticketKey(c: TicketClaims): string {
  return `${c.epoch}:${c.ticket}`;
}

/**
 * A slow client that has this much unsent data is not reading; it is cut and
 * will reconnect. One event is ~250 bytes, so this is ~250 unread events.
 */
const MAX_BUFFERED_BYTES = 64 * 1024;

/** Streams written per event-loop turn during a fan-out, so /status requests interleave. */
const FANOUT_SLICE = 2000;

/**
 * The SSE hub of one replica. Every open /events stream is registered here,
 * grouped by ticket. The hub listens to the replica's QueueStateCache (kept
 * fresh by Redis pub/sub): each accepted change is computed once per ticket
 * (pure arithmetic, no Redis call) and the one serialized frame is written to
 * that ticket's streams. A stream gets an event only when its ticket's state
 * changed; `active` and `expired` are final and followed by `end`.
 */
export class EventHub {
  /** Streams grouped by "epoch:ticket": a ticket number is only unique within an epoch. */
  private readonly byTicket = new Map<string, Set<Stream>>();
  private readonly perIp = new Map<string, number>();
  private count = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Bumped per fan-out; a sliced fan-out stops when a newer one started. */
  private pass = 0;
  private closed = false;
  private unreported = 0;
  private readonly now: () => number;

  constructor(private readonly o: EventHubOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    if (this.unsubscribe || this.closed) return;
    this.unsubscribe = this.o.cache.onChange((s, prev) => this.onChange(s, prev));
    this.heartbeat = setInterval(() => this.beat(), this.o.heartbeatMs);
  }

  /** Open streams on this replica. */
  size(): number {
    return this.count;
  }

  /** Distinct tickets and client addresses tracked (both 0 once every stream closed). */
  trackedKeys(): { tickets: number; ips: number } {
    return { tickets: this.byTicket.size, ips: this.perIp.size };
  }

  /**
   * Opens a stream on `res`, or throws a typed error before writing anything
   * (the caller answers it as JSON, exactly like /status would).
   */
  open(req: IncomingMessage, res: ServerResponse): void {
    if (this.closed || this.o.draining()) throw new UnavailableError('shutting_down', 'this replica is shutting down; reconnect', 1);
    const claims = this.o.service.verifyTicket(streamToken(req, this.o.service.queueId));
    // Same checks and errors as /status (queue_reset, not_ready, state_stale) before the stream opens.
    const status = this.o.service.statusOf(claims);
    const ip = clientIp(req, this.o.trustProxy);
    if ((this.o.openStreams?.() ?? this.count) >= this.o.maxStreams) {
      throw new TooManyRequestsError(`this replica serves its maximum of ${this.o.maxStreams} event streams; poll /status instead`, 5);
    }
    if (this.o.memoryPressure?.()) {
      throw new TooManyRequestsError('this replica is short of memory and opens no more event streams; poll /status instead', 5);
    }
    const mine = this.perIp.get(ip) ?? 0;
    if (mine >= this.o.maxStreamsPerIp) {
      throw new TooManyRequestsError(`at most ${this.o.maxStreamsPerIp} event streams per client; poll /status instead`, 5);
    }

    const snap = this.o.cache.current();
    const id = stateId(snap.epoch, status.status, status.windowEnd, `${status.state}-${this.o.service.configVersion()}`);
    const lastEventId = req.headers['last-event-id'];
    if (typeof lastEventId === 'string' && lastEventId === id && isFinalId(id)) {
      // The client already saw this final state: 204 tells EventSource to stop reconnecting.
      res.writeHead(204, { 'Cache-Control': 'no-store' });
      res.end();
      return;
    }

    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store, no-transform',
      Connection: 'keep-alive',
      // nginx buffers proxied responses by default, which would hold events back.
      'X-Accel-Buffering': 'no',
      'X-Content-Type-Options': 'nosniff',
    });
    req.socket.setTimeout(0);
    res.write(retryFrame(this.o.retryMs));
    const stream: Stream = { res, claims, ip, lastId: typeof lastEventId === 'string' ? lastEventId : '', closed: false };
    if (stream.lastId === id) {
      // Reconnected with the current state already in hand: nothing to resend until it changes.
      res.write(HEARTBEAT_FRAME);
    } else if (this.send(stream, id, statusJson(status), status.status !== 'waiting')) {
      this.report();
      return;
    }
    this.add(stream);
    res.once('close', () => this.remove(stream));
    this.report();
  }

  private report(): void {
    if (this.unreported === 0) return;
    this.o.metrics?.sseEvents.inc({ event: 'status' }, this.unreported);
    this.unreported = 0;
  }

  /** Writes one status event; ends the stream after a final state. Returns true if the stream ended. */
  private send(st: Stream, id: string, data: string, final: boolean): boolean {
    st.lastId = id;
    st.res.write(eventFrame('status', data, id));
    // Counted here and added to the metric once per fan-out: a labelled inc per stream costs ~1 µs.
    this.unreported++;
    if (final) {
      this.finish(st, eventFrame('end', '{}'));
      return true;
    }
    if (st.res.writableLength > MAX_BUFFERED_BYTES) {
      this.o.logger.debug({ buffered: st.res.writableLength }, 'event stream client is not reading; closing it');
      st.res.destroy();
      return true;
    }
    return false;
  }

  /** Ends a stream after a last frame (`end`, or a `problem` and then `end`). */
  private finish(st: Stream, ...frames: string[]): void {
    for (const f of frames) st.res.write(f);
    this.o.metrics?.sseEvents.inc({ event: 'end' });
    st.res.end();
    this.remove(st);
  }

  private fail(st: Stream, err: WaitroomError): void {
    this.o.metrics?.sseEvents.inc({ event: 'problem' });
    this.finish(st, eventFrame('problem', JSON.stringify(toErrorBody(err))), eventFrame('end', '{}'));
  }

  /** Tickets of `epoch` with an open stream here (the presence sweep counts them as heard from). */
  openTickets(epoch: string): number[] {
    const out: number[] = [];
    const prefix = `${epoch}:`;
    for (const key of this.byTicket.keys()) if (key.startsWith(prefix)) out.push(Number(key.slice(prefix.length)));
    return out;
  }

  private add(st: Stream): void {
    const key = ticketKey(st.claims);
    let set = this.byTicket.get(key);
    if (!set) this.byTicket.set(key, (set = new Set()));
    set.add(st);
    this.perIp.set(st.ip, (this.perIp.get(st.ip) ?? 0) + 1);
    this.count++;
    this.o.metrics?.sseStreams.set(this.count);
  }

  private remove(st: Stream): void {
    if (st.closed) return;
    st.closed = true;
    const key = ticketKey(st.claims);
    const set = this.byTicket.get(key);
    if (!set?.delete(st)) return;
    if (set.size === 0) this.byTicket.delete(key);
    const n = (this.perIp.get(st.ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(st.ip);
    else this.perIp.set(st.ip, n);
    this.count--;
    this.o.metrics?.sseStreams.set(this.count);
  }

  private onChange(s: QueueSnapshot, prev: QueueSnapshot | undefined): void {
    // A join only raises the counter: no ticket's place changes, so nothing is sent.
    if (prev && prev.epoch === s.epoch && prev.windowEnd === s.windowEnd && prev.nextDueMs === s.nextDueMs && prev.mode === s.mode) return;
    if (this.count === 0) return;
    void this.fanOut(++this.pass);
  }

  /**
   * Computes each ticket's view once and writes it to that ticket's streams,
   * in slices of FANOUT_SLICE streams per event-loop turn. Resolves when done
   * (or superseded by a newer change, which covers every stream again).
   */
  async fanOut(pass = ++this.pass): Promise<void> {
    const started = process.hrtime.bigint();
    const groups = [...this.byTicket.values()];
    let written = 0;
    for (const set of groups) {
      if (pass !== this.pass || this.closed) return;
      this.writeGroup(set);
      written += set.size;
      if (written >= FANOUT_SLICE) {
        written = 0;
        await new Promise<void>((r) => setImmediate(r));
      }
    }
    this.o.metrics?.sseFanout.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.report();
  }

  private writeGroup(set: Set<Stream>): void {
    const first = set.values().next().value;
    if (!first) return;
    const claims = first.claims;
    let frameData: string | undefined;
    let id = '';
    let final = false;
    let problem: WaitroomError | undefined;
    if (this.now() >= claims.exp * 1000) {
      problem = new TokenError('token_expired', 'the ticket has expired; join again');
    } else {
      try {
        const st = this.o.service.statusOf(claims);
        id = stateId(claims.epoch, st.status, st.windowEnd, `${st.state}-${this.o.service.configVersion()}`);
        final = st.status !== 'waiting';
        // Built lazily: most groups are one stream, and a reconnected one may already have it.
        for (const stream of [...set]) {
          if (stream.lastId === id) continue;
          frameData ??= statusJson(st);
          this.send(stream, id, frameData, final);
        }
        return;
      } catch (err) {
        const e = toWaitroomError(err);
        // Stale or missing state is temporary: keep the streams and send the next change.
        if (e instanceof UnavailableError) return;
        problem = e;
      }
    }
    for (const stream of [...set]) this.fail(stream, problem);
  }

  private beat(): void {
    for (const set of this.byTicket.values()) for (const st of set) st.res.write(HEARTBEAT_FRAME);
  }

  /**
   * Ends every stream (clients reconnect after `retry`, to another replica
   * once this one is out of the load balancer) and stops listening. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const set of [...this.byTicket.values()]) {
      for (const st of [...set]) {
        st.res.end();
        this.remove(st);
      }
    }
  }
}
