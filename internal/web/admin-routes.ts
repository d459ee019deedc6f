import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { FailedAttempts } from '../admin/failed-attempts';
import { NotFoundError, TokenError } from '../errors/errors';
import { otherMethods } from '../http/express-route';
import { sendResult } from '../http/respond';
import type { QueueOverview } from '../service/queue-overview';
import { loadConsoleLocales, type ConsoleLocale } from './console-i18n';
import { escapeHtml, jsonForScript, renderTemplate } from './page';
import { STATIC_DIR, asset, loadAsset, type Asset } from './static-assets';
import { pageCsp, sendAsset } from './web-routes';

export interface AdminDeps {
  /** ADMIN_TOKEN: the JSON view GET /admin/state; empty disables that route (404). */
  readonly token: string;
  /** Whether any admin API token is set (ADMIN_TOKENS or ADMIN_TOKEN): the console at GET /admin. */
  readonly consoleEnabled: boolean;
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

/** uPlot's browser build and styles, served from this server (no CDN): read from the installed package. */
function uplotAssets(): { js: Asset; css: Asset } {
  const dist = join(require.resolve('uplot/package.json'), '..', 'dist');
  return {
    js: asset(readFileSync(join(dist, 'uPlot.iife.min.js')), 'text/javascript; charset=utf-8'),
    css: asset(readFileSync(join(dist, 'uPlot.min.css')), 'text/css; charset=utf-8'),
  };
}

/**
 * The "what if" panel's Web Worker: the simulator bundled by `npm run build`
 * (scripts/build-what-if.js) next to the other static files. A server run from source
 * (`npm run dev`) has no bundle: the console then hides the panel.
 */
export const WHAT_IF_ASSET = 'what-if.js';

/** The console page for one language. Its assets and API calls are relative, so it works under a path prefix. */
export function renderConsolePage(template: string, locale: ConsoleLocale, locales: readonly ConsoleLocale[], whatIf = false): string {
  const switcher = locales
    .map((l) =>
      l.lang === locale.lang
        ? `<span aria-current="true" lang="${l.lang}">${escapeHtml(l.name)}</span>`
        : `<a href="admin?lang=${encodeURIComponent(l.lang)}" lang="${l.lang}" hreflang="${l.lang}">${escapeHtml(l.name)}</a>`,
    )
    .join(' ');
  return renderTemplate(template, { lang: locale.lang, name: locale.name, dir: locale.dir, strings: locale.strings }, {
    lang: escapeHtml(locale.lang),
    dir: locale.dir,
    languages: switcher,
    config: jsonForScript({ lang: locale.lang, strings: locale.strings, whatIf }),
  });
}

/**
 * The operator console (GET /admin, its script, styles and uPlot under
 * /admin/) and the older JSON view GET /admin/state (`Authorization: Bearer
 * <ADMIN_TOKEN>`). The console page itself holds no data: everything it shows
 * comes from the admin API with the token the operator signs in with.
 */
export function adminRouter(d: AdminDeps): express.Router {
  const r = express.Router();
  const off = (what: string) => (_req: Request, _res: Response, next: NextFunction) => next(new NotFoundError(what));
  if (!d.consoleEnabled) {
    // Every method, OPTIONS included: a disabled feature does not exist (Express would answer OPTIONS 200 itself).
    r.all(['/admin', '/admin/', '/admin/console.js', '/admin/console.css', '/admin/uplot.js', '/admin/uplot.css', `/admin/${WHAT_IF_ASSET}`], off('the operator console is disabled; set ADMIN_TOKENS or ADMIN_TOKEN'));
  } else {
    const dir = d.staticDir ?? STATIC_DIR;
    const locales = loadConsoleLocales(join(dir, 'i18n'));
    const list = [...locales.values()];
    const template = loadAsset(dir, 'console.html').body.toString('utf8');
    const whatIf = existsSync(join(dir, WHAT_IF_ASSET));
    const pages = new Map(list.map((l) => [l.lang, asset(Buffer.from(renderConsolePage(template, l, list, whatIf), 'utf8'), 'text/html; charset=utf-8')]));
    const uplot = uplotAssets();
    const assets: Record<string, Asset> = {
      '/admin/console.js': loadAsset(dir, 'console.js'),
      '/admin/console.css': loadAsset(dir, 'console.css'),
      '/admin/uplot.js': uplot.js,
      '/admin/uplot.css': uplot.css,
    };
    if (whatIf) assets[`/admin/${WHAT_IF_ASSET}`] = loadAsset(dir, WHAT_IF_ASSET);
    else r.all(`/admin/${WHAT_IF_ASSET}`, off('the what-if simulator is not built; run npm run build'));
    const langs = ['en', ...list.map((l) => l.lang).filter((l) => l !== 'en')];
    r.route('/admin').get(pageCsp(''), (req, res) => {
      // The page's relative URLs assume /admin without a slash; a relative Location keeps a path prefix.
      if (req.path.endsWith('/')) {
        res.writeHead(301, { Location: '../admin', 'Content-Length': '0' });
        res.end();
        return;
      }
      const asked = typeof req.query.lang === 'string' ? req.query.lang.toLowerCase().split('-')[0] : undefined;
      const lang = asked && locales.has(asked) ? asked : req.acceptsLanguages(...langs) || 'en';
      res.setHeader('Vary', 'Accept-Language');
      res.setHeader('Content-Language', lang);
      sendAsset(res, pages.get(lang) ?? pages.get('en')!, 'no-cache');
    }).all(otherMethods('GET'));
    for (const [path, asset] of Object.entries(assets)) r.route(path).get((_req, res) => sendAsset(res, asset, 'no-cache')).all(otherMethods('GET'));
  }

  if (!d.token) {
    r.all('/admin/state', off('the operator view is disabled; set ADMIN_TOKEN'));
    return r;
  }
  const expected = digest(d.token);
  const failures = new FailedAttempts(FAILED_LOGINS, FAILED_WINDOW_MS, (req) => req.ip ?? '');
  r.route('/admin/state')
    .get(failures.guard, async (req: Request, res: Response, next: NextFunction) => {
      try {
        const given = digest(adminBearer(req.headers.authorization));
        if (!timingSafeEqual(given, expected)) throw new TokenError('invalid_token', 'the admin token is not valid');
      } catch (err) {
        return failures.refused(req, res, next, err);
      }
      try {
        sendResult(res, { status: 200, body: await d.overview.read() });
      } catch (err) {
        next(err);
      }
    })
    .all(otherMethods('GET'));
  return r;
}
