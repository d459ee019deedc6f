import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { TokenError } from '../errors/errors';
import { HmacSha256 } from './hmac-sha256';
import { VerifiedTokens } from './verified-tokens';

/** What a visitor's ticket token proves. */
export interface TicketClaims {
  /** Queue id. */
  readonly queue: string;
  /** Ticket number, 1-based, unique within (queue, epoch). */
  readonly ticket: number;
  /** Epoch of the queue state the ticket was issued against. */
  readonly epoch: string;
  /** Issued at, seconds since the Unix epoch. */
  readonly iat: number;
  /** Expiry, seconds since the Unix epoch. */
  readonly exp: number;
}

const ISSUER = 'waitroom';
/** base64url of {"alg":"HS256","typ":"JWT"}, the header jsonwebtoken writes. */
const HS256_HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' }), 'utf8').toString('base64url');
const TYPE = 'waitroom-ticket';
/** The payload's JSON after exp: the same for every ticket. */
const PAYLOAD_TAIL = `,"typ":${JSON.stringify(TYPE)},"iss":${JSON.stringify(ISSUER)}}`;
const ASCII = /^[\x00-\x7f]*$/;
/** More queues than a deployment defines (docs/benchmarks.md measures 1,000). */
const MAX_PAYLOAD_PARTS = 4096;

/** The JSON of a ticket payload before the ticket number (head) and between it and iat (middle). */
interface PayloadParts {
  readonly epoch: string;
  readonly head: string;
  readonly middle: string;
  /** Both are ASCII, so the whole payload is. */
  readonly ascii: boolean;
}

/**
 * Signs and verifies ticket tokens (HS256 JWT).
 *
 * The secret is turned into a KeyObject once: given a string or Buffer,
 * jsonwebtoken first tries to parse it as a PEM key, which measured ~340 µs per
 * call on this design's target machine versus ~6 µs with a KeyObject.
 * Verification pins the algorithm list to HS256, so `alg: none` and RS/HS
 * confusion tokens are refused.
 */
export class TicketTokens {
  private readonly key: KeyObject;
  /** The signature of sign(): HMAC-SHA256 with the same secret, made without a stream object per call. */
  private readonly mac: HmacSha256;
  /**
   * Tokens that passed full verification, by their exact text. A waiting visitor
   * presents the same token on every poll; a hit skips jsonwebtoken's ~6-9 µs
   * (a third of a /status request's CPU) and still checks expiry. Bounded,
   * oldest first out: at ~450 bytes an entry, 32,768 entries is ~15 MB.
   */
  private readonly verified: VerifiedTokens<TicketClaims>;
  /** The payload's fixed JSON for each queue's current epoch (payloadParts). */
  private readonly parts = new Map<string, PayloadParts>();

  constructor(
    secret: string,
    readonly ttlSeconds: number,
    cacheSize = 32_768,
  ) {
    const bytes = Buffer.from(secret, 'utf8');
    this.key = createSecretKey(bytes);
    this.mac = new HmacSha256(bytes);
    this.verified = new VerifiedTokens<TicketClaims>(cacheSize);
  }

  /**
   * Signs a ticket. The JWS is assembled directly (a fixed header, the JSON
   * payload, HMAC-SHA256 over both) because jsonwebtoken's
   * sign re-validates its options and payload on every call: measured ~4.5 µs
   * against ~3 µs, on /join's ~29 µs. The payload's JSON is written from parts
   * made once per queue and epoch (payloadParts): JSON.stringify of the 7-field
   * claims object was a fifth of sign in a /join profile, ~0.8 µs. The output is
   * byte-for-byte what `jwt.sign(claims, key, { algorithm: 'HS256', issuer })`
   * gives (test/unit/ticket-token.test.ts proves it), and every token is still
   * verified by jsonwebtoken.
   */
  sign(queue: string, ticket: number, epoch: string, nowMs: number = Date.now()): { token: string; claims: TicketClaims } {
    const iat = Math.floor(nowMs / 1000);
    const claims: TicketClaims = { queue, ticket, epoch, iat, exp: iat + this.ttlSeconds };
    let payload: string;
    let encoding: 'latin1' | 'utf8' = 'utf8';
    const parts = Number.isSafeInteger(ticket) && Number.isSafeInteger(iat) && Number.isSafeInteger(claims.exp) ? this.payloadParts(queue, epoch) : undefined;
    if (parts) {
      // The numbers are safe integers, whose JSON is their decimal text.
      payload = `${parts.head}${ticket}${parts.middle}${iat},"exp":${claims.exp}${PAYLOAD_TAIL}`;
      // ASCII text has the same bytes in latin1, which node encodes without measuring UTF-8 first.
      if (parts.ascii) encoding = 'latin1';
    } else {
      payload = JSON.stringify({ queue, ticket, epoch, iat, exp: claims.exp, typ: TYPE, iss: ISSUER });
    }
    const input = `${HS256_HEADER}.${Buffer.from(payload, encoding).toString('base64url')}`;
    // The signing input is base64url and a dot: ASCII, as HmacSha256 needs.
    const token = `${input}.${this.mac.base64url(input)}`;
    return { token, claims };
  }

