import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { StoredStreamEntry } from '../store/store';

/**
 * The events waitroom tells the rest of the business (docs/events.md), as zod
 * schemas: the same schemas describe them in the OpenAPI document's `webhooks`
 * section (./event-openapi.ts) and check every entry read back from a stream
 * (parseEventEntry), so the documentation cannot drift from what the Lua
 * scripts write. The scripts write the bodies; these schemas are their contract.
 */
extendZodWithOpenApi(z);

const QueueId = z.string().min(1).max(64).openapi({ description: 'The queue the event belongs to', example: 'spring-sale' });
const Ms = z.number().int().nonnegative();
const QueueState = z.enum(['open', 'paused', 'passthrough', 'closed']);

export const QueueCreatedBody = z
  .object({
    queue: QueueId,
    version: Ms.openapi({ description: 'The queue config version (its ETag)' }),
    state: QueueState,
    windowSize: z.number().int().positive(),
    intervalMs: z.number().int().positive(),
    activeWindowCount: z.number().int().positive(),
    opensAtMs: Ms.openapi({ description: 'Opening time, ms since the Unix epoch; 0 = none' }),
    epoch: z.string(),
    counter: Ms,
    windowEnd: Ms,
    settings: z.record(z.string(), z.unknown()).openapi({ description: 'The descriptive settings: name, message, targetUrl, branding, createdAt, updatedAt' }),
  })
  .openapi('QueueCreatedEvent');

export const QueueUpdatedBody = z
  .object({
    queue: QueueId,
    version: Ms.openapi({ description: 'The new config version (its ETag)' }),
    changes: z
      .record(z.string(), z.object({ before: z.unknown(), after: z.unknown() }))
      .openapi({ description: 'Every setting the update changed, with its value before and after' }),
  })
  .openapi('QueueUpdatedEvent');

export const QueueStateChangedBody = z
  .object({ queue: QueueId, from: QueueState, to: QueueState, counter: Ms, windowEnd: Ms })
  .openapi('QueueStateChangedEvent');

export const QueueDeletedBody = z.object({ queue: QueueId, version: Ms }).openapi('QueueDeletedEvent');

export const WindowAdvancedBody = z
  .object({
    queue: QueueId,
    epoch: z.string().openapi({ description: 'Ticket numbers are unique within an epoch' }),
    fromTicket: z.number().int().positive().openapi({ description: 'First ticket admitted by this advance' }),
    toTicket: z.number().int().positive().openapi({ description: 'Last ticket admitted (the new window end); tickets not yet issued are admitted when issued' }),
    counter: Ms.openapi({ description: 'Tickets issued when the window moved' }),
    windowSize: z.number().int().positive(),
    lagMs: Ms.openapi({ description: 'How late the advance ran against its due time' }),
    reason: z.literal('passthrough').optional().openapi({ description: 'Present when the window moved because the queue entered or left passthrough' }),
    skipped: z
      .number()
      .int()
      .min(0)
      .optional()
      .openapi({ description: 'Tickets in fromTicket..toTicket passed over because their visitors had left (compensateNoShows); the others were admitted' }),
  })
  .openapi('WindowAdvancedEvent');

const LengthAlertFields = {
  queue: QueueId,
  epoch: z.string(),
  waiting: Ms.openapi({ description: 'Visitors waiting after the change: counter − windowEnd (0 in passthrough)' }),
  threshold: Ms.openapi({ description: 'The alert fires when waiting reaches this (the queue setting lengthAlert.threshold; 0 once the alert was removed)' }),
  clearBelow: Ms.openapi({ description: 'The alert re-arms when waiting falls below this (lengthAlert.clearBelow)' }),
  counter: Ms,
  windowEnd: Ms,
};

export const QueueLengthExceededBody = z.object(LengthAlertFields).openapi('QueueLengthExceededEvent');

export const QueueLengthRecoveredBody = z
  .object({
    ...LengthAlertFields,
    reason: z.enum(['below_clear', 'alert_removed', 'new_epoch']).openapi({
      description: 'below_clear: the line drained below clearBelow (or a raised clearBelow is above it); alert_removed: lengthAlert was set to null; new_epoch: the queue started a new epoch',
    }),
  })
  .openapi('QueueLengthRecoveredEvent');

export const QueueEpochStartedBody = z
  .object({
    queue: QueueId,
    epoch: z.string().openapi({ description: 'The new epoch: ticket numbers restart at 1' }),
    previousEpoch: z.string().nullable().openapi({ description: 'The epoch replaced; null when the state was missing' }),
    reason: z.enum(['missing', 'retired_epoch', 'window_above_counter', 'counter_below_seen', 'window_below_seen', 'version_below_seen']).openapi({
      description: 'missing: the queue state was gone (Redis lost it); the others: the state went backwards (docs/system.md, "A store that goes backwards")',
    }),
    version: Ms.openapi({ description: 'The new state version' }),
    state: QueueState,
    counter: Ms,
    windowEnd: Ms,
  })
  .openapi('QueueEpochStartedEvent');

export const QueueOriginHoldBody = z
  .object({
    queue: QueueId,
    epoch: z.string(),
    source: z.enum(['probe', 'site']).openapi({ description: "probe: the leader's probe of originHealth.url; site: the site's own POST …/health" }),
    reason: z.string().max(500).openapi({ description: "Why, for people: the probe's last error, or the reason the site gave" }),
    counter: Ms,
    windowEnd: Ms,
  })
  .openapi('QueueOriginHoldEvent');

