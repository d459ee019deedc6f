/** `node:perf_hooks` for the browser bundle: a worker has the same `performance` global. */
export const performance = (globalThis as unknown as { performance: { now(): number } }).performance;
