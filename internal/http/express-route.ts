import type { NextFunction, Request, Response } from 'express';
import { sendResult, type HttpResult } from './respond';

/** Mounts a framework-neutral endpoint in Express: its result is written, its error goes to the one error middleware. */
export function expressRoute(fn: (req: Request) => HttpResult | Promise<HttpResult>) {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      sendResult(res, await fn(req));
    } catch (err) {
      next(err);
    }
  };
}
