import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One language of the waiting page: a single JSON file under static/i18n/. */
export interface Locale {
  /** BCP 47 primary tag, from the file name (en.json → "en"). */
  readonly lang: string;
  /** Its own name, for the language switcher. */
  readonly name: string;
  readonly dir: 'ltr' | 'rtl';
  /**
   * Every visible string of the page, by key; `{name}` marks a placeholder. A
   * plural string is an object of Intl.PluralRules categories ("one",
   * "other", ...) with `{count}`, chosen in the browser (static/format.js).
   */
  readonly strings: Readonly<Record<string, LocaleString>>;
}

export type LocaleString = string | Readonly<Record<string, string>>;

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
    const strings = raw.strings as Record<string, unknown>;
    // Every plural category the language has (Arabic: zero, one, two, few, many, other), so no count falls back to a wrong form.
    const categories = new Intl.PluralRules(lang).resolvedOptions().pluralCategories;
    for (const [key, v] of Object.entries(strings)) {
      if (typeof v === 'string') continue;
      const forms = typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
      const missing = categories.filter((c) => typeof forms[c] !== 'string');
      if (typeof v !== 'object' || v === null || missing.length > 0) {
        throw new Error(`locale ${file}: "${key}" must be a string or an object with the plural forms ${categories.join(', ')} (missing ${missing.join(', ')})`);
      }
    }
    out.set(lang, Object.freeze({ lang, name: raw.name, dir: raw.dir, strings: Object.freeze({ ...(strings as Record<string, LocaleString>) }) }));
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
 * else the best Accept-Language match, else English. `accepts` is Express's
 * req.acceptsLanguages (negotiator: q-values, "ar-EG" matches "ar", "*"), so
 * the header is parsed by the framework rather than by hand here.
 */
export function chooseLocale(
  locales: ReadonlyMap<string, Locale>,
  langParam: unknown,
  accepts: (langs: string[]) => string | false,
): Locale {
  if (typeof langParam === 'string') {
    const l = locales.get(langParam.toLowerCase().split('-')[0] ?? '');
    if (l) return l;
  }
  // The default first: it wins ties and a bare "*".
  const tags = [DEFAULT_LANG, ...[...locales.keys()].filter((k) => k !== DEFAULT_LANG)];
  const best = accepts(tags);
  return (best && locales.get(best)) || locales.get(DEFAULT_LANG)!;
}
