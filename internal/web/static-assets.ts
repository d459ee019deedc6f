import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A file served from memory: the page's assets are a few KiB and read once at start. */
export interface Asset {
  readonly body: Buffer;
  readonly type: string;
  /** Validator for conditional GETs (If-None-Match → 304), from the content. */
  readonly etag: string;
}

/**
 * A weak ETag from a hash of the content: weak because the same tag names the
 * gzip and the identity representation (compression happens after it is set),
 * which is what W/ means (RFC 9110 8.8.1); If-None-Match compares weakly.
 */
export function contentEtag(body: Buffer | string): string {
  return `W/"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

export function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: contentEtag(body) };
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

/** Directory of the shipped page files (copied next to the compiled code by scripts/copy-assets.js). */
export const STATIC_DIR = join(__dirname, 'static');

export function loadAsset(dir: string, name: string): Asset {
  const ext = name.slice(name.lastIndexOf('.'));
  const type = TYPES[ext];
  if (!type) throw new Error(`no content type for ${name}`);
  return asset(readFileSync(join(dir, name)), type);
}
