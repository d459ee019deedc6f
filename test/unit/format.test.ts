import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLocales } from '../../internal/web/i18n';

/**
 * The waiting page's formatting (internal/web/static/format.js, the same file
 * the browser loads): rounding of waits as a table, and the words Intl makes
 * of them in every shipped language.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fmt = require('../../internal/web/static/format.js') as {
  roundWait(s: number): { about: boolean; hours: number; minutes: number; seconds: number };
  formatWait(s: number, lang: string, strings: Record<string, unknown>): string;
  plural(forms: Record<string, string>, n: number, lang: string): string;
};
const locales = loadLocales(join(__dirname, '..', '..', 'internal', 'web', 'static', 'i18n'));
const strings = (lang: string) => locales.get(lang)!.strings as Record<string, unknown>;

describe('roundWait', () => {
  it.each([
    // seconds, about, h, m, s
    [-5, false, 0, 0, 0],
    [0, false, 0, 0, 0],
    [0.2, false, 0, 0, 1], // an estimate never rounds down to "now"
    [1, false, 0, 0, 1],
    [59, false, 0, 0, 59],
    [60, false, 0, 1, 0],
    [66, false, 0, 1, 6],
    [599, false, 0, 9, 59], // exact up to 10 minutes: the countdown ticks each second
    [600, true, 0, 10, 0],
    [629, true, 0, 10, 0],
    [630, true, 0, 11, 0],
    [3569, true, 0, 59, 0],
    [3570, true, 1, 0, 0], // 59.5 min rounds to 60
    [6556, true, 1, 50, 0], // 109 min 16 s: "about 1 hour and 50 minutes"
    [6600, true, 1, 50, 0],
    [6750, true, 1, 55, 0], // 112.5 min → 113 → nearest 5
    [7200, true, 2, 0, 0],
    [86400, true, 24, 0, 0],
  ])('%p s → about=%p %ph %pm %ps', (s, about, hours, minutes, seconds) => {
    expect(fmt.roundWait(s)).toEqual({ about, hours, minutes, seconds });
  });
});

describe('formatWait', () => {
  it.each([
    ['en', 0, 'any moment now'],
    ['en', 1, '1 second'],
    ['en', 45, '45 seconds'],
    ['en', 60, '1 minute'],
    ['en', 66, '1 minute and 6 seconds'],
    ['en', 125, '2 minutes and 5 seconds'],
    ['en', 1500, 'about 25 minutes'],
    ['en', 6556, 'about 1 hour and 50 minutes'],
    ['en', 7200, 'about 2 hours'],
    ['ar', 0, 'في أي لحظة الآن'],
    ['ar', 66, 'دقيقة و6 ثوان'],
    ['ar', 125, 'دقيقتان و5 ثوان'],
    ['ar', 45, '45 ثانية'],
    ['ar', 6556, 'حوالي ساعة و50 دقيقة'],
    ['ar', 7200, 'حوالي ساعتان'],
  ])('%s %p s → %p', (lang, s, text) => {
    expect(fmt.formatWait(s, lang, strings(lang))).toBe(text);
  });
});

describe('plural', () => {
  it.each([
    ['en', 1, '1 person ahead of you'],
    ['en', 0, '0 people ahead of you'],
    ['en', 1234, '1,234 people ahead of you'],
    ['ar', 0, 'لا أحد أمامك'],
    ['ar', 1, 'أمامك شخص واحد'],
    ['ar', 2, 'أمامك شخصان'],
    ['ar', 3, 'أمامك 3 أشخاص'],
    ['ar', 11, 'أمامك 11 شخصًا'],
    ['ar', 100, 'أمامك 100 شخص'],
  ])('%s %p → %p', (lang, n, text) => {
    expect(fmt.plural(strings(lang).peopleAhead as Record<string, string>, n, lang)).toBe(text);
  });

  it('every plural string of every locale has every form its language needs (checked at load)', () => {
    for (const l of locales.values()) {
      const categories = new Intl.PluralRules(l.lang).resolvedOptions().pluralCategories;
      expect(Object.keys(l.strings.peopleAhead as object).sort()).toEqual([...categories].sort());
    }
  });
});

it('refuses a locale whose plural string lacks a form of its language', () => {
  const dir = mkdtempSync(join(tmpdir(), 'waitroom-i18n-'));
  try {
    writeFileSync(join(dir, 'en.json'), JSON.stringify({ name: 'English', dir: 'ltr', strings: { n: { one: '{count} x', other: '{count} xs' } } }));
    writeFileSync(join(dir, 'ar.json'), JSON.stringify({ name: 'العربية', dir: 'rtl', strings: { n: { one: 'x', other: 'y' } } }));
    expect(() => loadLocales(dir)).toThrow('locale ar.json: "n" must be a string or an object with the plural forms few, many, one, two, zero, other (missing few, many, two, zero)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
