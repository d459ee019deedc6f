/**
 * Typed errors with a stable machine-readable code and an HTTP status. One
 * function (toErrorBody) turns any of them into the single JSON error shape;
 * both the Express error middleware and the hot-path dispatcher use it.
 */
export abstract class WaitroomError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  /** Extra response headers, e.g. Retry-After or WWW-Authenticate. */
  headers(): Record<string, string> {
    return {};
  }
  /** Extra fields placed inside the error object of the body. */
  details(): Record<string, unknown> | undefined {
    return undefined;
  }
}

export class BadRequestError extends WaitroomError {
  readonly code: string;
  readonly status = 400;
  constructor(message: string, code = 'bad_request') {
    super(message);
    this.code = code;
  }
}

const TOKEN_CODES = ['missing_token', 'invalid_token', 'token_expired'] as const;
export type TokenErrorCode = (typeof TOKEN_CODES)[number];

/** 401 for a missing, malformed, expired, wrongly signed or wrong-algorithm token. */
export class TokenError extends WaitroomError {
  readonly status = 401;
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
  }
  override headers(): Record<string, string> {
    // RFC 6750 section 3: error="invalid_token" covers malformed, expired and bad signatures.
    if (this.code === 'missing_token') return { 'WWW-Authenticate': 'Bearer realm="waitroom"' };
    return { 'WWW-Authenticate': `Bearer realm="waitroom", error="invalid_token", error_description="${this.message.replace(/"/g, "'")}"` };
  }
}

