import { cleanEnv, makeValidator, num, port, str, bool, EnvError, EnvMissingError } from 'envalid';
import { FIELD_RANGES } from '../queue/state-check';
import type { JoinDurability, JoinDurabilityMode } from '../store/durability';
import { parseRedisUrl } from '../store/redis-url';

/**
 * JWT secrets that appear in this repository's docs, examples or compose file.
 * A production replica refuses to start with any of them: a secret that is
 * public lets anyone mint a ticket with any place in line.
 */
export const SAMPLE_SECRETS: readonly string[] = Object.freeze([
  'dev-only-secret-change-me-0123456789abcdef',
  'change-me-change-me-change-me-change-me',
  'please-change-this-secret-in-production',
  'secret',
  'changeme',
]);

/** Development default for JWT_SECRET; refused when NODE_ENV=production. */
export const DEV_JWT_SECRET = SAMPLE_SECRETS[0] as string;

const positiveInt = makeValidator<number>((input) => {
  const n = Number(input);
  if (!Number.isInteger(n) || n <= 0) throw new EnvError(`must be a positive integer, got "${input}"`);
  return n;
});

/** A finite number above 0 (rates: joins per second). */
const positiveNumber = makeValidator<number>((input) => {
  const n = Number(input);
  if (!Number.isFinite(n) || n <= 0) throw new EnvError(`must be a positive number, got "${input}"`);
  return n;
});

/** A positive integer up to `max`: the queue-state bounds the scripts enforce (internal/queue/state-check.ts). */
function boundedInt(max: number) {
  return makeValidator<number>((input) => {
    const n = Number(input);
    if (!Number.isInteger(n) || n <= 0 || n > max) throw new EnvError(`must be an integer from 1 to ${max}, got "${input}"`);
    return n;
  });
}

/** WINDOW_INTERVAL: rounds to whole ms (at least 1) and stays within the state's bound on I. */
const intervalSeconds = makeValidator<number>((input) => {
  const n = Number(input);
  if (!Number.isFinite(n) || n <= 0 || n * 1000 > FIELD_RANGES.intervalMs[1]) {
    throw new EnvError(`must be a positive number of seconds up to ${FIELD_RANGES.intervalMs[1] / 1000}, got "${input}"`);
  }
  return n;
});

const proxyHops = makeValidator<number>((input) => {
  if (input === 'true') return 1;
  if (input === 'false') return 0;
  const n = Number(input);
  if (!Number.isInteger(n) || n < 0 || n > 10) throw new EnvError(`must be a number of proxies from 0 to 10 (or true/false), got "${input}"`);
  return n;
});

const fraction = makeValidator<number>((input) => {
  const n = Number(input);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new EnvError(`must be a number from 0 to 1, got "${input}"`);
  return n;
});

const queueId = makeValidator<string>((input) => {
  // Queue ids become part of Redis keys inside a {hash tag}, so braces are out,
  // and part of the token, so keep them short and printable.
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(input)) throw new EnvError('must be 1-64 characters of A-Z a-z 0-9 _ -');
  return input;
});

const optionalUrl = makeValidator<string>((input) => {
  if (input === '') return '';
  try {
    new URL(input);
  } catch {
    throw new EnvError(`must be a URL, got "${input}"`);
  }
  return input;
});

const hexColor = makeValidator<string>((input) => {
  if (!/^#[0-9a-fA-F]{6}$/.test(input)) throw new EnvError(`must be a #rrggbb colour, got "${input}"`);
  return input.toLowerCase();
});

const logoUrl = makeValidator<string>((input) => {
  // An absolute http(s) URL or a path on this server; anything else (javascript:, data:) is refused.
  if (input === '' || /^\/(?!\/)[^\s]*$/.test(input)) return input;
  try {
    const u = new URL(input);
    if (u.protocol === 'https:' || u.protocol === 'http:') return input;
  } catch {
    /* fall through */
  }
  throw new EnvError(`must be an http(s) URL or a path starting with /, got "${input}"`);
});

/** An http: URL whose host is not loopback (localhost, 127.0.0.0/8, [::1]), where browsers treat http as secure. */
export function plainHttpOffLoopback(url: string): boolean {
  const u = new URL(url);
  if (u.protocol !== 'http:') return false;
  const h = u.hostname;
  return !(h === 'localhost' || h.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '[::1]');
}

/** WCAG 2.1 contrast ratio of two #rrggbb colours (1 to 21). */
export function contrastRatio(a: string, b: string): number {
  const lum = (hex: string) => {
    const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * c[0]! + 0.7152 * c[1]! + 0.0722 * c[2]!;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}
const claimPolicy = makeValidator<'same' | 'refuse'>((input) => {
  if (input !== 'same' && input !== 'refuse') throw new EnvError(`must be "same" or "refuse", got "${input}"`);
  return input;
});

const headerName = makeValidator<string>((input) => {
  // RFC 9110 token characters; lower-cased because node:http lower-cases incoming names.
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/.test(input)) throw new EnvError(`must be an HTTP header name, got "${input}"`);
  return input.toLowerCase();
});

const cookieName = makeValidator<string>((input) => {
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/.test(input)) throw new EnvError(`must be a cookie name (RFC 6265 token), got "${input}"`);
  return input;
});

const nonNegativeInt = makeValidator<number>((input) => {
  const n = Number(input);
  if (!Number.isInteger(n) || n < 0) throw new EnvError(`must be a non-negative integer, got "${input}"`);
  return n;
});

const challengeMode = makeValidator<'off' | 'always' | 'auto'>((input) => {
  if (input !== 'off' && input !== 'always' && input !== 'auto') throw new EnvError(`must be "off", "always" or "auto", got "${input}"`);
  return input;
});

