import { QueueIdSchema, z } from '../queues/queue-settings';

/*
 * The admission routes' bodies, declared once: the code builds its answers with
 * these types (z.infer) and the OpenAPI document is generated from the same
 * declarations. The request bodies keep their own checks in AdmissionService
 * (their error codes, e.g. invalid_outcome, are part of the API); the schemas
 * here describe exactly what those checks accept.
 */

export const ClaimRequestSchema = z
  .object({
    returnTo: z
      .string()
      .optional()
      .openapi({ description: 'Where the visitor was going (the gate\'s redirect names it); honoured only on the target\'s origin. Also accepted as ?return_to=' }),
  })
  .openapi('ClaimRequest');

export const ClaimBodySchema = z
  .object({
    pass: z.string().openapi({ description: 'The pass (ES256/EdDSA JWT), also set as the pass cookie' }),
    expiresAt: z.number().int().openapi({ description: "The pass's exp, seconds since the Unix epoch" }),
    redirectUrl: z.string().openapi({ description: "Where to send the visitor (the queue's target without tokens); '' if none" }),
  })
  .strict()
  .openapi('Claim');
export type ClaimBody = z.infer<typeof ClaimBodySchema>;

export const DoneRequestSchema = z
  .object({
    jti: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).optional().openapi({ description: 'The pass id (the gate\'s X-Waitroom-Pass-Id header)' }),
    pass: z.string().optional().openapi({ description: 'The pass itself, instead of jti' }),
    outcome: z.enum(['completed', 'abandoned']).optional().openapi({ description: 'Default completed' }),
    queue: QueueIdSchema.optional().openapi({ description: 'The pass\'s queue; default: the one the pass names, else the default queue' }),
  })
  .openapi('DoneRequest');

export const DoneBodySchema = z
  .object({
    jti: z.string(),
    result: z.enum(['done', 'already_done']),
    outcome: z.enum(['completed', 'abandoned']).optional(),
  })
  .strict()
  .openapi('Done');
export type DoneResult = z.infer<typeof DoneBodySchema>;

const count = z.number().int().min(0);
export const PassStatsBodySchema = z
  .object({
    queue: QueueIdSchema,
    claimed: count.openapi({ description: 'Passes issued (one per claimed ticket)' }),
    completed: count.openapi({ description: 'Passes the site reported done with outcome "completed"' }),
    abandoned: count.openapi({ description: 'Passes reported "abandoned", plus those that expired unreported' }),
    timedOut: count.openapi({ description: 'The part of abandoned that expired without a report' }),
    active: count.openapi({ description: 'Passes issued, unexpired and not done' }),
  })
  .strict()
  .openapi('PassStats');
export type PassStatsBody = z.infer<typeof PassStatsBodySchema>;

export const JwkSchema = z
  .object({
    kty: z.string(),
    crv: z.string(),
    x: z.string(),
    y: z.string().optional(),
    kid: z.string(),
    alg: z.enum(['ES256', 'EdDSA']),
    use: z.literal('sig'),
  })
  .strict()
  .openapi('Jwk');

export const JwksSchema = z.object({ keys: z.array(JwkSchema) }).strict().openapi('Jwks', { description: 'The public keys passes are signed with (RFC 7517)' });
export type Jwks = z.infer<typeof JwksSchema>;
