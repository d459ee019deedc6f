import type { NextFunction, Request, Response } from 'express';
import { MethodNotAllowedError } from '../errors/errors';
import { sendResult, type HttpResult } from './respond';

/** Mounts a framework-neutral endpoint in Express: its result is written, its error goes to the one error middleware. */
export function expressRoute(fn: (req: Request, res: Response) => HttpResult | Promise<HttpResult>) {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      sendResult(res, await fn(req, res));
    } catch (err) {
      next(err);
    }
  };
}

/** The Allow header of a route with these methods: Express answers HEAD from GET, and OPTIONS is answered here. */
export function allowHeader(methods: readonly string[]): string {
  const all = [...methods];
  if (all.includes('GET') && !all.includes('HEAD')) all.push('HEAD');
  all.push('OPTIONS');
  return all.join(', ');
}

/**
 * The last handler of every route (`router.route(path).get(...).all(otherMethods('GET'))`):
 * any other method gets 405 method_not_allowed with Allow (RFC 9110 15.5.6),
 * never a 404 that suggests the path does not exist; OPTIONS gets 204 with Allow.
 */
export function otherMethods(...methods: string[]) {
  const allow = allowHeader(methods);
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'OPTIONS') {
      res.setHeader('Allow', allow);
      res.status(204).end();
      return;
    }
    next(new MethodNotAllowedError(allow));
  };
}