const specs = {
  NODE_ENV: str({
    choices: ['development', 'test', 'production'],
    default: 'development',
    desc: 'Runtime mode; production enforces a strong JWT_SECRET and a REDIS_URL.',
    example: 'production',
  }),
  HOST: str({ default: '0.0.0.0', desc: 'Address the HTTP server binds to.', example: '127.0.0.1' }),
  PORT: port({ default: 8080, desc: 'HTTP port the server listens on.', example: '8080' }),
  METRICS_PORT: num({
    default: 0,
    desc: 'Port of a second listener that serves only GET /metrics (Prometheus scrapes it inside the cluster); the public PORT then answers 404 there. 0 serves /metrics on PORT.',
    example: '9464',
  }),
  REDIS_URL: str({
    default: '',
    desc:
      'Redis shared by every replica; the scheme picks the topology: redis:// or rediss:// (one node or a managed endpoint), ' +
      'redis-cluster://h1:p,h2:p (Redis Cluster, any seed nodes), redis-sentinel://s1:26379,s2:26379/<master> (Sentinel); ' +
      'rediss-cluster:// and rediss-sentinel:// use TLS. user:password@ before the hosts are the ACL credentials. ' +
      'Required in production; without it outside production an embedded single-process store is used.',
    example: 'redis-sentinel://waitroom:secret@sentinel-0:26379,sentinel-1:26379/mymaster',
  }),
  REDIS_TLS_CA_FILE: str({
    default: '',
    desc: "PEM file of the CA that signed the Redis servers' certificates, for the rediss schemes; empty trusts Node's built-in CAs.",
    example: '/etc/waitroom/redis-ca.pem',
  }),
  JWT_SECRET: str({
    devDefault: DEV_JWT_SECRET,
    desc: 'HS256 secret that signs visitor tickets; at least 32 bytes, the same on every replica.',
    example: 'output of: openssl rand -base64 48',
  }),
  QUEUE_ID: queueId({ default: 'default', desc: 'Id of the queue this deployment serves; scopes every Redis key and token.', example: 'launch-2026' }),
  WINDOW_SIZE: boundedInt(FIELD_RANGES.windowSize[1])({ default: 10, desc: 'Tickets admitted per window advance (S), at most 1000000000.', example: '100' }),
  WINDOW_INTERVAL: intervalSeconds({
    default: 10,
    desc: 'Seconds between window advances; fractions allowed (tests use 0.05), at most 604800 (a week).',
    example: '5',
  }),
  ACTIVE_WINDOW_COUNT: boundedInt(FIELD_RANGES.activeWindowCount[1])({
    default: 2,
    desc: 'How many windows a ticket stays active for (K), at most 1000000; 1 means a ticket can expire one interval after admission.',
    example: '3',
  }),
  TICKET_TTL: positiveInt({ default: 6 * 3600, desc: 'Seconds a signed ticket is valid for (JWT exp).', example: '21600' }),
  TOKEN_CACHE_SIZE: num({
    default: 32768,
    desc: 'Verified ticket tokens remembered per replica, so a polling visitor skips signature checks (~450 bytes each); 0 disables.',
    example: '32768',
  }),
  LEASE_TTL_MS: positiveInt({ default: 5000, desc: 'Leader lease TTL in milliseconds.', example: '5000' }),
  LEASE_RENEW_MS: num({ default: 0, desc: 'Leader lease renew period in ms; 0 means LEASE_TTL_MS / 3.', example: '1666' }),
  STATE_REFRESH_MS: positiveInt({
    default: 1000,
    desc: 'How often, in ms, each replica polls the change log (one registry-poll.lua call; two GETs in it while nothing changed) and re-reads the queues it lists; a successful poll also confirms every cached queue state.',
    example: '1000',
  }),
  STATE_RESYNC_MS: nonNegativeInt({
    default: 0,
    desc: 'Period, in ms, of each replica\'s full re-read of every queue (state, revoked passes, registry), spread with jitter: the fallback behind pub/sub and the change log. 0 means 30 x STATE_REFRESH_MS.',
    example: '30000',
  }),
  STATE_MAX_STALENESS_MS: positiveInt({
    default: 5000,
    desc: 'If the cached queue state has not been confirmed for this long, /status answers 503 instead of a possibly wrong answer.',
    example: '5000',
  }),
  JOIN_DURABILITY: str({
    default: 'none',
    choices: ['none', 'replica', 'aof'],
    desc: 'What POST /join waits for before answering 201: none; replica (WAIT: the write reached JOIN_DURABILITY_REPLICAS replicas); aof (WAITAOF, Redis 7.2+: fsynced to the AOF). A join whose wait falls short answers 503 store_unavailable and its ticket is not handed out.',
    example: 'replica',
  }),
  JOIN_DURABILITY_REPLICAS: str({
    default: '',
    desc: 'Replicas that must acknowledge a durable join (WAIT numreplicas; with aof, replicas whose AOF must have it too). Empty means 1 for replica and 0 for aof.',
    example: '1',
  }),
  JOIN_DURABILITY_TIMEOUT_MS: positiveInt({
    default: 200,
    desc: 'Longest wait of a durable join for its acknowledgements, in ms (at most 900, under the 1 s store timeout).',
    example: '200',
  }),
  SHUTDOWN_DELAY_MS: num({
    default: 0,
    desc: 'After SIGTERM, keep serving (with /readyz at 503) this long before closing the listener, so load balancers stop sending first. On Kubernetes the preStop hook does this instead.',
    example: '2000',
  }),
  SHUTDOWN_TIMEOUT_MS: positiveInt({ default: 10000, desc: 'Longest wait for in-flight requests on SIGTERM before closing them.', example: '10000' }),
  LOG_LEVEL: str({
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    desc: 'Log level (pino).',
    example: 'info',
  }),
  LOG_FORMAT: str({
    choices: ['json', 'pretty'],
    default: 'json',
    desc: 'json: one JSON object per line on stdout, for log collectors. pretty: coloured one-line text for a terminal (pino-pretty, a development dependency that the container image does not include).',
    example: 'pretty',
  }),
  LOG_SAMPLE_RATE: fraction({
    default: 0.01,
    desc: 'Fraction of successful hot requests (/status, /join) logged at info; errors are always logged.',
    example: '0.01',
  }),
  TRUST_PROXY: proxyHops({
    default: 0,
    desc: 'How many proxies in front of the replicas append to X-Forwarded-For (1 behind one load balancer); the client address is taken that many entries from the right, so a client cannot choose it. true means 1, false 0.',
    example: '1',
  }),
  TARGET_URL: optionalUrl({ default: '', desc: 'Protected site a visitor is sent to once admitted.', example: 'https://shop.example.com/' }),
  // --- visitor side: server-sent events, waiting page, branding, operator view ---
  SSE_HEARTBEAT_MS: positiveInt({
    default: 15000,
    desc: 'Interval of the comment heartbeat on idle /events streams, in ms; below common proxy idle timeouts (nginx 60 s).',
    example: '15000',
  }),
  SSE_RETRY_MS: positiveInt({ default: 3000, desc: 'Reconnect delay sent to /events clients in the SSE retry field, in ms.', example: '3000' }),
  SSE_MAX_STREAMS_PER_IP: positiveInt({
    default: 20,
    desc: 'Open /events streams allowed per client IP on one replica; beyond it clients get 429 and poll /status instead.',
    example: '20',
  }),
  SSE_MAX_STREAMS: positiveInt({
    default: 20000,
    desc: 'Open /events streams allowed on one replica (about 6 KiB of heap each, docs/visitor.md).',
    example: '20000',
  }),
  SSE_MEMORY_HIGH_WATER: fraction({
    default: 0.8,
    desc: 'Share of the container\'s memory limit (its working set or RSS, whichever is larger) at which a replica refuses new /events streams with 429, whatever SSE_MAX_STREAMS allows; visitors poll /status instead (docs/k8s.md, "Memory and open streams"). 0 turns this signal off; SSE_HEAP_HIGH_WATER is the other.',
    example: '0.8',
  }),
  SSE_HEAP_HIGH_WATER: fraction({
    default: 0.6,
    desc: 'Share of V8\'s old-generation limit (--max-old-space-size) that the live heap may take before a replica refuses new /events streams with 429; lower than SSE_MEMORY_HIGH_WATER because the garbage collector needs room to work (docs/k8s.md, "Memory and open streams"). 0 turns this signal off.',
    example: '0.6',
  }),
  BRAND_TITLE: str({
    default: '',
    desc: 'Title of the waiting page (also the browser tab title); empty shows the localised default ("Waiting room").',
    example: 'Launch day at Example Shop',
  }),
  BRAND_MESSAGE: str({
    default: '',
    desc: 'Operator message shown on the waiting page under the title (plain text); empty shows the localised default.',
    example: 'Thanks for your patience: tickets go on sale in order of arrival.',
  }),
  BRAND_LOGO_URL: logoUrl({ default: '', desc: 'Logo shown on the waiting page: an http(s) URL or a path on this server; empty for none.', example: 'https://cdn.example.com/logo.svg' }),
  BRAND_PRIMARY_COLOR: hexColor({ default: '#1d4ed8', desc: 'Accent colour (#rrggbb) of buttons and the progress bar; white text is drawn on it.', example: '#0f766e' }),
  BRAND_BACKGROUND_COLOR: hexColor({ default: '#f8fafc', desc: 'Page background colour (#rrggbb); dark text is drawn on it.', example: '#ffffff' }),
  ADMIN_TOKEN: str({
    default: '',
    desc: 'Bearer token for the operator console (/admin), the admin API (named "admin") and the JSON view /admin/state; empty disables /admin/state (and the console too unless ADMIN_TOKENS is set). At least 16 characters.',
    example: 'output of: openssl rand -hex 24',
  }),
  ADMIN_TOKENS: str({
    default: '',
    desc: 'Named bearer tokens for the admin API (/admin/api/v1), comma-separated name:token pairs; the name is recorded in the audit log. Each token at least 16 characters. ADMIN_TOKEN counts as one more, named "admin".',
    example: 'alice:output of openssl rand -hex 24,deploy-bot:...',
  }),
  // --- events (docs/events.md) ---
  EVENT_STREAM_MAX_LENGTH: positiveInt({
    default: 100000,
    desc: "Entries kept in each queue's event stream (XADD MAXLEN ~, so Redis may keep slightly more); about a day of one advance a second plus passes.",
    example: '100000',
  }),
  // --- webhooks (docs/events.md#webhooks) ---
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool({
    default: false,
    desc: 'Lets webhooks reach loopback, link-local, private and unique-local addresses (and plain http in production). Off, a webhook cannot become a way into the operator\'s network; tests and local development turn it on.',
    example: 'false',
  }),
  WEBHOOK_CONNECT_TIMEOUT_MS: positiveInt({ default: 3000, desc: 'Longest wait for a webhook receiver to accept the connection, in ms.', example: '3000' }),
  WEBHOOK_TIMEOUT_MS: positiveInt({ default: 10000, desc: 'Longest a webhook delivery attempt may take in all (connect, send, answer), in ms.', example: '10000' }),
  WEBHOOK_RETRY_BASE_MS: positiveInt({ default: 5000, desc: 'First webhook retry delay in ms; each retry doubles it (with jitter) up to WEBHOOK_RETRY_MAX_MS.', example: '5000' }),
  WEBHOOK_RETRY_MAX_MS: positiveInt({ default: 3600000, desc: 'Longest delay between two webhook attempts, in ms.', example: '3600000' }),
  WEBHOOK_RETRY_FOR_MS: positiveInt({ default: 86400000, desc: 'How long a webhook delivery is retried after the event before it is marked failed, in ms (about a day).', example: '86400000' }),
  WEBHOOK_DISABLE_AFTER_MS: positiveInt({
    default: 3 * 86400000,
    desc: 'An endpoint whose deliveries have all failed for this long is disabled (event webhook.disabled); PATCH it with enabled=true to resume, in ms.',
    example: '259200000',
  }),
  WEBHOOK_POLL_MS: positiveInt({ default: 500, desc: "How often each queue's webhook dispatcher reads its event stream and due retries, in ms.", example: '500' }),
  // --- admission: passes, JWKS, the /verify gate (docs/admission.md) ---
  PASS_KEYS_DIR: str({
    default: '',
    desc: 'Directory of pass signing keys: <kid>.pem (PKCS#8 P-256 or Ed25519 private key: signs if its kid sorts last, always verifies) and <kid>.pub.pem (public key: verifies only). Required in production; elsewhere a development key pair is generated when empty.',
    example: '/run/secrets/waitroom-pass-keys',
  }),
  PASS_KEYS_RELOAD_MS: positiveInt({ default: 10000, desc: 'How often PASS_KEYS_DIR is re-read, in ms; rotation needs no restart.', example: '10000' }),
  PASS_TTL: positiveInt({ default: 900, desc: 'Seconds a pass is valid for (its exp): the session the visitor gets on the protected site.', example: '900' }),
  PASS_ISSUER: str({ default: 'waitroom', desc: 'The pass "iss" claim; origins check it.', example: 'https://queue.example.com' }),
  PASS_AUDIENCE: str({
    default: '',
    desc: 'The pass "aud" claim (the protected site); empty means the origin of TARGET_URL, or "protected-site" without one.',
    example: 'https://shop.example.com',
  }),
  PASS_CLAIM_POLICY: claimPolicy({
    default: 'same',
    desc: 'A second POST /claim of an already claimed ticket: "same" returns the same pass (idempotent retries), "refuse" answers 409 already_claimed.',
    example: 'refuse',
  }),
  PASS_COOKIE_NAME: cookieName({ default: 'waitroom_pass', desc: 'Cookie that carries the pass to the protected site.', example: 'waitroom_pass' }),
  PASS_COOKIE_DOMAIN: str({ default: '', desc: 'Domain attribute of the pass cookie (the site\'s registrable domain when the waiting room is on a sibling host); empty means host-only.', example: 'example.com' }),
  PASS_COOKIE_SECURE: bool({ default: true, desc: 'Secure attribute of the pass cookie and of the ticket cookie; turn off only for plain-http development.', example: 'true' }),
  PASS_HEADER: headerName({ default: 'x-waitroom-pass', desc: 'Request header the gate also accepts the pass in (API clients, apps).', example: 'x-waitroom-pass' }),
  WAITING_PAGE_URL: optionalUrl({
    default: '',
    desc: 'Absolute URL of the waiting page; page requests refused by GET /verify are sent there with ?return_to=. Empty: they get the JSON 401 too.',
    example: 'https://queue.example.com/',
  }),
  SITE_API_KEYS: str({
    default: '',
    desc: 'Comma-separated bearer keys the protected site uses for POST /passes/done and GET /passes/stats (several for rotation; each at least 32 bytes in production). Empty disables those endpoints.',
    example: 'output of: openssl rand -base64 32',
  }),
  PASS_REVOCATION_REFRESH_MS: positiveInt({
    default: 5000,
    desc: 'Shortest period, in ms, between two re-reads of a queue\'s revoked passes that the change log asks for; pub/sub delivers each revocation first, and STATE_RESYNC_MS bounds the re-read of a quiet queue.',
    example: '5000',
  }),
  PASS_VERIFY_CACHE_SIZE: nonNegativeInt({
    default: 10000,
    desc: 'Passes whose signature the gate remembers (per replica), so repeat requests skip the public-key check; 0 disables.',
    example: '10000',
  }),
  PASS_JWKS_MAX_AGE: nonNegativeInt({ default: 300, desc: 'Cache-Control max-age of /.well-known/jwks.json, in seconds.', example: '300' }),
  // --- limits and abuse (README "Limits, the ticket cookie and the challenge") ---
  JOIN_LIMIT_BURST: nonNegativeInt({
    default: 200,
    desc: 'Joins one client address may make at once, shared by all replicas (a token bucket); sized for hundreds of visitors behind one NAT address. 0 turns the join limit off.',
    example: '200',
  }),
  JOIN_LIMIT_RATE: positiveNumber({
    default: 2,
    desc: 'Sustained joins per second one client address may make once its burst is spent (the bucket refill rate).',
    example: '2',
  }),
  CLAIM_LIMIT_PER_MINUTE: nonNegativeInt({
    default: 300,
    desc: 'POST /claim requests one client address may make per minute, shared by all replicas; 0 turns it off.',
    example: '300',
  }),
  CHALLENGE_MODE: challengeMode({
    default: 'off',
    desc: 'ALTCHA proof-of-work on POST /join: "off", "always", or "auto" (asked only while joins per second over the queue exceed CHALLENGE_AUTO_JOINS_PER_SECOND).',
    example: 'auto',
  }),
  CHALLENGE_AUTO_JOINS_PER_SECOND: positiveNumber({
    default: 50,
    desc: 'In CHALLENGE_MODE=auto, the queue-wide join rate (joins per second, all replicas) above which joins must solve a challenge.',
    example: '50',
  }),
  CHALLENGE_COST: positiveInt({
    default: 5000,
    desc: 'PBKDF2/SHA-256 iterations per attempt of the ALTCHA challenge (256 attempts on average): 5000 took a median 0.6 s on one server core (docs/admission.md); the server checks a solution with one attempt.',
    example: '5000',
  }),
  CHALLENGE_TTL: positiveInt({ default: 300, desc: 'Seconds a challenge may be solved and used in; a used solution is remembered this long and refused again.', example: '300' }),
  FORGERY_LIMIT: nonNegativeInt({
    default: 100,
    desc: 'Forged or tampered tokens (bad signature, malformed) one client address may present per minute on one replica before it is refused for FORGERY_BLOCK_SECONDS; high enough that visitors behind one NAT address holding tokens from before a JWT_SECRET rotation are not caught. 0 turns it off.',
    example: '100',
  }),
  FORGERY_BLOCK_SECONDS: positiveInt({ default: 300, desc: 'How long a client address caught forging tokens is refused (429 forgery_blocked).', example: '300' }),
  PASS_MAX_CLIENTS: nonNegativeInt({
    default: 6,
    desc: 'Distinct client addresses one pass may be used from within PASS_SHARING_WINDOW before it is revoked (sharing detection); 0 turns it off.',
    example: '6',
  }),
  PASS_SHARING_WINDOW: positiveInt({ default: 900, desc: 'Seconds over which a pass\'s distinct clients are counted, from its first use at the gate.', example: '900' }),
  PASS_SHARING_FLUSH_MS: positiveInt({ default: 1000, desc: 'How often each gate sends the (pass, client) pairs it saw to the shared count, in ms; never a Redis call per /verify.', example: '1000' }),
  PASS_BIND_PREFIX: bool({
    default: false,
    desc: 'Bind each pass to the address prefix it was claimed from (/24 for IPv4, /64 for IPv6): the gate refuses it elsewhere. Off by default: mobile visitors change address.',
    example: 'false',
  }),
  HTTP_HEADERS_TIMEOUT_MS: positiveInt({
    default: 10000,
    desc: 'A connection that has not sent complete request headers within this many ms is closed (checked every second).',
    example: '10000',
  }),
  HTTP_MAX_CONNECTIONS_PER_IP: nonNegativeInt({
    default: 1024,
    desc: 'Open connections one peer address may hold on one replica; more are closed at once. Applies only with TRUST_PROXY=0 (behind a proxy every peer is the proxy). 0 turns it off.',
    example: '1024',
  }),
} as const;

