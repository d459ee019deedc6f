import { SignJWT } from 'jose';
import { NotFoundError } from '../errors/errors';
import type { KeyRing } from './key-ring';
import { REVOCATIONS_TTL_SECONDS, REVOCATIONS_TYP, type RevocationListClaims } from './pass-check';
import type { RevocationList } from './revocation-list';

export interface RevocationFeedOptions {
  readonly ring: KeyRing;
  /** The revocations of a queue this replica serves; undefined for any other id. */
  readonly revocations: (queueId: string) => RevocationList | undefined;
  readonly issuer: string;
  readonly now?: () => number;
}

/**
 * A re-signed copy this old at most is served when nothing changed: edges poll
 * every ~2 s per data centre, so this saves a signature (~50 µs) on most polls
 * while keeping iat within 5 s of the answer.
 */
const MAX_REUSE_MS = 5_000;

/**
 * GET /passes/revoked?queue=<id>: a queue's revoked, unexpired pass ids as a JWT
 * signed with the current pass key (typ REVOCATIONS_TYP), so an edge gate
 * checks it against the JWKS it already trusts and anyone (a CDN included) may
 * cache or relay it. It is re-signed as soon as the in-memory set changes, so it
 * is exactly as fresh as the replica's own gate: pub/sub brings a revocation
 * within milliseconds, the change log a lost one within STATE_REFRESH_MS + PASS_REVOCATION_REFRESH_MS.
 * A key rotation is followed too (the signed copy is dropped on every change).
 */
export class RevocationFeed {
  private readonly memo = new Map<string, { token: string; list: RevocationList; version: number; atMs: number }>();
  private readonly now: () => number;

  constructor(private readonly o: RevocationFeedOptions) {
    this.now = o.now ?? Date.now;
    o.ring.onChange(() => this.memo.clear());
  }

  /** The signed list of one queue; NotFoundError for a queue this replica does not serve. */
  async current(queueId: string): Promise<string> {
    const list = this.o.revocations(queueId);
    if (!list) throw new NotFoundError(`no queue "${queueId}" here`);
    const nowMs = this.now();
    const version = list.version();
    const m = this.memo.get(queueId);
    if (m && m.list === list && m.version === version && nowMs - m.atMs < MAX_REUSE_MS) return m.token;
    const key = this.o.ring.signing();
    const iat = Math.floor(nowMs / 1000);
    const claims: Omit<RevocationListClaims, 'iss' | 'exp'> = { issuedAtMs: nowMs, queue: queueId, revoked: list.unexpired(nowMs) };
    const token = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: REVOCATIONS_TYP })
      .setIssuer(this.o.issuer)
      .setIssuedAt(iat)
      .setExpirationTime(iat + REVOCATIONS_TTL_SECONDS)
      .sign(key.privateKey as NonNullable<typeof key.privateKey>);
    this.memo.set(queueId, { token, list, version, atMs: nowMs });
    return token;
  }
}
