import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { InvalidRequestError } from '../errors/errors';
import { QUEUE_MODES, type QueueSettings } from '../queue/queue-state';

/*
 * The one schema of a queue's settings. The admin API validates every body with
 * it, and the OpenAPI document (internal/http/openapi.ts) is generated from it
 * by @asteasolutions/zod-to-openapi, so the two cannot drift apart. zod was
 * chosen over ajv + hand-written JSON Schema because the TypeScript types, the
 * validation and the document then come from one declaration (docs/system.md,
 * "Many queues").
 */
extendZodWithOpenApi(z);

export { z };

/** Queue ids are part of Redis keys ({hash tag}), URLs and tokens: short, lower-case, no braces or colons. */
export const QUEUE_ID_PATTERN = /^[a-z0-9-]{1,64}$/;

export const QueueIdSchema = z
  .string()
  .regex(QUEUE_ID_PATTERN, '1-64 characters of a-z, 0-9 and -')
  .openapi({ example: 'spring-sale', description: 'Queue id: 1-64 characters of a-z 0-9 -' });

const HexColor = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'a #rrggbb colour');

const HttpUrl = z
  .string()
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'an absolute http(s) URL');

/** An absolute http(s) URL or a path on this server; never javascript: or data:. */
const LogoUrl = z.union([z.literal(''), z.string().regex(/^\/(?!\/)\S*$/, 'a path starting with /').max(2048), HttpUrl]);

export const OriginHealthSchema = z
  .object({
    url: HttpUrl.openapi({ description: 'The URL the leader probes: healthy iff it answers 2xx within timeoutMs (redirects are not followed)' }),
    intervalSeconds: z.number().min(0.2).max(3600).default(5),
    timeoutMs: z.number().int().min(50).max(30_000).default(2000),
    failuresBeforeHold: z.number().int().min(1).max(100).default(3),
    successesBeforeResume: z.number().int().min(1).max(100).default(2),
    allowLinkLocal: z.boolean().default(false).openapi({ description: 'Allow a URL that resolves to a link-local address (169.254.0.0/16, fe80::/10: where cloud metadata services live)' }),
  })
  .strict()
  .openapi('OriginHealth', { description: 'Hold admissions while the site is unhealthy' });
export type OriginHealth = z.infer<typeof OriginHealthSchema>;

export const LengthAlertSchema = z
  .object({
    threshold: z.number().int().min(2).max(1_000_000_000).openapi({ description: 'Fire queue.length_exceeded once when the waiting count reaches this' }),
    clearBelow: z.number().int().min(1).max(999_999_999).openapi({ description: 'Re-arm (queue.length_recovered) once the waiting count falls below this; less than threshold' }),
  })
  .strict()
  .refine((a) => a.clearBelow < a.threshold, { message: 'clearBelow must be less than threshold', path: ['clearBelow'] })
  .openapi('LengthAlert', {
    description:
      'Queue length alert with hysteresis (docs/events.md): fires once at threshold, re-arms only below clearBelow, so a line hovering around the threshold does not flap',
  });
export type LengthAlert = z.infer<typeof LengthAlertSchema>;

export const BrandingSchema = z
  .object({
    title: z.string().max(200).openapi({ description: "Page title; empty shows the localised default (\"Waiting room\")" }),
    message: z.string().max(1000).openapi({ description: 'Text under the title; empty shows the localised default' }),
    logoUrl: LogoUrl,
    primaryColor: HexColor,
    backgroundColor: HexColor,
  })
  .strict()
  .openapi('Branding');
export type Branding = z.infer<typeof BrandingSchema>;

export const QueueStateSchema = z.enum(QUEUE_MODES).openapi('QueueState', {
  description:
    'open: admits by rate; paused: joins accepted, no advance (ETA null); passthrough: every join admitted at once; closed: no new joins (410)',
});

