import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One language of the waiting page: a single JSON file under static/i18n/. */
export interface Locale {
  /** BCP 47 primary tag, from the file name (en.json → "en"). */
  readonly lang: string;
  /** Its own name, for the language switcher. */
  readonly name: string;
  readonly dir: 'ltr' | 'rtl';
  /** Every visible string of the page, by key; `{name}` marks a placeholder. */
  readonly strings: Readonly<Record<string, string>>;
}

export const DEFAULT_LANG = 'en';

/**
 * Every locale file in `dir`, checked to define exactly the keys of the
 * default language so that a missing translation fails at start, not on a
 * visitor's screen. Adding a language is adding one file.
 */
export function loadLocales(dir: string): ReadonlyMap<string, Locale> {
  const out = new Map<string, Locale>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const raw = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { name?: unknown; dir?: unknown; strings?: unknown };
    const lang = file.slice(0, -'.json'.length).toLowerCase();
    if (typeof raw.name !== 'string' || (raw.dir !== 'ltr' && raw.dir !== 'rtl') || typeof raw.strings !== 'object' || raw.strings === null) {
      throw new Error(`locale ${file}: needs "name", "dir" ("ltr" or "rtl") and "strings"`);
    }
    out.set(lang, Object.freeze({ lang, name: raw.name, dir: raw.dir, strings: Object.freeze({ ...(raw.strings as Record<string, string>) }) }));
  }
  const base = out.get(DEFAULT_LANG);
  if (!base) throw new Error(`locale ${DEFAULT_LANG}.json is missing from ${dir}`);
  const keys = Object.keys(base.strings).sort().join(',');
  for (const l of out.values()) {
    if (Object.keys(l.strings).sort().join(',') !== keys) throw new Error(`locale ${l.lang}.json must define exactly the keys of ${DEFAULT_LANG}.json`);
  }
  return out;
}

/**
 * The language for a request: an explicit `lang` parameter if supported,
 * else the best Accept-Language match by q-value (primary subtag: "ar-EG"
 * matches "ar"), else English.
 */
export function chooseLocale(locales: ReadonlyMap<string, Locale>, langParam: unknown, acceptLanguage: string | undefined): Locale {
  if (typeof langParam === 'string') {
    const l = locales.get(langParam.toLowerCase().split('-')[0] ?? '');
    if (l) return l;
  }
  if (acceptLanguage) {
    const ranked = acceptLanguage
      .split(',')
      .map((part, i) => {
        const [tag, ...params] = part.trim().split(';');
        const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
        const q = qp ? Number(qp.slice(2)) : 1;
        return { tag: (tag ?? '').toLowerCase().split('-')[0] ?? '', q: Number.isFinite(q) ? q : 0, i };
      })
      .filter((x) => x.q > 0)
      .sort((a, b) => b.q - a.q || a.i - b.i);
    for (const r of ranked) {
      const l = locales.get(r.tag);
      if (l) return l;
    }
  }
  return locales.get(DEFAULT_LANG)!;
}