export const PassClaimedBody = z
  .object({ queue: QueueId, jti: z.string(), epoch: z.string(), ticket: z.number().int().positive(), expMs: Ms })
  .openapi('PassClaimedEvent');

export const PassEndedBody = z
  .object({
    queue: QueueId,
    jti: z.string(),
    expMs: Ms,
    reason: z.enum(['reported', 'timed_out']).openapi({ description: 'reported: the site called /done; timed_out: the pass expired unreported' }),
  })
  .openapi('PassEndedEvent');

export const WebhookDisabledBody = z
  .object({
    queue: QueueId.openapi({ description: "The queue whose dispatcher disabled the endpoint (the event is in that queue's stream)" }),
    webhook: z.string().openapi({ description: 'The endpoint id (wh_...)' }),
    url: z.string(),
    failingSinceMs: Ms.openapi({ description: 'First failed attempt since the last success' }),
    reason: z.string(),
  })
  .openapi('WebhookDisabledEvent');

/** Every event type and the schema of its body. */
export const EVENT_BODIES = {
  'queue.created': QueueCreatedBody,
  'queue.updated': QueueUpdatedBody,
  'queue.state_changed': QueueStateChangedBody,
  'queue.deleted': QueueDeletedBody,
  'queue.epoch_started': QueueEpochStartedBody,
  'queue.length_exceeded': QueueLengthExceededBody,
  'queue.length_recovered': QueueLengthRecoveredBody,
  'queue.origin_held': QueueOriginHoldBody,
  'queue.origin_recovered': QueueOriginHoldBody,
  'window.advanced': WindowAdvancedBody,
  'pass.claimed': PassClaimedBody,
  'pass.completed': PassEndedBody,
  'pass.abandoned': PassEndedBody,
  'pass.revoked': PassEndedBody,
  'webhook.disabled': WebhookDisabledBody,
} as const;

export type EventType = keyof typeof EVENT_BODIES;
export const EVENT_TYPES = Object.keys(EVENT_BODIES) as EventType[];

export const EVENT_DESCRIPTIONS: Readonly<Record<EventType, string>> = {
  'queue.created': 'A queue was created (admin API or the default queue at first start).',
  'queue.updated': 'A queue setting changed; `changes` lists each changed setting before and after.',
  'queue.state_changed': 'A queue moved between open, paused, passthrough and closed (follows its queue.updated).',
  'queue.deleted': 'A queue was deleted; the last event of its stream.',
  'queue.epoch_started':
    'The queue state was reset to a new epoch (it was missing, or the store went backwards): tickets of the previous epoch are void and numbering restarts at 1.',
  'queue.length_exceeded':
    'The waiting count reached the queue\'s lengthAlert.threshold. Fired once: not again until queue.length_recovered re-arms it (hysteresis).',
  'queue.length_recovered':
    'The length alert re-armed: the waiting count fell below lengthAlert.clearBelow, the alert was removed, or a new epoch started. Follows each queue.length_exceeded once.',
  'queue.origin_held': 'The site is unhealthy (its probe failed, or it said so): advances are held, visitors keep their place and see an unknown ETA.',
  'queue.origin_recovered': 'The site is healthy again: admissions resume at the next ticker check.',
  'window.advanced': 'The window moved: tickets fromTicket..toTicket are admitted. One event per advance, however many tickets.',
  'pass.claimed': 'An admitted visitor claimed their pass.',
  'pass.completed': 'The protected site reported a visit completed.',
  'pass.abandoned': 'A visit ended without completion: reported abandoned, or the pass expired unreported (reason timed_out).',
  'pass.revoked': 'A pass reported done is refused by the gate from now on.',
  'webhook.disabled': 'A webhook endpoint failed every delivery for WEBHOOK_DISABLE_AFTER_MS and was disabled; PATCH it with enabled=true to resume.',
};

/** The envelope every event is delivered in (and read back from a stream as). */
export interface WaitroomEvent<T extends EventType = EventType> {
  /** `evt_<queue>_<stream entry id>`: unique, and ordered within a queue. */
  readonly id: string;
  readonly type: T;
  /** ISO 8601, from the store's clock (Redis TIME) when the change was made. */
  readonly time: string;
  readonly data: z.infer<(typeof EVENT_BODIES)[T]>;
}

export function eventEnvelopeSchema<T extends EventType>(type: T) {
  return z
    .object({
      id: z.string().openapi({ example: 'evt_spring-sale_1732441234567-0', description: 'Unique; the same on every delivery attempt (webhook-id)' }),
      type: z.literal(type),
      time: z.string().openapi({ format: 'date-time' }),
      data: EVENT_BODIES[type],
    })
    .openapi(`Event_${type.replace('.', '_')}`);
}

export const eventId = (queueId: string, entryId: string) => `evt_${queueId}_${entryId}`;

/** A stream entry as an event; throws when the entry is not one of ours (checked against its schema). */
export function parseEventEntry(queueId: string, e: StoredStreamEntry): WaitroomEvent {
  const type = e.fields.type;
  if (!type || !(type in EVENT_BODIES)) throw new Error(`event stream entry ${e.id} has an unknown type ${JSON.stringify(type)}`);
  const t = type as EventType;
  const ms = Number(e.fields.time);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new Error(`event stream entry ${e.id} has an invalid time`);
  const data = EVENT_BODIES[t].parse(JSON.parse(e.fields.body ?? 'null'));
  return { id: eventId(queueId, e.id), type: t, time: new Date(ms).toISOString(), data } as WaitroomEvent;
}