type Specs = typeof specs;
type Cleaned = { readonly [K in keyof Specs]: Specs[K] extends { _parse: (...a: never[]) => infer T } ? T : never };

export interface Config {
  readonly nodeEnv: 'development' | 'test' | 'production';
  readonly host: string;
  readonly port: number;
  /** 0: /metrics on `port`; otherwise its own listener. */
  readonly metricsPort: number;
  readonly redisUrl: string;
  /** '' when unset. */
  readonly redisTlsCaFile: string;
  readonly jwtSecret: string;
  readonly queueId: string;
  readonly windowSize: number;
  readonly windowIntervalMs: number;
  readonly activeWindowCount: number;
  readonly ticketTtlSeconds: number;
  readonly tokenCacheSize: number;
  readonly leaseTtlMs: number;
  readonly leaseRenewMs: number;
  readonly stateRefreshMs: number;
  /** Full re-read period of every queue on each replica (STATE_RESYNC_MS, 0 resolved to 30 x STATE_REFRESH_MS). */
  readonly stateResyncMs: number;
  readonly stateMaxStalenessMs: number;
  /** JOIN_DURABILITY: what a join waits for; undefined for none. */
  readonly joinDurability: JoinDurability | undefined;
  readonly shutdownDelayMs: number;
  readonly shutdownTimeoutMs: number;
  readonly logLevel: string;
  readonly logFormat: 'json' | 'pretty';
  readonly logSampleRate: number;
  /** Proxies in front that append to X-Forwarded-For (0: use the socket address). */
  readonly trustProxy: number;
  readonly targetUrl: string;
  // visitor side: server-sent events, waiting page, branding, operator view
  readonly sseHeartbeatMs: number;
  readonly sseRetryMs: number;
  readonly sseMaxStreamsPerIp: number;
  readonly sseMaxStreams: number;
  /** SSE_MEMORY_HIGH_WATER and SSE_HEAP_HIGH_WATER: internal/health/memory-pressure.ts. */
  readonly sseMemoryHighWater: number;
  readonly sseHeapHighWater: number;
  readonly brandTitle: string;
  readonly brandMessage: string;
  readonly brandLogoUrl: string;
  readonly brandPrimaryColor: string;
  readonly brandBackgroundColor: string;
  readonly adminToken: string;
  /** Every admin API token with its name (ADMIN_TOKENS plus ADMIN_TOKEN as "admin"). */
  readonly adminTokens: ReadonlyArray<{ readonly name: string; readonly token: string }>;
  /** Entries kept per queue event stream (docs/events.md). */
  readonly eventStreamMaxLength: number;
  readonly webhooks: {
    readonly allowPrivateNetworks: boolean;
    readonly connectTimeoutMs: number;
    readonly timeoutMs: number;
    readonly retryBaseMs: number;
    readonly retryMaxMs: number;
    readonly retryForMs: number;
    readonly disableAfterMs: number;
    readonly pollMs: number;
  };
  // --- admission ---
  readonly passKeysDir: string;
  readonly passKeysReloadMs: number;
  readonly passTtlSeconds: number;
  readonly passIssuer: string;
  readonly passAudience: string;
  readonly passClaimPolicy: 'same' | 'refuse';
  readonly passCookieName: string;
  readonly passCookieDomain: string;
  readonly passCookieSecure: boolean;
  readonly passHeader: string;
  readonly waitingPageUrl: string;
  readonly siteApiKeys: readonly string[];
  readonly passRevocationRefreshMs: number;
  readonly passVerifyCacheSize: number;
  readonly passJwksMaxAgeSeconds: number;
  // --- limits and abuse ---
  readonly joinLimitBurst: number;
  readonly joinLimitRate: number;
  readonly claimLimitPerMinute: number;
  readonly challengeMode: 'off' | 'always' | 'auto';
  readonly challengeAutoJoinsPerSecond: number;
  readonly challengeCost: number;
  readonly challengeTtlSeconds: number;
  readonly forgeryLimit: number;
  readonly forgeryBlockSeconds: number;
  readonly passMaxClients: number;
  readonly passSharingWindowSeconds: number;
  readonly passSharingFlushMs: number;
  readonly passBindPrefix: boolean;
  readonly httpHeadersTimeoutMs: number;
  readonly httpMaxConnectionsPerIp: number;
  /** Non-fatal findings, logged once at start. */
  readonly warnings: readonly string[];
}