export class ForbiddenError extends WaitroomError {
  readonly status = 403;
  constructor(
    readonly code: string,
    message: string,
    private readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
  override details(): Record<string, unknown> | undefined {
    return this.extra;
  }
}

/** 409: the token belongs to an earlier epoch of the queue (Redis lost the queue). */
export class QueueResetError extends WaitroomError {
  readonly code = 'queue_reset';
  readonly status = 409;
  constructor() {
    super('the queue was reset since this ticket was issued; its place cannot be honoured, please join again');
  }
}

export class NotFoundError extends WaitroomError {
  readonly code = 'not_found';
  readonly status = 404;
  constructor(message = 'no such route') {
    super(message);
  }
}

/** 404 for a queue id no replica serves (never created, or deleted). */
export class QueueNotFoundError extends WaitroomError {
  readonly code = 'queue_not_found';
  readonly status = 404;
  constructor(id: string) {
    super(`no queue "${id}"`);
  }
}

/** 410: the queue takes no new joins (closed, e.g. sold out) or was deleted. */
export class QueueClosedError extends WaitroomError {
  readonly code = 'queue_closed';
  readonly status = 410;
  constructor(id: string, why: 'closed' | 'deleted' = 'closed') {
    super(why === 'closed' ? `queue "${id}" is closed and takes no new visitors` : `queue "${id}" no longer exists`);
  }
}

/** 400 for a body or parameter that fails its schema; lists every failing field. */
export class InvalidRequestError extends WaitroomError {
  readonly code = 'invalid_request';
  readonly status = 400;
  constructor(
    message: string,
    readonly fields: ReadonlyArray<{ readonly path: string; readonly message: string }>,
  ) {
    super(message);
  }
  override details(): Record<string, unknown> {
    return { fields: this.fields };
  }
}

/** 412: If-Match named a version the resource no longer has. */
export class PreconditionFailedError extends WaitroomError {
  readonly code = 'precondition_failed';
  readonly status = 412;
  constructor(private readonly current: number) {
    super('the queue changed since you read it; GET it again and re-apply your change');
  }
  override headers(): Record<string, string> {
    return { ETag: `"${this.current}"` };
  }
}

export class MethodNotAllowedError extends WaitroomError {
  readonly code = 'method_not_allowed';
  readonly status = 405;
  constructor(private readonly allow: string) {
    super(`method not allowed; use ${allow}`);
  }
  override headers(): Record<string, string> {
    return { Allow: this.allow };
  }
}

export class PayloadTooLargeError extends WaitroomError {
  readonly code = 'payload_too_large';
  readonly status = 413;
  constructor(limitBytes: number) {
    super(`request body larger than ${limitBytes} bytes`);
  }
}

/**
 * 429. `rate_limited` for capacity caps (event streams, admin logins);
 * `too_many_requests` for the per-client join and claim limits; `forgery_blocked`
 * for a client refused after presenting forged tokens.
 */
export class TooManyRequestsError extends WaitroomError {
  readonly status = 429;
  constructor(
    message: string,
    private readonly retryAfterSeconds: number,
    readonly code: 'rate_limited' | 'too_many_requests' | 'forgery_blocked' = 'rate_limited',
    /** Further headers, e.g. the RateLimit ones. */
    private readonly extraHeaders: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
  override headers(): Record<string, string> {
    return { ...this.extraHeaders, 'Retry-After': String(this.retryAfterSeconds) };
  }
}

/** 403 on POST /join when a proof-of-work challenge is needed, or the one sent is not acceptable. */
export class ChallengeError extends WaitroomError {
  readonly status = 403;
  constructor(
    readonly code: 'challenge_required' | 'challenge_invalid' | 'challenge_replayed',
    message: string,
    private readonly challengeUrl: string,
  ) {
    super(message);
  }
  override details(): Record<string, unknown> {
    return { challengeUrl: this.challengeUrl };
  }
}

/** 503 with Retry-After: the service cannot answer correctly right now. */
export class UnavailableError extends WaitroomError {
  readonly status = 503;
  constructor(
    readonly code: 'store_unavailable' | 'state_stale' | 'state_corrupt' | 'shutting_down' | 'not_ready',
    message: string,
    readonly retryAfterSeconds = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  override headers(): Record<string, string> {
    return { 'Retry-After': String(this.retryAfterSeconds) };
  }
}

// --- admission (docs/admission.md) ---

const PASS_CODES = ['pass_missing', 'pass_invalid', 'pass_expired', 'pass_unknown_key', 'pass_wrong_audience', 'pass_revoked', 'pass_wrong_client', 'pass_wrong_queue'] as const;
export type PassErrorCode = (typeof PASS_CODES)[number];

/**
 * A request the gate refuses: 401 for a missing, malformed, expired, foreign or
 * unverifiable pass; 403 for a pass that is valid but was marked done (revoked).
 */
export class PassError extends WaitroomError {
  readonly status: number;
  constructor(
    readonly code: PassErrorCode,
    message: string,
  ) {
    super(message);
    // 403: the pass is genuine but not honoured (used up, shared, from another network, or for another queue).
    this.status = code === 'pass_revoked' || code === 'pass_wrong_client' || code === 'pass_wrong_queue' ? 403 : 401;
  }
  override headers(): Record<string, string> {
    return this.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="waitroom-pass"' } : {};
  }
}

/** 401 for the site-to-waitroom endpoints (POST /passes/done, GET /passes/stats). */
export class SiteAuthError extends WaitroomError {
  readonly status = 401;
  constructor(
    readonly code: 'missing_site_key' | 'invalid_site_key',
    message: string,
  ) {
    super(message);
  }
  override headers(): Record<string, string> {
    return { 'WWW-Authenticate': 'Bearer realm="waitroom-site"' };
  }
}

/** 409 for a request that conflicts with recorded state, e.g. a ticket already claimed. */
export class ConflictError extends WaitroomError {
  readonly status = 409;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class InternalError extends WaitroomError {
  readonly code = 'internal';
  readonly status = 500;
  constructor() {
    super('internal error');
  }
}

export interface ErrorBody {
  error: { code: string; message: string; [k: string]: unknown };
}

/**
 * Maps anything thrown to a WaitroomError: typed errors pass through; body-parser
 * style errors (status/type) become 400/413; anything else is a 500 (and is logged
 * with its stack by the caller).
 */
export function toWaitroomError(err: unknown): WaitroomError {
  if (err instanceof WaitroomError) return err;
  const e = err as { status?: number; statusCode?: number; type?: string; limit?: number; expose?: boolean; message?: string };
  const status = e?.status ?? e?.statusCode;
  if (status === 413 || e?.type === 'entity.too.large') return new PayloadTooLargeError(e.limit ?? 0);
  if (e?.type === 'entity.parse.failed') return new BadRequestError('request body is not valid JSON', 'invalid_json');
  if (typeof status === 'number' && status >= 400 && status < 500 && e.expose) {
    return new BadRequestError(e.message ?? 'bad request');
  }
  return new InternalError();
}

export function toErrorBody(err: WaitroomError): ErrorBody {
  return { error: { code: err.code, message: err.message, ...(err.details() ?? {}) } };
}

/** 404 for a webhook endpoint id that does not exist. */
export class WebhookNotFoundError extends WaitroomError {
  readonly code = 'webhook_not_found';
  readonly status = 404;
  constructor(id: string) {
    super(`no webhook "${id}"`);
  }
}

/** 501: this deployment cannot deliver webhooks (the embedded store has no consumer groups). */
export class WebhooksUnavailableError extends WaitroomError {
  readonly code = 'webhooks_unavailable';
  readonly status = 501;
  constructor() {
    super('webhooks need Redis (REDIS_URL): the embedded store has no consumer groups to deliver from');
  }
}
