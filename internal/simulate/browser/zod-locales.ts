/**
 * zod's locales for the browser bundle: English only. The scenario's problems are shown as
 * zod words them in English (as the command line prints them); the other 40-odd locales of
 * zod's namespace would be about a third of the bundle.
 */
export { default as en } from 'zod/v4/locales/en.js';
