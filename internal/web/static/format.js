/*!
 * waitroom page formatting: waits, counts and plural strings through the
 * browser's own Intl (NumberFormat unit styles, ListFormat, PluralRules), so
 * every language gets its grammar ("1 minute and 6 seconds", "دقيقة و6 ثوان")
 * without string concatenation. Pure and dependency-free: the waiting page
 * loads it as /format.js and the unit tests require() the same file.
 */
(function (root) {
  'use strict';

  /** Up to this many seconds the wait is exact (the countdown ticks each second). */
  var EXACT_BELOW_S = 10 * 60;
  /** From an hour on, waits are rounded to this many minutes: "about 1 hour and 50 minutes". */
  var HOUR_STEP_MIN = 5;

  /**
   * How a wait of `seconds` is shown: exact below 10 minutes (minutes and
   * seconds); rounded to the minute below an hour; to 5 minutes from an hour
   * on. `about` is true when rounded. A countdown that jumps by whole
   * minutes is calmer and no less true than "109 min 16 s" for an estimate.
   */
  function roundWait(seconds) {
    var s = Math.max(0, Math.ceil(Number(seconds) || 0));
    if (s < EXACT_BELOW_S) return { about: false, hours: 0, minutes: Math.floor(s / 60), seconds: s % 60 };
    var minutes = Math.round(s / 60);
    if (minutes < 60) return { about: true, hours: 0, minutes: minutes, seconds: 0 };
    minutes = Math.round(minutes / HOUR_STEP_MIN) * HOUR_STEP_MIN;
    return { about: true, hours: Math.floor(minutes / 60), minutes: minutes % 60, seconds: 0 };
  }

  function unit(lang, name, n) {
    return new Intl.NumberFormat(lang, { style: 'unit', unit: name, unitDisplay: 'long' }).format(n);
  }

  function fill(template, vars) {
    return String(template).replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(vars, k) ? vars[k] : m;
    });
  }

  /**
   * The wait as words in `lang`: strings.etaNow for 0, else the non-zero
   * parts joined by the language's "and" (Intl.ListFormat), wrapped in
   * strings.aboutEta ("about {eta}") when rounded.
   */
  function formatWait(seconds, lang, strings) {
    var r = roundWait(seconds);
    if (r.hours === 0 && r.minutes === 0 && r.seconds === 0) return strings.etaNow;
    var parts = [];
    if (r.hours > 0) parts.push(unit(lang, 'hour', r.hours));
    if (r.minutes > 0) parts.push(unit(lang, 'minute', r.minutes));
    if (r.seconds > 0) parts.push(unit(lang, 'second', r.seconds));
    var text = new Intl.ListFormat(lang, { type: 'conjunction', style: 'long' }).format(parts);
    return r.about ? fill(strings.aboutEta, { eta: text }) : text;
  }

  /**
   * A plural string: `forms` maps Intl.PluralRules categories (zero, one,
   * two, few, many, other) to templates with {count}; the category of `n` in
   * `lang` picks one, "other" when the locale file has no such form.
   */
  function plural(forms, n, lang) {
    var category = new Intl.PluralRules(lang).select(n);
    var template = Object.prototype.hasOwnProperty.call(forms, category) ? forms[category] : forms.other;
    return fill(template, { count: new Intl.NumberFormat(lang).format(n) });
  }

  var api = { roundWait: roundWait, formatWait: formatWait, plural: plural, fill: fill };
  root.WaitroomFormat = api;
  if (typeof module === 'object' && module.exports) module.exports = api;
})(typeof window !== 'undefined' ? window : this);
