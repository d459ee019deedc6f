import type express from 'express';
import type { Request } from 'express';
import { byAttention, attentionReasons } from '../analytics/attention';
import { perMinute, queueLength, resample, waitStats } from '../analytics/flow-stats';
import { BadRequestError } from '../errors/errors';
import { expressRoute, otherMethods } from '../http/express-route';
import type { HttpResult } from '../http/respond';
import { viewTicket, waitingCount } from '../queue/arithmetic';
import type { QueueSnapshot } from '../queue/queue-state';
import { applySettingsChange } from '../queue/settings-change';
import type { QueueRegistry } from '../queues/queue-registry';
import type { QueueRuntime } from '../queues/queue-runtime';
import { PatchQueueBodySchema, QueueIdSchema, parseOrThrow, rateSettings } from '../queues/queue-settings';
import { FLOW_RETENTION_MS, type FlowResolution } from '../store/flow-store';
import {
  StatsQuerySchema,
  TicketLookupQuerySchema,
  TicketParamsSchema,
  type QueueStats,
  type RatePreview,
  type Summary,
  type TicketLookup,
} from './console-schemas';

export interface ConsoleApiDeps {
  readonly registry: QueueRegistry;
}

/** Default range of the stats route: the last 15 minutes. */
const DEFAULT_RANGE_MS = 15 * 60_000;
/** Points of the series when no step is given; and the most a caller may ask for. */
const DEFAULT_POINTS = 300;
const MAX_POINTS = 3600;

/** The step for a range: about DEFAULT_POINTS points, whole seconds, whole minutes past an hour. */
export function defaultStep(rangeMs: number): number {
  const raw = Math.max(1000, rangeMs / DEFAULT_POINTS);
  return raw >= 60_000 ? Math.ceil(raw / 60_000) * 60_000 : Math.ceil(raw / 1000) * 1000;
}

/** State as the console shows it: a queue with a future opening time is "scheduled". */
function displayState(s: QueueSnapshot, nowMs: number): Summary['queues'][number]['displayState'] {
  return s.opensAtMs > nowMs && s.mode !== 'closed' ? 'scheduled' : s.mode;
}

/**
 * The console's API routes, mounted on the admin API's router behind its token
 * check (internal/admin/admin-api.ts): the flow statistics of a queue, the
 * ticket lookup, the summary across queues and the preview of a rate change.
 * Every figure of a queue comes from the answering replica's cached state, its
 * pass store and its flow samples; none is estimated.
 */
