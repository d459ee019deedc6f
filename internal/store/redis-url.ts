/**
 * REDIS_URL forms, one per Redis topology (docs/system.md, "Redis topologies"):
 *
 *   redis://[user:pass@]host:port[/db]                      one node (or a managed endpoint)
 *   rediss://...                                            the same over TLS
 *   redis-cluster://[user:pass@]h1:p1,h2:p2,...             Redis Cluster; any seed nodes
 *   rediss-cluster://...                                    the same over TLS
 *   redis-sentinel://[user:pass@]s1:26379,s2:26379/master   Sentinel addresses, then the master name
 *   rediss-sentinel://...                                   the same over TLS
 *
 * User and password (percent-encoded) are the ACL credentials of the data nodes.
 * Sentinels with their own password take `?sentinelUsername=...&sentinelPassword=...`.
 */

export type RedisTopology = 'single' | 'cluster' | 'sentinel';

export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

export interface RedisTarget {
  readonly topology: RedisTopology;
  readonly tls: boolean;
  /** One node for `single`, the seed nodes for `cluster`, the sentinels for `sentinel`. */
  readonly nodes: readonly RedisNodeAddress[];
  readonly username?: string;
  readonly password?: string;
  /** Logical database (single and sentinel only; a cluster has only database 0). */
  readonly database: number;
  /** Sentinel only: the monitored master's name. */
  readonly masterName?: string;
  /** Sentinel only: credentials of the sentinels themselves, when they differ from the data nodes'. */
  readonly sentinelUsername?: string;
  readonly sentinelPassword?: string;
}

/** A REDIS_URL that cannot be used; the message says why (it never contains the password). */
export class RedisUrlError extends Error {
  override readonly name = 'RedisUrlError';
}

const SCHEMES: Record<string, { topology: RedisTopology; tls: boolean; defaultPort: number }> = {
  redis: { topology: 'single', tls: false, defaultPort: 6379 },
  rediss: { topology: 'single', tls: true, defaultPort: 6379 },
  'redis-cluster': { topology: 'cluster', tls: false, defaultPort: 6379 },
  'rediss-cluster': { topology: 'cluster', tls: true, defaultPort: 6379 },
  'redis-sentinel': { topology: 'sentinel', tls: false, defaultPort: 26379 },
  'rediss-sentinel': { topology: 'sentinel', tls: true, defaultPort: 26379 },
};

export const REDIS_URL_SCHEMES = Object.keys(SCHEMES).map((s) => `${s}://`);

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new RedisUrlError(`has a badly percent-encoded ${what}`);
  }
}

function parseNode(text: string, defaultPort: number): RedisNodeAddress {
  // [v6addr]:port, host:port, or host alone.
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]/?#@,\s]+))(?::(\d{1,5}))?$/.exec(text);
  if (!m) throw new RedisUrlError(`has an unreadable node address "${text}" (expected host:port)`);
  const host = m[1] ?? m[2] ?? '';
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RedisUrlError(`has an invalid port in "${text}"`);
  return { host, port };
}

/** Parses REDIS_URL; throws RedisUrlError with a message fit for a config error. */
export function parseRedisUrl(url: string): RedisTarget {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(url.trim());
  if (!m) throw new RedisUrlError(`must be a URL starting with one of ${REDIS_URL_SCHEMES.join(', ')}`);
  const schemeName = (m[1] ?? '').toLowerCase();
  const scheme = SCHEMES[schemeName];
  if (!scheme) throw new RedisUrlError(`must start with one of ${REDIS_URL_SCHEMES.join(', ')} (got "${schemeName}://")`);
  let authority = m[2] ?? '';
  const path = m[3] ?? '';
  const query = new URLSearchParams(m[4] ?? '');

  let username: string | undefined;
  let password: string | undefined;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const info = authority.slice(0, at);
    authority = authority.slice(at + 1);
    const colon = info.indexOf(':');
    const user = decode(colon >= 0 ? info.slice(0, colon) : info, 'user name');
    const pass = colon >= 0 ? decode(info.slice(colon + 1), 'password') : undefined;
    // redis://:pass@host is the classic password-only (default user) form.
    if (user) username = user;
    if (pass) password = pass;
    if (username && !password) throw new RedisUrlError('names a user without a password');
  }
  if (!authority) throw new RedisUrlError('names no host');
  const nodes = authority.split(',').map((n) => parseNode(n, scheme.defaultPort));
  if (scheme.topology === 'single' && nodes.length > 1) {
    throw new RedisUrlError(`names ${nodes.length} hosts; use redis-cluster:// or redis-sentinel:// for several nodes`);
  }

  let database = 0;
  let masterName: string | undefined;
  const segments = path.split('/').filter(Boolean);
  if (scheme.topology === 'sentinel') {
    const name = segments[0];
    if (name === undefined) throw new RedisUrlError('must end with the master name, e.g. redis-sentinel://s1:26379,s2:26379/mymaster');
    masterName = decode(name, 'master name');
    if (segments.length > 2) throw new RedisUrlError('has a path beyond /<master name>/<db>');
    if (segments[1] !== undefined) database = parseDb(segments[1]);
  } else if (scheme.topology === 'cluster') {
    if (segments.length > 0) throw new RedisUrlError('must not name a database: a Redis Cluster has only database 0');
  } else {
    if (segments.length > 1) throw new RedisUrlError('has a path beyond /<db>');
    if (segments[0] !== undefined) database = parseDb(segments[0]);
  }

  for (const k of query.keys()) {
    if (k !== 'sentinelUsername' && k !== 'sentinelPassword') throw new RedisUrlError(`has an unknown parameter "${k}"`);
    if (scheme.topology !== 'sentinel') throw new RedisUrlError(`"${k}" applies to redis-sentinel:// URLs only`);
  }
  const sentinelUsername = query.get('sentinelUsername') || undefined;
  const sentinelPassword = query.get('sentinelPassword') || undefined;
  if (sentinelUsername && !sentinelPassword) throw new RedisUrlError('names a sentinelUsername without a sentinelPassword');

  return Object.freeze({
    topology: scheme.topology,
    tls: scheme.tls,
    nodes: Object.freeze(nodes),
    username,
    password,
    database,
    masterName,
    sentinelUsername,
    sentinelPassword,
  });
}

function parseDb(text: string): number {
  if (!/^\d{1,2}$/.test(text)) throw new RedisUrlError(`has an invalid database number "${text}"`);
  return Number(text);
}

/** The URL with the password replaced, for logs. */
export function describeRedisTarget(t: RedisTarget): string {
  const scheme = `${t.tls ? 'rediss' : 'redis'}${t.topology === 'single' ? '' : `-${t.topology}`}`;
  const user = t.username || t.password ? `${t.username ?? ''}:***@` : '';
  const hosts = t.nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(',');
  const path = t.topology === 'sentinel' ? `/${t.masterName}${t.database ? `/${t.database}` : ''}` : t.database ? `/${t.database}` : '';
  return `${scheme}://${user}${hosts}${path}`;
}
