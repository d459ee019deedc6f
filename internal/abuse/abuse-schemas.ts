import { z } from '../queues/queue-settings';

/*
 * GET /challenge's body: an ALTCHA v2 challenge as altcha-lib creates it. The
 * library owns the shape, so the schema lists the fields it documents and, not
 * being strict, lets further ones through; challenge.ts types create() with it, so a change of the
 * library's type that this schema does not allow fails the typecheck.
 */
export const ChallengeBodySchema = z
  .object({
    parameters: z
      .object({
        algorithm: z.string().openapi({ example: 'PBKDF2/SHA-256' }),
        nonce: z.string(),
        salt: z.string(),
        cost: z.number().int(),
        keyLength: z.number().int(),
        keyPrefix: z.string(),
        keySignature: z.string().optional(),
        memoryCost: z.number().optional(),
        parallelism: z.number().optional(),
        expiresAt: z.number().int().optional().openapi({ description: 'Unix seconds' }),
        data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
      }),
    signature: z.string().optional(),
    codeChallenge: z.object({ image: z.string(), audio: z.string().optional(), length: z.number().optional() }).optional(),
  })
  .openapi('Challenge', { description: 'Solve it (the altcha widget on the waiting page does) and send the solution as the X-Waitroom-Challenge header of POST /join' });
export type ChallengeBody = z.infer<typeof ChallengeBodySchema>;