export function mountConsoleApi(r: express.Router, base: string, d: ConsoleApiDeps): void {
  const runtime = (req: Request): QueueRuntime => d.registry.require(parseOrThrow(QueueIdSchema, req.params.id, 'queue id'));

  r.route(`${base}/summary`).get(
    expressRoute((): HttpResult => {
      const ranked = [];
      for (const q of d.registry.list()) {
        const s = q.cache.peek();
        if (!s) continue;
        const now = q.cache.storeNow();
        const row = {
          id: q.id,
          name: q.doc.name,
          state: s.mode,
          displayState: displayState(s, now),
          opensAt: q.view().opensAt,
          message: q.doc.message,
          counter: s.counter,
          windowEnd: s.windowEnd,
          waiting: waitingCount(s.counter, s.windowEnd),
          admittedLastMinute: q.admittedLastMinute(),
          activePasses: q.revocations.lastStats()?.active ?? null,
          lastTicketEtaSeconds: viewTicket(s.counter + 1, s, now).etaSeconds,
          windowSize: s.windowSize,
          intervalSeconds: s.intervalMs / 1000,
          activeWindowCount: s.activeWindowCount,
          stateFresh: q.cache.isFresh(),
          scheduled: displayState(s, now) === 'scheduled',
        };
        ranked.push({ ...row, attention: attentionReasons(row) });
      }
      const rows: Summary['queues'] = byAttention(ranked).map(({ stateFresh: _fresh, scheduled: _scheduled, ...row }) => row);
      const byState = { open: 0, paused: 0, passthrough: 0, closed: 0, scheduled: 0 };
      for (const q of rows) byState[q.displayState]++;
      const sum = (f: (q: Summary['queues'][number]) => number) => rows.reduce((n, q) => n + f(q), 0);
      const body: Summary = {
        totals: {
          queues: rows.length,
          byState,
          waiting: sum((q) => q.waiting),
          issued: sum((q) => q.counter),
          admittedLastMinute: sum((q) => q.admittedLastMinute),
          activePasses: sum((q) => q.activePasses ?? 0),
          needAttention: rows.filter((q) => q.attention.length > 0).length,
        },
        queues: rows,
      };
      return { status: 200, headers: { 'Cache-Control': 'no-store' }, body };
    }),
  ).all(otherMethods('GET'));

  r.route(`${base}/queues/:id/stats`).get(
    expressRoute(async (req): Promise<HttpResult> => {
      const q = runtime(req);
      const query = parseOrThrow(StatsQuerySchema, req.query, 'query');
      const now = Math.floor(q.cache.storeNow());
      const to = query.to ?? now;
      const from = query.from ?? to - DEFAULT_RANGE_MS;
      if (from >= to) throw new BadRequestError('from must be before to', 'invalid_request');
      if (to - from > FLOW_RETENTION_MS.minute) throw new BadRequestError('the range can be at most 7 days (the samples kept)', 'invalid_request');
      const step = query.step ?? defaultStep(to - from);
      if ((to - from) / step > MAX_POINTS) throw new BadRequestError(`at most ${MAX_POINTS} points: make step larger`, 'invalid_request');
      // By the second while the range lies in the last hour; by the minute before that.
      const resolution: FlowResolution = from >= now - FLOW_RETENTION_MS.second ? 'second' : 'minute';
      // Read back to the start of what is kept, so that visitors admitted in the range have their joins.
      const samples = await q.flowStore.read(resolution, Math.min(from, now - FLOW_RETENTION_MS[resolution]), to);
      // The counters of GET /passes/stats (a store error is a 503, never a silent gap).
      const passes = (await q.passStore.sweep(false)).stats;
      const body: QueueStats = {
        queue: q.id,
        from,
        to,
        step,
        resolution,
        series: resample(samples, from, to, step) as QueueStats['series'],
        timeInQueue: waitStats(samples, from, to),
        queueLength: queueLength(samples, from, to),
        perMinute: perMinute(samples, from, to),
        passes,
      };
      return { status: 200, headers: { 'Cache-Control': 'no-store' }, body };
    }),
  ).all(otherMethods('GET'));

  r.route(`${base}/queues/:id/tickets/:n`).get(
    expressRoute(async (req): Promise<HttpResult> => {
      const q = runtime(req);
      const { n } = parseOrThrow(TicketParamsSchema, req.params, 'path');
      const { epoch: asked } = parseOrThrow(TicketLookupQuerySchema, req.query, 'query');
      const s = q.cache.current();
      const now = q.cache.storeNow();
      const epoch = asked ?? s.epoch;
      const current = epoch === s.epoch;
      const issued = n <= s.counter;
      const v = viewTicket(n, s, now);
      const rec = await q.passStore.lookup(epoch, n);
      const passState = !rec.claimed ? 'none' : rec.revoked ? 'done' : rec.live && (rec.expMs === null || rec.expMs > Date.now()) ? 'active' : 'expired';
      const body: TicketLookup = {
        queue: q.id,
        ticket: n,
        epoch,
        currentEpoch: current,
        // A ticket of an earlier epoch cannot be honoured any more (the visitor gets 409 queue_reset).
        status: !current ? 'expired' : issued ? v.status : 'not_issued',
        position: current && issued ? v.position : 0,
        ahead: current && issued ? v.ahead : 0,
        etaSeconds: current && issued ? v.etaSeconds : null,
        activeForSeconds: current && issued ? v.activeForSeconds : 0,
        pass: {
          claimed: rec.claimed,
          state: passState,
          jti: rec.jti,
          expiresAt: rec.expMs === null ? null : new Date(rec.expMs).toISOString(),
        },
      };
      return { status: 200, headers: { 'Cache-Control': 'no-store' }, body };
    }),
  ).all(otherMethods('GET'));

  r.route(`${base}/queues/:id/preview`).post(
    expressRoute((req): HttpResult => {
      const q = runtime(req);
      const patch = parseOrThrow(PatchQueueBodySchema, req.body ?? {});
      const s = q.cache.current();
      const now = q.cache.storeNow();
      const next = applySettingsChange(s, rateSettings({ ...q.view(), ...patch }), now);
      const eta = (w: QueueSnapshot) => ({
        newestTicket: s.counter > w.windowEnd ? viewTicket(s.counter, w, now).etaSeconds : 0,
        joiningNow: viewTicket(s.counter + 1, w, now).etaSeconds,
      });
      const body: RatePreview = { queue: q.id, newestTicket: s.counter, waiting: waitingCount(s.counter, s.windowEnd), before: eta(s), after: eta(next) };
      return { status: 200, headers: { 'Cache-Control': 'no-store' }, body };
    }),
  ).all(otherMethods('POST'));
}
