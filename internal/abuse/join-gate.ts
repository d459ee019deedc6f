import type { IncomingMessage } from 'node:http';
import type { JoinAdmission, JoinGate } from '../http/api';
import { clientIp } from '../http/client-ip';
import { CHALLENGE_HEADER, type JoinChallenge } from './challenge';
import type { JoinLimiter } from './join-limiter';

/** A join with nothing to pay: shared, so frozen (the API copies its headers before adding Set-Cookie). */
export const FREE_JOIN: JoinAdmission = Object.freeze({ headers: Object.freeze({}) });

/**
 * What a new place costs a client: a token from its address's bucket (refused
 * 429 when spent) and, when the queue asks for one right now, a solved ALTCHA
 * challenge. Without a challenge the token is taken by join.lua with the ticket,
 * in one round trip; with one, the limit runs first (its own call) so a flood
 * cannot make the replica verify proofs of work for it.
 */
export class LimitedJoinGate implements JoinGate {
  constructor(
    private readonly limiter: JoinLimiter,
    private readonly challenge: JoinChallenge,
    private readonly trustProxy: number,
  ) {}

  /** Without a challenge, at once: no promise for the usual join (its await was a turn of the microtask queue). */
  admit(req: IncomingMessage, queueId: string): JoinAdmission | Promise<JoinAdmission> {
    const client = clientIp(req, this.trustProxy);
    if (!this.challenge.required(queueId)) return this.limiter.deferred(queueId, client) ?? FREE_JOIN;
    return this.challenged(req, queueId, client);
  }

  private async challenged(req: IncomingMessage, queueId: string, client: string): Promise<JoinAdmission> {
    const headers = await this.limiter.take(queueId, client);
    await this.challenge.check(queueId, req.headers[CHALLENGE_HEADER]);
    return { headers };
  }
}
