import type { IncomingMessage } from 'node:http';
import type { JoinGate } from '../http/api';
import { clientIp } from '../http/client-ip';
import { CHALLENGE_HEADER, type JoinChallenge } from './challenge';
import type { JoinLimiter } from './join-limiter';

/**
 * What a new place costs a client: first a token from its address's bucket (one
 * Redis call, refused 429 when spent), then, when the queue asks for one right
 * now, a solved ALTCHA challenge. The limit runs first so a flood cannot make
 * the replica verify proofs of work for it.
 */
export class LimitedJoinGate implements JoinGate {
  constructor(
    private readonly limiter: JoinLimiter,
    private readonly challenge: JoinChallenge,
    private readonly trustProxy: number,
  ) {}

  async admit(req: IncomingMessage, queueId: string): Promise<Record<string, string>> {
    const headers = await this.limiter.take(queueId, clientIp(req, this.trustProxy));
    await this.challenge.check(queueId, req.headers[CHALLENGE_HEADER]);
    return headers;
  }
}
