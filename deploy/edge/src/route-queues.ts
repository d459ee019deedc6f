/**
 * Which queue a location of the protected site belongs to. QUEUE is either one
 * queue id (the whole route belongs to it) or a list of `pattern=queue` entries,
 * separated by commas or new lines, for several queues in one worker:
 *
 *   QUEUE = "/concerts/=concerts, shop.example.com/drops/=drops, /static/=-, /=general"
 *
 * A pattern is a path prefix (`/drops/`) or a host followed by a path prefix
 * (`shop.example.com/drops/`). The longest matching pattern wins, a host pattern
 * before any path-only pattern. The queue `-` marks a public location: it is
 * forwarded without a pass check. Every location must match: a list without the
 * catch-all `/` is refused as a configuration error, so no part of the site is
 * left open by omission.
 */
export interface QueueRoute {
  readonly host: string;
  readonly pathPrefix: string;
  /** The queue id, or PUBLIC. */
  readonly queue: string;
}

/** The queue of a location that needs no pass. */
export const PUBLIC = '-';

/** Queue ids as waitroom accepts them: no colon (the pass subject is "<queue>:<ticket>"). */
const QUEUE_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function parseQueueRoutes(spec: string): QueueRoute[] {
  const text = spec.trim();
  if (!text) throw new Error('QUEUE is empty: give a queue id or pattern=queue entries');
  if (!text.includes('=')) {
    if (!QUEUE_ID.test(text) || text === PUBLIC) throw new Error(`QUEUE "${text}" is not a queue id (letters, digits, ".", "_", "-"; no ":")`);
    return [{ host: '', pathPrefix: '/', queue: text }];
  }
  const routes: QueueRoute[] = [];
  for (const raw of text.split(/[,\n]/)) {
    const entry = raw.trim();
    if (!entry) continue;
    const eq = entry.lastIndexOf('=');
    const pattern = entry.slice(0, eq).trim();
    const queue = entry.slice(eq + 1).trim();
    if (eq < 1 || !pattern) throw new Error(`QUEUE entry "${entry}" is not pattern=queue`);
    if (queue !== PUBLIC && !QUEUE_ID.test(queue)) throw new Error(`QUEUE entry "${entry}": "${queue}" is not a queue id or "-"`);
    const slash = pattern.indexOf('/');
    if (slash < 0) throw new Error(`QUEUE entry "${entry}": the pattern needs a path ("/" for all of a host)`);
    const host = pattern.slice(0, slash).toLowerCase();
    const pathPrefix = pattern.slice(slash);
    if (routes.some((r) => r.host === host && r.pathPrefix === pathPrefix)) throw new Error(`QUEUE names the pattern "${pattern}" twice`);
    routes.push({ host, pathPrefix, queue });
  }
  if (!routes.some((r) => r.host === '' && r.pathPrefix === '/')) {
    throw new Error('QUEUE has no catch-all "/=<queue>" (or "/=-"): every location must belong to a queue or be marked public');
  }
  // Host patterns first, then longer prefixes first: the first match is the most specific.
  return routes.sort((a, b) => Number(b.host !== '') - Number(a.host !== '') || b.pathPrefix.length - a.pathPrefix.length);
}

/** The queue of a URL (host and path), or PUBLIC. */
export function queueFor(routes: readonly QueueRoute[], url: URL): string {
  const host = url.hostname.toLowerCase();
  for (const r of routes) {
    if (r.host && r.host !== host) continue;
    if (url.pathname.startsWith(r.pathPrefix)) return r.queue;
  }
  // parseQueueRoutes guarantees a catch-all; an empty list (never built by it) admits nothing.
  throw new Error('no queue route matches');
}
