import { createHmac } from 'node:crypto';
import { createChallenge, verifySolution, type Challenge } from 'altcha-lib';
import type { ChallengeBody } from './abuse-schemas';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { ChallengeError } from '../errors/errors';
import type { AbuseStore } from './abuse-store';
import type { JoinRateMeter } from './join-rate';
import type { LimitsProvider } from './queue-limits';

export interface ChallengeOptions {
  /** Secret shared by every replica (derived from JWT_SECRET), so any replica verifies any challenge. */
  readonly secret: string;
  /** PBKDF2 iterations per attempt. */
  readonly cost: number;
  readonly ttlSeconds: number;
  readonly store: AbuseStore;
  readonly limits: LimitsProvider;
  readonly rate: JoinRateMeter;
  /** Where the page fetches a challenge (the widget's `challenge` attribute). */
  readonly challengeUrl: string;
  readonly now?: () => number;
  readonly onResult?: (result: 'issued' | 'solved' | 'missing' | 'invalid' | 'replayed') => void;
}

/** Header a join carries the solved challenge in (the widget's base64 payload). */
export const CHALLENGE_HEADER = 'x-waitroom-challenge';

/** A payload is a few hundred bytes; anything much longer is not one. */
const MAX_PAYLOAD = 4096;

/** The PBKDF2/SHA-256 derivation both the widget's worker and altcha-lib implement. */
const ALGORITHM = 'PBKDF2/SHA-256';

/**
 * The optional proof-of-work on POST /join, with ALTCHA (altcha-lib here, the
 * altcha widget on the waiting page, served by this server: no third party).
 * A challenge is signed with a secret every replica derives from JWT_SECRET, so
 * any replica verifies what another issued; a solved challenge is recorded in
 * the store (SET NX with its remaining lifetime) and refused if presented again.
 * Mode per queue: off, always, or auto (while the queue-wide join rate, read
 * from the ticket counter at no cost, is above the threshold).
 */
export class JoinChallenge {
  private readonly hmacSecret: string;
  private readonly hmacKeySecret: string;
  private readonly now: () => number;

  constructor(private readonly o: ChallengeOptions) {
    this.hmacSecret = createHmac('sha256', o.secret).update('waitroom-altcha-challenge').digest('hex');
    this.hmacKeySecret = createHmac('sha256', o.secret).update('waitroom-altcha-key').digest('hex');
    this.now = o.now ?? Date.now;
  }

  /** True when a join to `queueId` must carry a solved challenge now. */
  required(queueId: string): boolean {
    const c = this.o.limits.limitsFor(queueId).challenge;
    if (c.mode === 'always') return true;
    if (c.mode === 'auto') return this.o.rate.perSecond(this.now()) > c.autoJoinsPerSecond;
    return false;
  }

  /** A new challenge (GET /challenge). */
  async create(queueId: string): Promise<ChallengeBody> {
    const ch = await createChallenge({
      algorithm: ALGORITHM,
      cost: this.o.cost,
      deriveKey,
      expiresAt: Math.floor(this.now() / 1000) + this.o.ttlSeconds,
      hmacSignatureSecret: this.hmacSecret,
      hmacKeySignatureSecret: this.hmacKeySecret,
      data: { queue: queueId },
    });
    this.o.onResult?.('issued');
    return ch;
  }

  /** Checks the join's challenge when one is required; throws ChallengeError (403) otherwise. */
  async check(queueId: string, header: string | string[] | undefined): Promise<void> {
    if (!this.required(queueId)) return;
    const raw = Array.isArray(header) ? header[0] : header;
    if (!raw) {
      this.o.onResult?.('missing');
      throw new ChallengeError('challenge_required', `joining needs a solved challenge right now: fetch one from ${this.o.challengeUrl}, solve it and send it in the X-Waitroom-Challenge header`, this.o.challengeUrl);
    }
    const payload = raw.length <= MAX_PAYLOAD ? parsePayload(raw) : undefined;
    const invalid = () => {
      this.o.onResult?.('invalid');
      return new ChallengeError('challenge_invalid', 'the challenge solution is not valid, expired or for another queue; fetch a new one', this.o.challengeUrl);
    };
    if (!payload || payload.challenge.parameters.data?.queue !== queueId) throw invalid();
    let ok = false;
    try {
      const r = await verifySolution({
        challenge: payload.challenge,
        solution: payload.solution,
        deriveKey,
        hmacSignatureSecret: this.hmacSecret,
        hmacKeySignatureSecret: this.hmacKeySecret,
      });
      ok = r.verified;
    } catch {
      ok = false;
    }
    if (!ok) throw invalid();
    // Signed, so the nonce and expiry are ours: the nonce names the challenge.
    const p = payload.challenge.parameters;
    const ttlMs = Math.max(1000, (p.expiresAt ?? 0) * 1000 - this.now());
    if (!(await this.o.store.useChallenge(p.nonce, ttlMs))) {
      this.o.onResult?.('replayed');
      throw new ChallengeError('challenge_replayed', 'this challenge solution was already used; solve a new one', this.o.challengeUrl);
    }
    this.o.onResult?.('solved');
  }
}

interface Payload {
  challenge: Challenge;
  solution: { counter: number; derivedKey: string };
}

function parsePayload(raw: string): Payload | undefined {
  try {
    const p = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as Payload;
    const params = p?.challenge?.parameters;
    if (!params || typeof params.nonce !== 'string' || !/^[0-9a-f]{8,128}$/i.test(params.nonce)) return undefined;
    if (typeof p.challenge.signature !== 'string' || typeof p.solution !== 'object' || p.solution === null) return undefined;
    if (params.algorithm !== ALGORITHM) return undefined;
    return p;
  } catch {
    return undefined;
  }
}