/** Thrown for an invalid environment; the message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: Readonly<Record<string, string>>) {
    super(
      'invalid configuration:\n' +
        Object.entries(problems)
          .map(([name, why]) => `  ${name}: ${why}`)
          .join('\n'),
    );
    this.name = 'ConfigError';
  }
}

/** Descriptions and examples of every variable, for docs and `--help`. */
export function describeConfig(): Array<{ name: string; desc: string; example: string; default: string }> {
  return Object.entries(specs).map(([name, spec]) => {
    const s = spec as { desc?: string; example?: string; default?: unknown; devDefault?: unknown };
    return {
      name,
      desc: s.desc ?? '',
      example: s.example ?? '',
      default: s.default === undefined ? (s.devDefault === undefined ? '(required)' : '(required in production)') : String(s.default),
    };
  });
}

/**
 * Validates an environment object (never process.env directly) into a frozen Config.
 * Throws ConfigError naming each bad variable.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const problems: Record<string, string> = {};
  // envalid applies devDefault only when NODE_ENV is set; unset means development here
  // (the container image sets NODE_ENV=production).
  const withMode = { ...env, NODE_ENV: env.NODE_ENV || 'development' };
  const raw = cleanEnv(withMode, specs, {
    reporter: ({ errors }) => {
      for (const [name, err] of Object.entries(errors)) {
        if (!err) continue;
        problems[name] = err instanceof EnvMissingError ? 'is required' : err.message;
      }
    },
  }) as unknown as Cleaned;
  // cleanEnv's reporter collected errors instead of exiting; validate cross-variable rules too.
  const warnings: string[] = [];
  const production = withMode.NODE_ENV === 'production';
  if (!problems.JWT_SECRET && typeof raw.JWT_SECRET === 'string') {
    const bytes = Buffer.byteLength(raw.JWT_SECRET, 'utf8');
    if (production && SAMPLE_SECRETS.includes(raw.JWT_SECRET)) {
      problems.JWT_SECRET = 'is a published sample value; generate one with `openssl rand -base64 48`';
    } else if (production && bytes < 32) {
      problems.JWT_SECRET = `must be at least 32 bytes in production (got ${bytes})`;
    } else if (!production && !env.JWT_SECRET) {
      warnings.push('JWT_SECRET is not set: tickets are signed with the built-in development secret (production refuses to start without one)');
    } else if (!production && (bytes < 32 || SAMPLE_SECRETS.includes(raw.JWT_SECRET))) {
      warnings.push('JWT_SECRET is a sample or short value: acceptable for development only');
    }
  }
  if (production && !problems.REDIS_URL && !raw.REDIS_URL) {
    problems.REDIS_URL = 'is required in production (the embedded store is single-replica only)';
  }
  if (!problems.REDIS_URL && raw.REDIS_URL) {
    try {
      parseRedisUrl(raw.REDIS_URL);
    } catch (err) {
      // The message names the problem, never the URL (it may hold a password).
      problems.REDIS_URL = (err as Error).message;
    }
  }
  const leaseTtlMs = raw.LEASE_TTL_MS;
  const leaseRenewMs = raw.LEASE_RENEW_MS === 0 ? Math.max(1, Math.floor(leaseTtlMs / 3)) : raw.LEASE_RENEW_MS;
  if (!problems.LEASE_RENEW_MS && !problems.LEASE_TTL_MS) {
    if (leaseRenewMs < 0 || !Number.isInteger(leaseRenewMs)) problems.LEASE_RENEW_MS = 'must be a non-negative integer';
    else if (leaseRenewMs >= leaseTtlMs) problems.LEASE_RENEW_MS = `must be shorter than LEASE_TTL_MS (${leaseTtlMs})`;
  }
  const stateResyncMs = raw.STATE_RESYNC_MS === 0 ? 30 * raw.STATE_REFRESH_MS : raw.STATE_RESYNC_MS;
  if (!problems.STATE_RESYNC_MS && !problems.STATE_REFRESH_MS && stateResyncMs < raw.STATE_REFRESH_MS) {
    problems.STATE_RESYNC_MS = `must be 0 or at least STATE_REFRESH_MS (${raw.STATE_REFRESH_MS})`;
  }
  if (!problems.STATE_REFRESH_MS && !problems.STATE_MAX_STALENESS_MS && raw.STATE_MAX_STALENESS_MS < 2 * raw.STATE_REFRESH_MS) {
    // One late or failed refresh must not make every replica answer 503 on a quiet queue.
    problems.STATE_MAX_STALENESS_MS = `must be at least twice STATE_REFRESH_MS (${raw.STATE_REFRESH_MS})`;
  }
  let joinDurability: JoinDurability | undefined;
  if (!problems.JOIN_DURABILITY) {
    const mode = raw.JOIN_DURABILITY as JoinDurabilityMode;
    const replicasRaw = raw.JOIN_DURABILITY_REPLICAS;
    const replicas = replicasRaw === '' ? (mode === 'aof' ? 0 : 1) : Number(replicasRaw);
    const least = mode === 'aof' ? 0 : 1;
    if (mode !== 'none' && (!Number.isInteger(replicas) || replicas < least || replicas > 100)) {
      problems.JOIN_DURABILITY_REPLICAS = `must be an integer from ${least} to 100 for JOIN_DURABILITY=${mode}, got "${replicasRaw}"`;
    }
    if (!problems.JOIN_DURABILITY_TIMEOUT_MS && raw.JOIN_DURABILITY_TIMEOUT_MS > 900) {
      problems.JOIN_DURABILITY_TIMEOUT_MS = 'must be at most 900 (a store call gives up after 1000 ms)';
    }
    if (mode !== 'none' && !raw.REDIS_URL && !problems.REDIS_URL) {
      problems.JOIN_DURABILITY = 'needs REDIS_URL (the embedded store keeps nothing beyond this process)';
    }
    if (mode !== 'none') joinDurability = Object.freeze({ mode, replicas, timeoutMs: raw.JOIN_DURABILITY_TIMEOUT_MS });
  }
  if (!problems.TOKEN_CACHE_SIZE && (raw.TOKEN_CACHE_SIZE < 0 || !Number.isInteger(raw.TOKEN_CACHE_SIZE))) {
    problems.TOKEN_CACHE_SIZE = 'must be a non-negative integer';
  }
  if (!problems.SHUTDOWN_DELAY_MS && (raw.SHUTDOWN_DELAY_MS < 0 || !Number.isInteger(raw.SHUTDOWN_DELAY_MS))) {
    problems.SHUTDOWN_DELAY_MS = 'must be a non-negative integer';
  }
  if (!problems.METRICS_PORT && !problems.PORT) {
    const m = raw.METRICS_PORT;
    if (!Number.isInteger(m) || m < 0 || m > 65535) problems.METRICS_PORT = `must be a port number from 1 to 65535, or 0 to serve /metrics on PORT; got "${m}"`;
    else if (m !== 0 && m === raw.PORT) problems.METRICS_PORT = `must differ from PORT (${raw.PORT}); 0 serves /metrics on PORT`;
  }
  if (!problems.ADMIN_TOKEN && raw.ADMIN_TOKEN && raw.ADMIN_TOKEN.length < 16) {
    problems.ADMIN_TOKEN = 'must be at least 16 characters (or empty to disable the operator view)';
  } else if (!problems.ADMIN_TOKEN && raw.ADMIN_TOKEN && !/^[\x21-\x7e]+$/.test(raw.ADMIN_TOKEN)) {
    // It travels as "Authorization: Bearer <token>": any visible ASCII character works, spaces do not.
    problems.ADMIN_TOKEN = 'must be printable ASCII without spaces';
  }
  const adminTokens: Array<{ name: string; token: string }> = [];
  if (!problems.ADMIN_TOKENS && raw.ADMIN_TOKENS) {
    for (const pair of raw.ADMIN_TOKENS.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
      const colon = pair.indexOf(':');
      const name = colon > 0 ? pair.slice(0, colon) : '';
      const token = colon > 0 ? pair.slice(colon + 1) : '';
      if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) {
        problems.ADMIN_TOKENS = 'must be comma-separated name:token pairs, names of 1-64 characters A-Z a-z 0-9 _ . @ -';
        break;
      }
      if (token.length < 16) {
        problems.ADMIN_TOKENS = `the token named "${name}" must be at least 16 characters`;
        break;
      }
      if (adminTokens.some((t) => t.name === name)) {
        problems.ADMIN_TOKENS = `the name "${name}" is used twice`;
        break;
      }
      adminTokens.push({ name, token });
    }
  }
  if (!problems.ADMIN_TOKEN && raw.ADMIN_TOKEN && !adminTokens.some((t) => t.name === 'admin')) adminTokens.push({ name: 'admin', token: raw.ADMIN_TOKEN });
  // --- admission ---
  const siteApiKeys = (raw.SITE_API_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  if (production && !problems.PASS_KEYS_DIR && !raw.PASS_KEYS_DIR) {
    problems.PASS_KEYS_DIR = 'is required in production (a generated development key is not shared by replicas and not kept secret)';
  }
  if (production && siteApiKeys.some((k) => Buffer.byteLength(k, 'utf8') < 32)) {
    problems.SITE_API_KEYS = 'each key must be at least 32 bytes in production';
  }
  let passAudience = raw.PASS_AUDIENCE;
  // envalid throws when an invalid variable is read, so check problems first.
  const targetUrl = problems.TARGET_URL ? '' : raw.TARGET_URL;
  if (!passAudience) passAudience = targetUrl ? new URL(targetUrl).origin : 'protected-site';
  if (!problems.WAITING_PAGE_URL && !raw.WAITING_PAGE_URL && targetUrl) {
    warnings.push('WAITING_PAGE_URL is not set: page requests refused by the gate get a JSON 401 instead of a redirect to the waiting page');
  }
  if (targetUrl && plainHttpOffLoopback(targetUrl) && !problems.PASS_COOKIE_SECURE && raw.PASS_COOKIE_SECURE) {
    // Browsers refuse a Secure cookie on plain http (Chrome and Firefox allow it
    // only on localhost): the site never sees the pass and sends the visitor back.
    warnings.push(
      `TARGET_URL ${targetUrl} is plain http while PASS_COOKIE_SECURE=true: browsers drop the Secure pass cookie there, so the site would send visitors back to the waiting room; serve the site over https, or set PASS_COOKIE_SECURE=false for plain-http development`,
    );
  }
  if (Object.keys(problems).length > 0) throw new ConfigError(problems);
  // WCAG AA asks 4.5:1 for body text; the page draws white on the accent and dark text on the background.
  if (contrastRatio(raw.BRAND_PRIMARY_COLOR, '#ffffff') < 4.5) {
    warnings.push(`BRAND_PRIMARY_COLOR ${raw.BRAND_PRIMARY_COLOR} has contrast below 4.5:1 with its white text`);
  }
  if (contrastRatio(raw.BRAND_BACKGROUND_COLOR, '#0f172a') < 4.5) {
    warnings.push(`BRAND_BACKGROUND_COLOR ${raw.BRAND_BACKGROUND_COLOR} has contrast below 4.5:1 with the page's dark text`);
  }
  if (raw.ACTIVE_WINDOW_COUNT === 1) {
    warnings.push(
      'ACTIVE_WINDOW_COUNT=1: a ticket admitted just before a tick expires one WINDOW_INTERVAL later; 2 or more is kinder to slow visitors',
    );
  }
  return Object.freeze({
    nodeEnv: raw.NODE_ENV as Config['nodeEnv'],
    host: raw.HOST,
    port: raw.PORT,
    metricsPort: raw.METRICS_PORT,
    redisUrl: raw.REDIS_URL,
    redisTlsCaFile: raw.REDIS_TLS_CA_FILE,
    jwtSecret: raw.JWT_SECRET,
    queueId: raw.QUEUE_ID,
    windowSize: raw.WINDOW_SIZE,
    // Seconds in config (as in the original design), milliseconds inside.
    windowIntervalMs: Math.max(1, Math.round(raw.WINDOW_INTERVAL * 1000)),
    activeWindowCount: raw.ACTIVE_WINDOW_COUNT,
    ticketTtlSeconds: raw.TICKET_TTL,
    tokenCacheSize: raw.TOKEN_CACHE_SIZE,
    leaseTtlMs,
    leaseRenewMs,
    stateRefreshMs: raw.STATE_REFRESH_MS,
    stateResyncMs,
    stateMaxStalenessMs: raw.STATE_MAX_STALENESS_MS,
    joinDurability,
    shutdownDelayMs: raw.SHUTDOWN_DELAY_MS,
    shutdownTimeoutMs: raw.SHUTDOWN_TIMEOUT_MS,
    logLevel: raw.LOG_LEVEL,
    logFormat: raw.LOG_FORMAT as Config['logFormat'],
    logSampleRate: raw.LOG_SAMPLE_RATE,
    trustProxy: raw.TRUST_PROXY,
    targetUrl: raw.TARGET_URL,
    sseHeartbeatMs: raw.SSE_HEARTBEAT_MS,
    sseRetryMs: raw.SSE_RETRY_MS,
    sseMaxStreamsPerIp: raw.SSE_MAX_STREAMS_PER_IP,
    sseMaxStreams: raw.SSE_MAX_STREAMS,
    sseMemoryHighWater: raw.SSE_MEMORY_HIGH_WATER,
    sseHeapHighWater: raw.SSE_HEAP_HIGH_WATER,
    brandTitle: raw.BRAND_TITLE,
    brandMessage: raw.BRAND_MESSAGE,
    brandLogoUrl: raw.BRAND_LOGO_URL,
    brandPrimaryColor: raw.BRAND_PRIMARY_COLOR,
    brandBackgroundColor: raw.BRAND_BACKGROUND_COLOR,
    adminToken: raw.ADMIN_TOKEN,
    adminTokens: Object.freeze(adminTokens.map((t) => Object.freeze(t))),
    eventStreamMaxLength: raw.EVENT_STREAM_MAX_LENGTH,
    webhooks: Object.freeze({
      allowPrivateNetworks: raw.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
      connectTimeoutMs: raw.WEBHOOK_CONNECT_TIMEOUT_MS,
      timeoutMs: raw.WEBHOOK_TIMEOUT_MS,
      retryBaseMs: raw.WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: raw.WEBHOOK_RETRY_MAX_MS,
      retryForMs: raw.WEBHOOK_RETRY_FOR_MS,
      disableAfterMs: raw.WEBHOOK_DISABLE_AFTER_MS,
      pollMs: raw.WEBHOOK_POLL_MS,
    }),
    passKeysDir: raw.PASS_KEYS_DIR,
    passKeysReloadMs: raw.PASS_KEYS_RELOAD_MS,
    passTtlSeconds: raw.PASS_TTL,
    passIssuer: raw.PASS_ISSUER,
    passAudience,
    passClaimPolicy: raw.PASS_CLAIM_POLICY,
    passCookieName: raw.PASS_COOKIE_NAME,
    passCookieDomain: raw.PASS_COOKIE_DOMAIN,
    passCookieSecure: raw.PASS_COOKIE_SECURE,
    passHeader: raw.PASS_HEADER,
    waitingPageUrl: raw.WAITING_PAGE_URL,
    siteApiKeys: Object.freeze(siteApiKeys),
    passRevocationRefreshMs: raw.PASS_REVOCATION_REFRESH_MS,
    passVerifyCacheSize: raw.PASS_VERIFY_CACHE_SIZE,
    passJwksMaxAgeSeconds: raw.PASS_JWKS_MAX_AGE,
    joinLimitBurst: raw.JOIN_LIMIT_BURST,
    joinLimitRate: raw.JOIN_LIMIT_RATE,
    claimLimitPerMinute: raw.CLAIM_LIMIT_PER_MINUTE,
    challengeMode: raw.CHALLENGE_MODE as Config['challengeMode'],
    challengeAutoJoinsPerSecond: raw.CHALLENGE_AUTO_JOINS_PER_SECOND,
    challengeCost: raw.CHALLENGE_COST,
    challengeTtlSeconds: raw.CHALLENGE_TTL,
    forgeryLimit: raw.FORGERY_LIMIT,
    forgeryBlockSeconds: raw.FORGERY_BLOCK_SECONDS,
    passMaxClients: raw.PASS_MAX_CLIENTS,
    passSharingWindowSeconds: raw.PASS_SHARING_WINDOW,
    passSharingFlushMs: raw.PASS_SHARING_FLUSH_MS,
    passBindPrefix: raw.PASS_BIND_PREFIX,
    httpHeadersTimeoutMs: raw.HTTP_HEADERS_TIMEOUT_MS,
    httpMaxConnectionsPerIp: raw.HTTP_MAX_CONNECTIONS_PER_IP,
    warnings: Object.freeze(warnings),
  });
}
