import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { NotFoundError, TokenError, TooManyRequestsError } from '../errors/errors';
import { otherMethods } from '../http/express-route';
import { sendResult } from '../http/respond';
import type { QueueOverview } from '../service/queue-overview';
import { STATIC_DIR, loadAsset } from './static-assets';
import { pageCsp, sendAsset } from './web-routes';

export interface AdminDeps {
  /** ADMIN_TOKEN; empty disables the operator view (its routes answer 404). */
  readonly token: string;
  readonly overview: QueueOverview;
  readonly staticDir?: string;
}

/** Failed admin logins allowed per client address per window, against guessing. */
const FAILED_LOGINS = 20;
const FAILED_WINDOW_MS = 15 * 60_000;

/**
 * The admin token of `Authorization: Bearer <token>`. Config accepts any printable
 * ASCII without spaces for ADMIN_TOKEN (openssl rand -base64 gives + and /), so
 * this accepts exactly that, not only the b64token characters of ticket tokens.
 */
export function adminBearer(header: string | undefined): string {
  if (!header) throw new TokenError('missing_token', 'send the admin token as Authorization: Bearer <token>');
  const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(header);
  if (!m || !m[1]) throw new TokenError('invalid_token', 'the Authorization header is not a Bearer token');
  return m[1];
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * The operator view: GET /admin (a page that asks for the admin token) and
 * GET /admin/state (JSON, `Authorization: Bearer <ADMIN_TOKEN>`). Tokens are
 * compared in constant time over their SHA-256 digests; failed attempts are
 * rate-limited per client address (express-rate-limit counts only failures).
 */
export function adminRouter(d: AdminDeps): express.Router {
  const r = express.Router();
  if (!d.token) {
    const off = (_req: Request, _res: Response, next: NextFunction) => next(new NotFoundError('the operator view is disabled; set ADMIN_TOKEN'));
    // Every method, OPTIONS included: a disabled feature does not exist (Express would answer OPTIONS 200 itself).
    r.all('/admin', off);
    r.all('/admin.js', off);
    r.all('/admin/state', off);
    return r;
  }
  const dir = d.staticDir ?? STATIC_DIR;
  const page = loadAsset(dir, 'admin.html');
  const script = loadAsset(dir, 'admin.js');
  const expected = digest(d.token);
  const limiter = rateLimit({
    windowMs: FAILED_WINDOW_MS,
    limit: FAILED_LOGINS,
    skipSuccessfulRequests: true,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, _res, next) => next(new TooManyRequestsError('too many failed admin token attempts; wait and retry', FAILED_WINDOW_MS / 1000)),
  });

  r.route('/admin').get(pageCsp(''), (_req, res) => sendAsset(res, page, 'no-cache')).all(otherMethods('GET'));
  r.route('/admin.js').get((_req, res) => sendAsset(res, script, 'no-cache')).all(otherMethods('GET'));
  r.route('/admin/state')
    .get(limiter, async (req: Request, res: Response, next: NextFunction) => {
      try {
        const given = digest(adminBearer(req.headers.authorization));
        if (!timingSafeEqual(given, expected)) throw new TokenError('invalid_token', 'the admin token is not valid');
        sendResult(res, { status: 200, body: await d.overview.read() });
      } catch (err) {
        next(err);
      }
    })
    .all(otherMethods('GET'));
  return r;
}
