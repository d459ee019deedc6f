import { createHash } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type Store } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { TooManyRequestsError } from '../errors/errors';
import { clientIp } from '../http/client-ip';
import type { LimitsProvider } from './queue-limits';

/** Sends one raw command to the queue's Redis (node-redis sendCommand). */
export type SendCommand = (args: string[]) => Promise<unknown>;

/**
 * rate-limit-redis loads its scripts with SCRIPT LOAD when the limiter is built
 * and keeps the promise: if Redis is not reachable at that moment (a replica
 * starts before Redis), every later call would await the same rejection and the
 * limit would never apply. SCRIPT LOAD's answer is the script's SHA-1, which is
 * known without Redis; when the load fails, that is returned instead, the first
 * EVALSHA then gets NOSCRIPT, and the store reloads the script by itself.
 */
function resilientSend(send: SendCommand) {
  return async (...args: string[]): Promise<RedisReply> => {
    if (args[0] === 'SCRIPT' && args[1] === 'LOAD' && typeof args[2] === 'string') {
      try {
        return (await send(args)) as RedisReply;
      } catch {
        return createHash('sha1').update(args[2]).digest('hex');
      }
    }
    return (await send(args)) as RedisReply;
  };
}

export interface ClaimLimiterOptions {
  readonly queueId: string;
  readonly limits: LimitsProvider;
  readonly trustProxy: number;
  /** The queue's Redis; absent with the embedded store (express-rate-limit's memory store is used). */
  readonly sendCommand?: SendCommand;
  /** Key prefix (internal/store/keys.ts claimLimitPrefix). */
  readonly prefix: string;
  readonly onRefused?: () => void;
}

/**
 * The per-client limit on POST /claim: express-rate-limit with rate-limit-redis,
 * a fixed one-minute window per client address shared by every replica. /claim
 * runs on Express already and needs no burst shape (a visitor claims once per
 * ticket), so the middleware fits here as it is; /join, on the node:http hot
 * path, uses rate-limit.lua instead (docs/admission.md explains the choice).
 * A Redis failure lets the request through: /claim itself then answers 503.
 */
export function claimLimiter(o: ClaimLimiterOptions): RequestHandler | undefined {
  const perMinute = o.limits.limitsFor(o.queueId).claimPerMinute;
  if (perMinute <= 0) return undefined;
  const store: Store | undefined = o.sendCommand ? new RedisStore({ sendCommand: resilientSend(o.sendCommand), prefix: o.prefix }) : undefined;
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: 'claim',
    passOnStoreError: true,
    ...(store ? { store } : {}),
    // The address as the rest of the service computes it (TRUST_PROXY hops); IPv6 clients by /56.
    keyGenerator: (req: Request) => ipKeyGenerator(clientIp(req, o.trustProxy)),
    handler: (_req, res, next, options) => {
      o.onRefused?.();
      const reset = Number(res.getHeader('Retry-After') ?? Math.ceil(options.windowMs / 1000));
      // The error carries Retry-After; one copy only.
      res.removeHeader('Retry-After');
      next(new TooManyRequestsError(`too many claims from this address: at most ${perMinute} per minute`, reset, 'too_many_requests'));
    },
  });
}
