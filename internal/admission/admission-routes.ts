import type { IncomingMessage } from 'node:http';
import { serialize as serializeCookie } from 'cookie';
import { Router, type Request } from 'express';
import { BadRequestError } from '../errors/errors';
import type { HotRoute } from '../http/hot-path';
import { sendResult, type HttpResult } from '../http/respond';
import { bearerToken } from '../tokens/ticket-token';
import type { AdmissionService } from './admission-service';
import type { KeyRing } from './key-ring';
import type { RevocationFeed } from './revocation-feed';
import type { SiteKeys } from './site-auth';
import { expressRoute, otherMethods } from '../http/express-route';
import { contentEtag } from '../web/static-assets';
import type { ClaimBody, Jwks, PassStatsBody } from './admission-schemas';

export interface AdmissionRoutesDeps {
  readonly service: AdmissionService;
  readonly ring: KeyRing;
  readonly siteKeys: SiteKeys;
  readonly gate: (req: IncomingMessage) => HttpResult | Promise<HttpResult>;
  readonly revocationFeed: RevocationFeed;
  readonly queueId: string;
  readonly cookie: { readonly name: string; readonly domain: string; readonly secure: boolean };
  readonly jwksMaxAgeSeconds: number;
  /** The network a claimed pass is bound to, or undefined (PASS_BIND_PREFIX off). */
  readonly claimNetwork?: (req: IncomingMessage) => string | undefined;
  readonly now?: () => number;
}


function body(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw new BadRequestError('the body must be a JSON object', 'invalid_body');
  return b as Record<string, unknown>;
}

/** The gate on the node:http hot path (app.ts's buildHandler extraHotRoutes): no Express cost. */
export function admissionHotRoutes(d: Pick<AdmissionRoutesDeps, 'gate'>): Record<string, HotRoute> {
  return { 'GET /verify': d.gate, 'HEAD /verify': d.gate };
}

/**
 * The admission routes for Express: POST /claim, the JWKS, the gate (also
 * here, so the Express app alone is complete, and for Envoy's /verify/<path>),
 * the site's POST /passes/done and GET /passes/stats, and the signed list of
 * revoked passes for edge gates (GET /passes/revoked).
 */
export function admissionRouter(d: AdmissionRoutesDeps): Router {
  const now = d.now ?? Date.now;
  const r = Router();

  r.route('/claim').post(
    expressRoute(async (req) => {
      const b = body(req);
      const q = req.query.return_to;
      const returnTo = typeof b.returnTo === 'string' ? b.returnTo : typeof q === 'string' ? q : undefined;
      const c = await d.service.claim(bearerToken(req.headers.authorization), returnTo, d.claimNetwork?.(req));
      const cookie = serializeCookie(d.cookie.name, c.pass, {
        path: '/',
        httpOnly: true,
        secure: d.cookie.secure,
        // Lax: sent on the top-level navigation from the waiting page to the site.
        sameSite: 'lax',
        maxAge: Math.max(0, c.expiresAt - Math.floor(now() / 1000)),
        ...(d.cookie.domain ? { domain: d.cookie.domain } : {}),
      });
      const claimed: ClaimBody = { pass: c.pass, expiresAt: c.expiresAt, redirectUrl: c.redirectUrl };
      return { status: 200, headers: { 'Set-Cookie': cookie }, body: claimed };
    }),
  ).all(otherMethods('POST'));

  r.route('/.well-known/jwks.json')
    .get((req, res) => {
      const jwks: Jwks = d.ring.jwks();
      const json = JSON.stringify(jwks);
      // The set changes only when keys rotate: an ETag lets origins (jose's
      // createRemoteJWKSet, proxies) revalidate with a 304 instead of a download.
      const etag = contentEtag(json);
      res.setHeader('ETag', etag);
      if (req.fresh) {
        res.status(304).setHeader('Cache-Control', `public, max-age=${d.jwksMaxAgeSeconds}`);
        res.end();
        return;
      }
      sendResult(res, {
        status: 200,
        // Origins cache the set; they refetch early when they meet an unknown kid.
        headers: { 'Cache-Control': `public, max-age=${d.jwksMaxAgeSeconds}`, 'Content-Type': 'application/jwk-set+json; charset=utf-8' },
        body: JSON.parse(json),
      });
    })
    .all(otherMethods('GET'));

  const gate = expressRoute((req) => d.gate(req));
  // GET and HEAD only on /verify itself: a forward-auth subrequest never has a body.
  r.route('/verify').get(gate).head(gate).all(otherMethods('GET', 'HEAD'));
  r.all('/verify/{*path}', gate);

  // Public but signed (revocation-feed.ts): edge gates poll it; a CDN may absorb the polling.
  r.route('/passes/revoked')
    .get(async (req, res, next) => {
      try {
        const token = await d.revocationFeed.current(typeof req.query.queue === 'string' ? req.query.queue : d.queueId);
        res.set({ 'Cache-Control': 'public, max-age=1', 'Content-Type': 'application/jwt' }).send(token);
      } catch (err) {
        next(err);
      }
    })
    .all(otherMethods('GET'));

  r.route('/passes/done')
    .post(
      expressRoute(async (req) => {
        d.siteKeys.check(req.headers.authorization);
        return { status: 200, body: await d.service.done(body(req)) };
      }),
    )
    .all(otherMethods('POST'));
  r.route('/passes/stats')
    .get(
      expressRoute(async (req) => {
        d.siteKeys.check(req.headers.authorization);
        const q = typeof req.query.queue === 'string' ? req.query.queue : d.queueId;
        const stats: PassStatsBody = { queue: q, ...(await d.service.stats(q)) };
        return { status: 200, body: stats };
      }),
    )
    .all(otherMethods('GET'));
  return r;
}