/** The settings an operator may set; every field bounded. */
const settingsShape = {
  name: z.string().min(1).max(200),
  windowSize: z.number().int().min(1).max(1_000_000).openapi({ description: 'S: tickets admitted per advance' }),
  intervalSeconds: z.number().min(0.05).max(86_400).openapi({ description: 'I: seconds between advances' }),
  activeWindowCount: z.number().int().min(1).max(1000).openapi({ description: 'K: windows a ticket stays active for' }),
  state: QueueStateSchema,
  opensAt: z.iso
    .datetime({ offset: true })
    .nullable()
    .openapi({ description: 'A pre-queue: joins wait until this time, when the first batch is admitted; null for none' }),
  message: z.string().max(1000).nullable().openapi({ description: 'Broadcast message shown to every visitor of this queue, live' }),
  targetUrl: z.union([z.literal(''), HttpUrl]).openapi({ description: 'Where admitted visitors are sent' }),
  branding: BrandingSchema,
  maxActive: z
    .number()
    .int()
    .min(1)
    .max(1_000_000_000)
    .nullable()
    .openapi({
      description:
        'Capacity cap: at most this many admitted visitors on the site at once (claimed passes not done or expired, plus admitted tickets whose claim window is open); an advance admits at most min(S, maxActive − occupancy). null for none. With a cap the ETA is an estimate (etaKind).',
    }),
  originHealth: OriginHealthSchema.nullable().openapi({ description: 'Probe of the site: admissions are held while it fails; null for none' }),
  lengthAlert: LengthAlertSchema.nullable().openapi({ description: 'Queue length alert (events queue.length_exceeded / queue.length_recovered); null for none' }),
  compensateNoShows: z.boolean().openapi({
    description:
      'Skip visitors who left the line (POST /leave, the page closed): each advance admits S visitors still present, so the site gets the planned number; W then moves up to 8·S tickets. Waiting visitors get an upper-bound ETA (etaKind upperBound). Default false.',
  }),
  noShowGraceSeconds: z
    .number()
    .int()
    .min(60)
    .max(3600)
    .nullable()
    .openapi({
      description:
        'With compensateNoShows: a waiting visitor no replica heard from (no poll, no open event stream) for this long is marked gone, as if they had left (Cloudflare holds a place 5 minutes). Default 300; null: only explicit leaves count.',
    }),
};

export const CreateQueueBodySchema = z
  .object({
    id: QueueIdSchema,
    name: settingsShape.name.optional(),
    windowSize: settingsShape.windowSize.optional(),
    intervalSeconds: settingsShape.intervalSeconds.optional(),
    activeWindowCount: settingsShape.activeWindowCount.optional(),
    state: settingsShape.state.optional(),
    opensAt: settingsShape.opensAt.optional(),
    message: settingsShape.message.optional(),
    targetUrl: settingsShape.targetUrl.optional(),
    branding: BrandingSchema.partial().strict().optional(),
    maxActive: settingsShape.maxActive.optional(),
    originHealth: settingsShape.originHealth.optional(),
    lengthAlert: settingsShape.lengthAlert.optional(),
    compensateNoShows: settingsShape.compensateNoShows.optional(),
    noShowGraceSeconds: settingsShape.noShowGraceSeconds.optional(),
  })
  .strict()
  .openapi('CreateQueue', { description: 'Fields left out take the deployment defaults (the environment settings).' });
export type CreateQueueBody = z.infer<typeof CreateQueueBodySchema>;

export const PatchQueueBodySchema = z
  .object({
    name: settingsShape.name.optional(),
    windowSize: settingsShape.windowSize.optional(),
    intervalSeconds: settingsShape.intervalSeconds.optional(),
    activeWindowCount: settingsShape.activeWindowCount.optional(),
    state: settingsShape.state.optional(),
    opensAt: settingsShape.opensAt.optional(),
    message: settingsShape.message.optional(),
    targetUrl: settingsShape.targetUrl.optional(),
    branding: BrandingSchema.partial().strict().optional(),
    maxActive: settingsShape.maxActive.optional(),
    originHealth: settingsShape.originHealth.optional(),
    lengthAlert: settingsShape.lengthAlert.optional(),
    compensateNoShows: settingsShape.compensateNoShows.optional(),
    noShowGraceSeconds: settingsShape.noShowGraceSeconds.optional(),
  })
  .strict()
  .openapi('PatchQueue', { description: 'Any subset of the settings; fields left out keep their value.' });
export type PatchQueueBody = z.infer<typeof PatchQueueBodySchema>;

