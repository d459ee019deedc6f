import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The operator console's strings in one language: the "console" object of static/i18n/<lang>.json. */
export interface ConsoleLocale {
  readonly lang: string;
  readonly name: string;
  readonly dir: 'ltr' | 'rtl';
  readonly strings: Readonly<Record<string, string>>;
}

/**
 * The console's strings live beside the waiting page's in the same language
 * files, under their own "console" key, so the waiting page does not carry
 * them. Every language must define exactly the keys of English: a missing
 * translation fails at start, not on an operator's screen.
 */
export function loadConsoleLocales(dir: string): ReadonlyMap<string, ConsoleLocale> {
  const out = new Map<string, ConsoleLocale>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const raw = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { name?: unknown; dir?: unknown; console?: unknown };
    const lang = file.slice(0, -'.json'.length).toLowerCase();
    const strings = raw.console;
    if (typeof raw.name !== 'string' || (raw.dir !== 'ltr' && raw.dir !== 'rtl') || typeof strings !== 'object' || strings === null) {
      throw new Error(`locale ${file}: needs "name", "dir" and a "console" object of strings`);
    }
    for (const [k, v] of Object.entries(strings)) if (typeof v !== 'string') throw new Error(`locale ${file}: console string "${k}" must be a string`);
    out.set(lang, Object.freeze({ lang, name: raw.name, dir: raw.dir, strings: Object.freeze({ ...(strings as Record<string, string>) }) }));
  }
  const base = out.get('en');
  if (!base) throw new Error(`locale en.json is missing from ${dir}`);
  const keys = Object.keys(base.strings).sort().join(',');
  for (const l of out.values()) {
    if (Object.keys(l.strings).sort().join(',') !== keys) throw new Error(`locale ${l.lang}.json: its "console" strings must have exactly the keys of en.json's`);
  }
  return out;
}
