import { join } from 'node:path';
import compression from 'compression';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { otherMethods } from '../http/express-route';
import { queueOf } from '../http/queue-prefix';
import type { QueueRegistry } from '../queues/queue-registry';
import type { QueueRuntime } from '../queues/queue-runtime';
import { chooseLocale, loadLocales, type Locale } from './i18n';
import { renderWaitingPage, themeCss, type Branding } from './page';
import { ALTCHA_INLINE_STYLE_HASH } from '../abuse/challenge-assets';
import { STATIC_DIR, asset, loadAsset, type Asset } from './static-assets';

export interface WebDeps {
  /** The default queue, served by the unprefixed page. */
  readonly queueId: string;
  readonly registry: QueueRegistry;
  /** Defaults to the shipped static directory. */
  readonly staticDir?: string;
}

/** Scripts and styles are versioned with the service; 5 minutes keeps a deploy visible quickly. */
const ASSET_CACHE = 'public, max-age=300';

/**
 * CSP of the hosted pages: only this origin's scripts and styles (no inline
 * script or style at all), images also from the logo's origin, and no framing.
 */
export function pageCsp(logoUrl: string) {
  const img = ["'self'", 'data:'];
  if (/^https?:\/\//.test(logoUrl)) img.push(new URL(logoUrl).origin);
  return helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      // Plus exactly one inline stylesheet: the CSS variables the ALTCHA widget injects
      // (also in altcha.css), allowed by its hash, never 'unsafe-inline'.
      styleSrc: ["'self'", ALTCHA_INLINE_STYLE_HASH],
      imgSrc: img,
      connectSrc: ["'self'"],
      // The ALTCHA widget's proof-of-work worker, served from this origin.
      workerSrc: ["'self'"],
      fontSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  });
}

/**
 * gzip/deflate/br for the page and its scripts and styles (the `compression`
 * middleware, on these routes only: never on /events, whose frames must not
 * wait in a compressor, nor on the hot JSON routes). app.js plus client.js are
 * ~20 KiB, ~6 KiB compressed; below 1 KiB it is not worth the CPU.
 */
export const compressAssets = compression({ threshold: 1024 });

/**
 * Writes an in-memory asset with its ETag; Express's res.send answers a
 * matching If-None-Match with 304 and no body.
 */
export function sendAsset(res: Response, a: Asset, cacheControl = ASSET_CACHE): void {
  res.setHeader('Content-Type', a.type);
  res.setHeader('Cache-Control', cacheControl);
  res.setHeader('ETag', a.etag);
  res.send(a.body);
}

/** A queue's branding and target as the page uses them. */
export function brandingOf(q: QueueRuntime): Branding {
  const b = q.doc.branding;
  return { ...b, targetUrl: q.doc.targetUrl };
}

/**
 * The visitor-facing files: GET / (the waiting page in the visitor's
 * language), /client.js (the embeddable client), /format.js (the page's
 * Intl formatting), /app.js, /page.css and /theme.css (the queue's colours).
 * Under /q/{id}/ the same files serve queue {id}, with its branding, message
 * and target (internal/http/queue-prefix.ts).
 */
export function webRouter(d: WebDeps): express.Router {
  const dir = d.staticDir ?? STATIC_DIR;
  const locales = loadLocales(join(dir, 'i18n'));
  const localeList: readonly Locale[] = [...locales.values()];
  const template = loadAsset(dir, 'index.html').body.toString('utf8');
  // Rendered once per queue, settings version and language: a page depends on nothing else.
  const pages = new Map<string, { version: number; byLang: Map<string, Asset>; theme: Asset }>();
  const rendered = (q: QueueRuntime) => {
    let p = pages.get(q.id);
    if (!p || p.version !== q.version) {
      const brand = brandingOf(q);
      const byLang = new Map<string, Asset>();
      for (const l of localeList) {
        byLang.set(l.lang, asset(Buffer.from(renderWaitingPage(template, l, brand, localeList, q.id, q.doc.message), 'utf8'), 'text/html; charset=utf-8'));
      }
      p = { version: q.version, byLang, theme: asset(Buffer.from(themeCss(brand), 'utf8'), 'text/css; charset=utf-8') };
      pages.set(q.id, p);
    }
    return p;
  };
  d.registry.onChange((id, runtime) => {
    if (!runtime) pages.delete(id);
  });
  const assets: Record<string, Asset> = {
    '/client.js': loadAsset(dir, 'client.js'),
    '/format.js': loadAsset(dir, 'format.js'),
    '/app.js': loadAsset(dir, 'app.js'),
    '/page.css': loadAsset(dir, 'page.css'),
  };

  const r = express.Router();
  r.route('/')
    .get(compressAssets, (req: Request, res: Response, next: NextFunction) => {
      let q: QueueRuntime;
      try {
        q = d.registry.require(queueOf(req) ?? d.queueId);
      } catch (err) {
        next(err);
        return;
      }
      const page = rendered(q);
      pageCsp(q.doc.branding.logoUrl)(req, res, () => {
        const locale = chooseLocale(locales, req.query.lang, (langs) => req.acceptsLanguages(langs));
        res.setHeader('Vary', 'Accept-Language');
        res.setHeader('Content-Language', locale.lang);
        sendAsset(res, page.byLang.get(locale.lang)!, 'no-cache');
      });
    })
    .all(otherMethods('GET'));
  for (const [path, a] of Object.entries(assets)) {
    r.route(path)
      .get(compressAssets, (_req, res) => sendAsset(res, a))
      .all(otherMethods('GET'));
  }
  r.route('/theme.css')
    .get(compressAssets, (req, res, next) => {
      try {
        sendAsset(res, rendered(d.registry.require(queueOf(req) ?? d.queueId)).theme);
      } catch (err) {
        next(err);
      }
    })
    .all(otherMethods('GET'));
  return r;
}
