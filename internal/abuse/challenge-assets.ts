import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Router } from 'express';
import { otherMethods } from '../http/express-route';
import { sendAsset } from '../web/web-routes';
import { asset, type Asset } from '../web/static-assets';

/**
 * CSP hash of the one <style> element the widget injects (its CSS variables, the
 * same as the top of altcha.css) in altcha 3.2.2. An upgrade that changes it
 * shows as a CSP error in test/abuse/browser-ticket.test.ts; the new hash is in
 * Chromium's message.
 */
export const ALTCHA_INLINE_STYLE_HASH = "'sha256-be85zOGuGBhguQBGd1ooC4KSYE5ispDi4aCmIYqI/L0='";

/**
 * The ALTCHA widget, served from this server (no third-party script, no
 * tracking): the "external" build, whose stylesheet is a separate file and which
 * starts its proof-of-work worker from a URL we give it, so the waiting page's
 * CSP stays script-src/style-src/worker-src 'self' (the default build injects a
 * <style> element and starts workers from blob: URLs).
 */
export function challengeAssetsRouter(): Router {
  // The package exports no package.json; its "external" entry sits in dist/external.
  const external = dirname(require.resolve('altcha/external'));
  const js = 'text/javascript; charset=utf-8';
  const assets: Record<string, Asset> = {
    '/altcha.js': asset(readFileSync(join(external, 'altcha.umd.min.cjs')), js),
    '/altcha.css': asset(readFileSync(join(external, 'altcha.css')), 'text/css; charset=utf-8'),
    '/altcha-pbkdf2-worker.js': asset(readFileSync(join(external, '..', 'workers', 'pbkdf2.js')), js),
  };
  const r = Router();
  for (const [path, a] of Object.entries(assets)) r.route(path).get((_req, res) => sendAsset(res, a)).all(otherMethods('GET'));
  return r;
}
