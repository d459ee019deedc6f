import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A file served from memory: the page's assets are a few KiB and read once at start. */
export interface Asset {
  readonly body: Buffer;
  readonly type: string;
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
  return { body: readFileSync(join(dir, name)), type };
}
