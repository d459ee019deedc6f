import { join } from 'node:path';
import express, { type Request, type Response } from 'express';
import helmet from 'helmet';
import { chooseLocale, loadLocales, type Locale } from './i18n';
import { renderWaitingPage, themeCss, type Branding } from './page';
import { STATIC_DIR, loadAsset, type Asset } from './static-assets';

export interface WebDeps {
  readonly queueId: string;
  readonly brand: Branding;
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
      styleSrc: ["'self'"],
      imgSrc: img,
      connectSrc: ["'self'"],
      fontSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  });
}

export function sendAsset(res: Response, a: Asset, cacheControl = ASSET_CACHE): void {
  res.setHeader('Content-Type', a.type);
  res.setHeader('Cache-Control', cacheControl);
  res.setHeader('Content-Length', a.body.length);
  res.end(a.body);
}

/**
 * The visitor-facing files: GET / (the waiting page in the visitor's
 * language), /client.js (the embeddable client), /app.js, /page.css and
 * /theme.css (the operator's colours).
 */
export function webRouter(d: WebDeps): express.Router {
  const dir = d.staticDir ?? STATIC_DIR;
  const locales = loadLocales(join(dir, 'i18n'));
  const localeList: readonly Locale[] = [...locales.values()];
  const template = loadAsset(dir, 'index.html').body.toString('utf8');
  // Rendered once per language at start: the page depends only on config and locale.
  const pages = new Map<string, Buffer>();
  for (const l of localeList) pages.set(l.lang, Buffer.from(renderWaitingPage(template, l, d.brand, localeList, d.queueId), 'utf8'));
  const assets: Record<string, Asset> = {
    '/client.js': loadAsset(dir, 'client.js'),
    '/app.js': loadAsset(dir, 'app.js'),
    '/page.css': loadAsset(dir, 'page.css'),
  };
  const theme: Asset = { body: Buffer.from(themeCss(d.brand), 'utf8'), type: 'text/css; charset=utf-8' };

  const r = express.Router();
  r.get('/', pageCsp(d.brand.logoUrl), (req: Request, res: Response) => {
    const locale = chooseLocale(locales, req.query.lang, req.headers['accept-language']);
    res.setHeader('Vary', 'Accept-Language');
    res.setHeader('Content-Language', locale.lang);
    sendAsset(res, { body: pages.get(locale.lang)!, type: 'text/html; charset=utf-8' }, 'no-cache');
  });
  for (const [path, asset] of Object.entries(assets)) r.get(path, (_req, res) => sendAsset(res, asset));
  r.get('/theme.css', (_req, res) => sendAsset(res, theme));
  return r;
}
