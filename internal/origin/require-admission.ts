import type { IncomingHttpHeaders } from 'node:http';
import { parse as parseCookies } from 'cookie';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';

/** What the middleware puts on `res.locals.admission` for an admitted visitor. */
export interface Admission {
  readonly queue: string;
  readonly ticket: number;
  readonly passId: string;
  /** Seconds since the Unix epoch. */
  readonly expiresAt: number;
}

export interface RequireAdmissionOptions {
  /** The waiting room's key set, e.g. https://queue.example.com/.well-known/jwks.json */
  readonly jwksUrl: string;
  /** This site, as configured in the waiting room's PASS_AUDIENCE. */
  readonly audience: string;
  /** The waiting room's PASS_ISSUER; checked when given. */
  readonly issuer?: string;
  /** Cookie carrying the pass (default waitroom_pass). */
  readonly cookieName?: string;
  /** Header carrying the pass for API clients (default x-waitroom-pass). */
  readonly headerName?: string;
  /** Where refused page requests are redirected, with ?return_to=; omit to answer 401 JSON to everyone. */
  readonly waitingRoomUrl?: string;
  /** How long fetched keys are trusted before a refetch (default 10 min). */
  readonly jwksCacheMaxAgeMs?: number;
  /** Shortest gap between refetches triggered by unknown kids (default 30 s), so forged kids cannot flood the waiting room. */
  readonly jwksCooldownMs?: number;
  /** Tolerated clock difference for nbf/exp (default 5 s). */
  readonly clockToleranceSeconds?: number;
}

function first(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function wantsPage(req: Request): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (/xmlhttprequest/i.test(first(req.headers, 'x-requested-with') ?? '')) return false;
  const mode = first(req.headers, 'sec-fetch-mode');
  if (mode && mode !== 'navigate') return false;
  return /text\/html/i.test(first(req.headers, 'accept') ?? '');
}

/**
 * Express middleware for a Node origin behind a waiting room: admits a request
 * only with a valid pass (signature against the waiting room's JWKS, iss, aud,
 * nbf, exp). Keys are fetched once and cached by jose's remote key set, which
 * refetches when a pass names a kid it does not know (a rotation), at most once
 * per cooldown. It checks nothing else over the network: a pass the site marked
 * done stays valid here until it expires (use the waiting room's /verify gate
 * in the proxy when early revocation matters).
 *
 * Refused page navigations are redirected to the waiting room; other requests
 * get `401 {"error":{"code","message"}}` like the waiting room's own API.
 */
export function requireAdmission(o: RequireAdmissionOptions): RequestHandler {
  const cookieName = o.cookieName ?? 'waitroom_pass';
  const headerName = (o.headerName ?? 'x-waitroom-pass').toLowerCase();
  const jwks = createRemoteJWKSet(new URL(o.jwksUrl), {
    cacheMaxAge: o.jwksCacheMaxAgeMs ?? 10 * 60_000,
    cooldownDuration: o.jwksCooldownMs ?? 30_000,
  });

  const refuse = (req: Request, res: Response, code: string, message: string) => {
    if (o.waitingRoomUrl && wantsPage(req)) {
      const target = new URL(o.waitingRoomUrl);
      target.searchParams.set('return_to', `${req.protocol}://${req.get('host') ?? ''}${req.originalUrl}`);
      res.redirect(302, target.toString());
      return;
    }
    res.status(401).set({ 'Cache-Control': 'no-store', 'WWW-Authenticate': 'Bearer realm="waitroom-pass"' }).json({ error: { code, message } });
  };

  return (req: Request, res: Response, next: NextFunction) => {
    let token = first(req.headers, headerName);
    if (!token) {
      const cookies = first(req.headers, 'cookie');
      if (cookies) token = parseCookies(cookies)[cookieName];
    }
    if (!token) {
      refuse(req, res, 'pass_missing', 'no pass: wait in the queue to be admitted');
      return;
    }
    jwtVerify(token, jwks, {
      audience: o.audience,
      ...(o.issuer ? { issuer: o.issuer } : {}),
      algorithms: ['ES256', 'EdDSA'],
      requiredClaims: ['exp', 'nbf', 'jti', 'sub'],
      clockTolerance: o.clockToleranceSeconds ?? 5,
    }).then(
      ({ payload }) => {
        const sub = String(payload.sub);
        const i = sub.lastIndexOf(':');
        const admission: Admission = {
          queue: sub.slice(0, i),
          ticket: Number(sub.slice(i + 1)),
          passId: String(payload.jti),
          expiresAt: Number(payload.exp),
        };
        res.locals.admission = admission;
        next();
      },
      (err: unknown) => {
        if (err instanceof joseErrors.JWTExpired) return refuse(req, res, 'pass_expired', 'the pass has expired; join the queue again');
        if (err instanceof joseErrors.JWKSNoMatchingKey) return refuse(req, res, 'pass_unknown_key', 'the pass was signed by a key the waiting room does not publish');
        if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'aud') return refuse(req, res, 'pass_wrong_audience', 'the pass is for another site');
        if (err instanceof joseErrors.JOSEError) return refuse(req, res, 'pass_invalid', 'the pass is malformed or its signature is not valid');
        // The key set could not be fetched: a server-side problem, not the visitor's.
        next(err);
      },
    );
  };
}
