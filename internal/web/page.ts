import type { Locale } from './i18n';

/** What operators configure about the waiting page (BRAND_* and TARGET_URL). */
export interface Branding {
  /** Empty: the locale's default title. */
  readonly title: string;
  /** Empty: the locale's default message. */
  readonly message: string;
  readonly logoUrl: string;
  readonly primaryColor: string;
  readonly backgroundColor: string;
  readonly targetUrl: string;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** JSON safe inside a <script type="application/json"> element: no "</script>" or "<!--" can form. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Replaces `{{t:key}}` with an escaped string of the locale and `{{name}}` with an entry of `vars` (already safe HTML). */
export function renderTemplate(template: string, locale: Locale, vars: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{(t:)?([A-Za-z0-9_]+)\}\}/g, (whole, t: string | undefined, key: string) => {
    if (t) {
      const s = locale.strings[key];
      if (typeof s !== 'string') throw new Error(`template uses unknown or plural string "${key}"`);
      return escapeHtml(s);
    }
    const v = vars[key];
    if (v === undefined) throw new Error(`template uses unknown variable "${whole}"`);
    return v;
  });
}

/** The waiting page for one locale. */
export function renderWaitingPage(
  template: string,
  locale: Locale,
  brand: Branding,
  locales: readonly Locale[],
  queue: string,
  broadcast: string | null = null,
): string {
  // An empty BRAND_TITLE (the default) is the locale's own "Waiting room", like BRAND_MESSAGE.
  const title = brand.title || (locale.strings.title as string);
  const config = {
    queue,
    // The operator's broadcast message at render time; the page follows later changes live (SSE).
    broadcast,
    lang: locale.lang,
    targetUrl: brand.targetUrl,
    strings: locale.strings,
  };
  const logo = brand.logoUrl ? `<img class="logo" src="${escapeHtml(brand.logoUrl)}" alt="" width="160" height="48">` : '';
  const switcher = locales
    .map((l) =>
      l.lang === locale.lang
        ? `<span aria-current="true" lang="${l.lang}">${escapeHtml(l.name)}</span>`
        : `<a href="?lang=${encodeURIComponent(l.lang)}" lang="${l.lang}" hreflang="${l.lang}">${escapeHtml(l.name)}</a>`,
    )
    .join(' ');
  return renderTemplate(template, locale, {
    lang: escapeHtml(locale.lang),
    dir: locale.dir,
    title: escapeHtml(title),
    message: escapeHtml(brand.message || (locale.strings.defaultMessage as string)),
    logo,
    languages: switcher,
    config: jsonForScript(config),
  });
}

/** Brand colours as CSS custom properties; page.css uses only these variables. */
export function themeCss(brand: Branding): string {
  return `:root{--wr-primary:${brand.primaryColor};--wr-bg:${brand.backgroundColor}}\n`;
}