/** What the config hash stores as JSON: the settings the scripts do not need. */
export const QueueDocSchema = z
  .object({
    name: settingsShape.name,
    message: settingsShape.message,
    targetUrl: settingsShape.targetUrl,
    branding: BrandingSchema,
    // Absent in a doc written before origin probes existed: none.
    originHealth: settingsShape.originHealth.optional(),
    // Absent in a doc written before length alerts existed: none. The scripts read their copy
    // in the state hash (written by the same script as the doc).
    lengthAlert: settingsShape.lengthAlert.optional(),
    // Absent in a doc written before no-show compensation existed: off. The leader passes it to
    // advance-window.lua (as originHealth drives its probe); every replica reads it for the ETA kind.
    compensateNoShows: settingsShape.compensateNoShows.optional(),
    // Absent: the default, 300 s.
    noShowGraceSeconds: settingsShape.noShowGraceSeconds.optional(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .strict();
export type QueueDoc = z.infer<typeof QueueDocSchema>;

/** A queue's full settings as the API shows them. */
export const QueueSettingsSchema = z
  .object({
    id: QueueIdSchema,
    ...settingsShape,
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    version: z.number().int().openapi({ description: 'Bumped by every change; the ETag' }),
  })
  .strict()
  .openapi('QueueSettings');
export type QueueSettingsView = z.infer<typeof QueueSettingsSchema>;

/** POST /admin/api/v1/queues/{id}/health: the site reports its own health (with its site key). */
export const QueueHealthBodySchema = z
  .object({
    healthy: z.boolean().openapi({ description: 'false holds admissions ("the site is busy, your place is kept"); true resumes them' }),
    reason: z.string().max(200).optional().openapi({ description: 'Logged with the change' }),
  })
  .strict()
  .openapi('QueueHealth');

/** Live figures of a queue, from the answering replica's cached state. */
export const QueueLiveSchema = z
  .object({
    epoch: z.string(),
    counter: z.number().int().openapi({ description: 'Highest ticket issued (as of the replica\'s last read)' }),
    windowEnd: z.number().int(),
    waiting: z.number().int(),
    nextTickInMs: z.number().int().nullable().openapi({ description: 'null while the queue is not open' }),
    admittedLastMinute: z.number().int().openapi({ description: 'Tickets the window moved over in the last 60 s, seen by this replica' }),
    lastTicketEtaSeconds: z.number().int().nullable().openapi({ description: 'ETA a visitor joining now would be given; null while paused or closed' }),
    leader: z.string().nullable(),
    stateAgeMs: z.number().int().nullable(),
  })
  .strict()
  .openapi('QueueLive');

// Spread, not .extend(): the generator would write allOf [QueueSettings, { live }], and
// QueueSettings' additionalProperties: false would then refuse `live`.
export const QueueViewSchema = z
  .object({ ...QueueSettingsSchema.shape, live: QueueLiveSchema.nullable() })
  .strict()
  .openapi('Queue');
export type QueueView = z.infer<typeof QueueViewSchema>;

export interface QueueDefaults {
  readonly windowSize: number;
  readonly intervalMs: number;
  readonly activeWindowCount: number;
  readonly targetUrl: string;
  readonly branding: Branding;
}

/**
 * Validates `input` against `schema`; throws 400 invalid_request listing every
 * failing field (unknown fields included).
 */
export function parseOrThrow<T>(schema: z.ZodType<T>, input: unknown, what = 'request body'): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const fields: Array<{ path: string; message: string }> = [];
  for (const issue of r.error.issues) {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) fields.push({ path: base ? `${base}.${k}` : k, message: 'unknown field' });
    } else {
      fields.push({ path: base || '(body)', message: issue.message });
    }
  }
  throw new InvalidRequestError(`invalid ${what}: ${fields.map((f) => `${f.path}: ${f.message}`).join('; ')}`, fields);
}

/** Store-clock ms of an ISO time, 0 for none. */
export function opensAtMs(opensAt: string | null | undefined): number {
  return opensAt ? Date.parse(opensAt) : 0;
}

/** The rate settings the scripts keep in the queue state. */
export function rateSettings(
  v: Pick<QueueSettingsView, 'windowSize' | 'intervalSeconds' | 'activeWindowCount' | 'state' | 'opensAt'> & { maxActive?: number | null; lengthAlert?: LengthAlert | null },
): QueueSettings {
  return {
    ...lengthAlertSettings(v.lengthAlert),
    windowSize: v.windowSize,
    intervalMs: Math.round(v.intervalSeconds * 1000),
    activeWindowCount: v.activeWindowCount,
    mode: v.state,
    opensAtMs: opensAtMs(v.opensAt),
    maxActive: v.maxActive ?? 0,
  };
}

/** The length alert as the scripts keep it in the queue state: 0 0 for none. */
export function lengthAlertSettings(a: LengthAlert | null | undefined): { lengthAlertThreshold: number; lengthAlertClearBelow: number } {
  return { lengthAlertThreshold: a?.threshold ?? 0, lengthAlertClearBelow: a?.clearBelow ?? 0 };
}
