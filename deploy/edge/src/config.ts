import { WaitroomError } from '../../../internal/errors/errors';
import { parseQueueRoutes, type QueueRoute } from './route-queues';

/**
 * The worker's bindings (wrangler.toml [vars] or `wrangler secret`). Values
 * arrive as strings, or as TOML booleans and numbers.
 */
export interface Env {
  readonly JWKS_URL?: unknown;
  readonly ORIGIN_URL?: unknown;
  readonly WAITING_ROOM_URL?: unknown;
  readonly PASS_COOKIE?: unknown;
  readonly PASS_HEADER?: unknown;
  readonly PASS_AUDIENCE?: unknown;
  readonly PASS_ISSUER?: unknown;
  readonly QUEUE?: unknown;
  readonly FAIL_OPEN?: unknown;
  readonly PASS_JWKS_MAX_AGE?: unknown;
  readonly REVOCATIONS_URL?: unknown;
  readonly REVOCATIONS_MAX_AGE?: unknown;
  readonly PASS_VERIFY_CACHE_SIZE?: unknown;
}

/** The names read, in the order the docs list them. */
export const ENV_NAMES = [
  'JWKS_URL',
  'ORIGIN_URL',
  'WAITING_ROOM_URL',
  'PASS_COOKIE',
  'PASS_HEADER',
  'PASS_AUDIENCE',
  'PASS_ISSUER',
  'QUEUE',
  'FAIL_OPEN',
  'PASS_JWKS_MAX_AGE',
  'REVOCATIONS_URL',
  'REVOCATIONS_MAX_AGE',
  'PASS_VERIFY_CACHE_SIZE',
] as const satisfies ReadonlyArray<keyof Env>;

export interface EdgeConfig {
  readonly jwksUrl: string;
  readonly originUrl: string;
  /** '' to answer refused page requests with JSON too; may contain {queue}. */
  readonly waitingRoomUrl: string;
  readonly cookieName: string;
  /** Lower case. */
  readonly headerName: string;
  readonly audience: string;
  readonly issuer: string;
  readonly routes: readonly QueueRoute[];
  readonly failOpen: boolean;
  readonly jwksMaxAgeSeconds: number;
  /** May contain {queue}. */
  readonly revocationsUrl: string;
  readonly revocationsMaxAgeSeconds: number;
  readonly verifyCacheSize: number;
}

/** 500 for every request while the bindings are unusable: loud, and never an open site by accident. */
export class EdgeConfigError extends WaitroomError {
  readonly code = 'edge_misconfigured';
  readonly status = 500;
  constructor(readonly problems: readonly string[]) {
    super(`the waitroom edge gate is misconfigured: ${problems.join('; ')}`);
  }
}

function text(v: unknown): string {
  return v === undefined || v === null ? '' : String(v).trim();
}

/** The http(s) URL of a {queue} template, checked with a sample queue id. */
function url(name: string, v: string, problems: string[]): string {
  try {
    const u = new URL(v.replaceAll('{queue}', 'q'));
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    problems.push(`${name} must be an http(s) URL, got "${v}"`);
  }
  return v;
}

function seconds(name: string, v: string, dflt: number, problems: string[]): number {
  if (v === '') return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    problems.push(`${name} must be a whole number of seconds, got "${v}"`);
    return dflt;
  }
  return n;
}

/**
 * GET /passes/revoked?queue={queue} beside the JWKS: https://queue.example.com/.well-known/jwks.json
 * gives https://queue.example.com/passes/revoked?queue={queue} (a path prefix is kept).
 */
export function defaultRevocationsUrl(jwksUrl: string): string {
  const u = new URL(jwksUrl);
  u.pathname = u.pathname.replace(/\.well-known\/jwks\.json$/, '').replace(/\/?$/, '/') + 'passes/revoked';
  u.search = '';
  return `${u.toString()}?queue={queue}`;
}

/** Reads and checks every binding at once; throws EdgeConfigError listing all problems. */
export function parseEdgeConfig(env: Env): EdgeConfig {
  const problems: string[] = [];
  const required = (name: keyof Env): string => {
    const v = text(env[name]);
    if (!v) problems.push(`${name} is required`);
    return v;
  };
  const jwksUrl = url('JWKS_URL', required('JWKS_URL'), problems);
  const originUrl = url('ORIGIN_URL', required('ORIGIN_URL'), problems);
  const waitingRoomUrl = text(env.WAITING_ROOM_URL) && url('WAITING_ROOM_URL', text(env.WAITING_ROOM_URL), problems);
  const audience = required('PASS_AUDIENCE');
  let routes: QueueRoute[] = [];
  try {
    routes = parseQueueRoutes(required('QUEUE') || 'unset');
  } catch (err) {
    problems.push((err as Error).message);
  }
  const failOpenText = text(env.FAIL_OPEN).toLowerCase() || 'false';
  if (failOpenText !== 'true' && failOpenText !== 'false') problems.push(`FAIL_OPEN must be "true" or "false", got "${failOpenText}"`);
  const cookieName = text(env.PASS_COOKIE) || 'waitroom_pass';
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName)) problems.push(`PASS_COOKIE "${cookieName}" is not a cookie name`);
  const headerName = (text(env.PASS_HEADER) || 'x-waitroom-pass').toLowerCase();
  if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(headerName)) problems.push(`PASS_HEADER "${headerName}" is not a header name`);
  let revocationsUrl = text(env.REVOCATIONS_URL);
  if (revocationsUrl) url('REVOCATIONS_URL', revocationsUrl, problems);
  else if (jwksUrl && problems.every((p) => !p.startsWith('JWKS_URL'))) revocationsUrl = defaultRevocationsUrl(jwksUrl);
  const config: EdgeConfig = {
    jwksUrl,
    originUrl,
    waitingRoomUrl,
    cookieName,
    headerName,
    audience,
    issuer: text(env.PASS_ISSUER) || 'waitroom',
    routes,
    failOpen: failOpenText === 'true',
    // Like the waiting room's PASS_JWKS_MAX_AGE: keys change rarely and unknown kids refetch at once.
    jwksMaxAgeSeconds: seconds('PASS_JWKS_MAX_AGE', text(env.PASS_JWKS_MAX_AGE), 300, problems),
    revocationsUrl,
    // 2 s: a revocation reaches every data centre within ~3 s, for one small fetch per data centre every 2 s.
    revocationsMaxAgeSeconds: seconds('REVOCATIONS_MAX_AGE', text(env.REVOCATIONS_MAX_AGE), 2, problems),
    verifyCacheSize: seconds('PASS_VERIFY_CACHE_SIZE', text(env.PASS_VERIFY_CACHE_SIZE), 10_000, problems),
  };
  if (problems.length > 0) throw new EdgeConfigError(problems);
  return Object.freeze(config);
}