  /**
   * The payload's JSON around the ticket and iat, for one queue and epoch: a replica
   * signs for a few queues, each in one epoch at a time, so one entry per queue.
   */
  private payloadParts(queue: string, epoch: string): PayloadParts {
    const p = this.parts.get(queue);
    if (p !== undefined && p.epoch === epoch) return p;
    const head = `{"queue":${JSON.stringify(queue)},"ticket":`;
    const middle = `,"epoch":${JSON.stringify(epoch)},"iat":`;
    const made: PayloadParts = { epoch, head, middle, ascii: ASCII.test(head) && ASCII.test(middle) };
    // Bounded like the queues a deployment defines; past that, a new queue starts a new map.
    if (this.parts.size >= MAX_PAYLOAD_PARTS) this.parts.clear();
    this.parts.set(queue, made);
    return made;
  }

  /** Verifies a token; throws TokenError (401) with a precise code otherwise. */
  verify(token: string, nowMs: number = Date.now()): TicketClaims {
    const hit = this.remembered(token, nowMs);
    if (hit) return hit;
    const claims = this.verifyFully(token, nowMs);
    this.verified.set(token, claims);
    return claims;
  }

  /** The claims of `token` if it was verified before and has not expired since (an expired one is forgotten). */
  private remembered(token: string, nowMs: number): TicketClaims | undefined {
    const hit = this.verified.get(token);
    if (!hit) return undefined;
    // Same rule as jsonwebtoken: expired once now >= exp.
    if (Math.floor(nowMs / 1000) < hit.exp) return hit;
    this.verified.delete(token);
    return undefined;
  }

  /**
   * verify(bearerToken(header)), with the token of a repeat poll found before the
   * header's syntax is checked: a token verified before passed that check already,
   * and the check's regular expression over ~250 characters was ~0.3 µs of a
   * /status request in a profile. Anything else takes the full path, with its
   * errors.
   */
  verifyBearer(header: string | undefined, nowMs: number = Date.now()): TicketClaims {
    const candidate = bearerCandidate(header);
    return (candidate === undefined ? undefined : this.remembered(candidate, nowMs)) ?? this.verify(bearerToken(header), nowMs);
  }

  private verifyFully(token: string, nowMs: number): TicketClaims {
    let p: jwt.JwtPayload | string;
    try {
      p = jwt.verify(token, this.key, { algorithms: ['HS256'], issuer: ISSUER, clockTimestamp: Math.floor(nowMs / 1000) });
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) throw new TokenError('token_expired', 'the ticket has expired; join again');
      throw new TokenError('invalid_token', 'the ticket token is malformed or its signature is not valid');
    }
    if (
      typeof p !== 'object' ||
      p.typ !== TYPE ||
      typeof p.queue !== 'string' ||
      typeof p.epoch !== 'string' ||
      !Number.isSafeInteger(p.ticket) ||
      (p.ticket as number) < 1 ||
      typeof p.iat !== 'number' ||
      typeof p.exp !== 'number'
    ) {
      throw new TokenError('invalid_token', 'the token is not a waitroom ticket');
    }
    return Object.freeze({ queue: p.queue, ticket: p.ticket as number, epoch: p.epoch, iat: p.iat, exp: p.exp });
  }
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * A compact JWS: base64url parts joined by dots, so JSON and a cookie value carry it as
 * it is. TicketTokens.sign makes only such tokens (test/unit/ticket-token.test.ts), so a
 * caller holding a token it just signed may skip this check (~0.2 µs over ~250 characters).
 */
export function isCompactJws(token: string): boolean {
  return COMPACT_JWS.test(token);
}

/**
 * What bearerToken would return for a well-formed header, without checking the
 * token's characters: "Bearer" in any case, one or more spaces, the rest with
 * trailing white space removed. Only for looking up a token verified before: that
 * is sound because a verified token is a compact JWS (base64url and dots only,
 * which jsonwebtoken checks), so every candidate the strict syntax rejects holds a
 * character no remembered token has, and misses.
 */
export function bearerCandidate(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8 || header.charCodeAt(6) !== 32) return undefined;
  if (!header.startsWith('Bearer') && header.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  let i = 7;
  while (header.charCodeAt(i) === 32) i++;
  const token = header.slice(i).trimEnd();
  return token === '' ? undefined : token;
}

/** Extracts the token from `Authorization: Bearer <token>`; throws a 401 TokenError otherwise. */
export function bearerToken(header: string | undefined): string {
  if (!header) throw new TokenError('missing_token', 'send the ticket as Authorization: Bearer <token>');
  // RFC 6750's b64token: base64 and base64url alphabets, "~", then "=" padding.
  const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(header);
  if (!m || !m[1]) throw new TokenError('invalid_token', 'the Authorization header is not a Bearer token');
  return m[1];
}
