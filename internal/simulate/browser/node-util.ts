/**
 * `util` for the browser bundle: fake-timers reads `require("util").promisify` only when a
 * `process` global exists (Node), which a Web Worker has not; this stands in for the import.
 */
export const promisify = undefined;
