import type { NextFunction, Request, Response } from 'express';
import { ipKeyGenerator, rateLimit, type RateLimitRequestHandler } from 'express-rate-limit';
import { TooManyRequestsError } from '../errors/errors';

const MESSAGE = 'too many failed admin token attempts; wait and retry';

/**
 * A lockout that counts refused admin tokens only.
 *
 * express-rate-limit's `skipSuccessfulRequests` counts every request when it
 * arrives and takes a success back when its response ends, so a burst of valid
 * requests in flight at once counts as failures: 50 concurrent queue creations
 * (a script, or the console loading its panels) crossed the 20-attempt limit and
 * locked the operator out with their own valid token. Here a request is counted
 * only after its token was refused, and an address already over the limit is
 * refused before its token is looked at (so a correct guess does not get through
 * a lockout either). The counter is the library's, per replica, in memory.
 */
export class FailedAttempts {
  private readonly limiter: RateLimitRequestHandler;

  private readonly keyOf: (req: Request) => string;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    /** The caller's address; IPv6 addresses count per /56, as one client can hold a whole prefix. */
    addressOf: (req: Request) => string,
  ) {
    this.keyOf = (req) => ipKeyGenerator(addressOf(req));
    this.limiter = rateLimit({
      windowMs,
      limit,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      keyGenerator: this.keyOf,
      handler: (_req, _res, next) => next(new TooManyRequestsError(MESSAGE, windowMs / 1000)),
    });
  }

  /** Middleware: `429 rate_limited` while the caller's address is over the limit. */
  readonly guard = (req: Request, _res: Response, next: NextFunction): void => {
    Promise.resolve(this.limiter.getKey(this.keyOf(req))).then(
      (info) => {
        if (!info || info.totalHits < this.limit) return next();
        const left = info.resetTime ? Math.ceil((info.resetTime.getTime() - Date.now()) / 1000) : this.windowMs / 1000;
        next(new TooManyRequestsError(MESSAGE, Math.max(1, left)));
      },
      (err: unknown) => next(err),
    );
  };

  /** Counts one refused token, then passes `err` on (or the 429, when this attempt crossed the limit). */
  refused(req: Request, res: Response, next: NextFunction, err: unknown): void {
    void this.limiter(req, res, () => next(err));
  }
}
