import { decodeJwt } from 'jose';
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from '../errors/errors';
import type { QueueService } from '../service/queue-service';
import type { PassStats, PassStore } from '../store/pass-store';
import type { TicketTokens } from '../tokens/ticket-token';
import type { PassSigner } from './pass-tokens';
import type { RevocationList } from './revocation-list';
import type { DoneResult } from './admission-schemas';

/** What admission needs of one queue: its service, its pass records and revocations, its target. */
export interface AdmissionQueue {
  readonly service: QueueService;
  readonly passStore: PassStore;
  readonly revocations: RevocationList;
  /** The queue's targetUrl ('' falls back to TARGET_URL). */
  readonly targetUrl: string;
}
import { sameOrigin, stripTokens } from './url-safety';

export interface ClaimResult {
  readonly pass: string;
  /** The pass's exp, seconds since the Unix epoch. */
  readonly expiresAt: number;
  /** Where the page should send the visitor: TARGET_URL (or an allowed return_to) without tokens; '' if none. */
  readonly redirectUrl: string;
  /** 'issued' for a new pass, 'same' when a repeat claim got the stored one. */
  readonly outcome: 'issued' | 'same';
}

/** POST /passes/done's body: its schema (admission-schemas.ts) is what the OpenAPI document shows. */
export type { DoneResult } from './admission-schemas';

export interface AdmissionServiceDeps {
  readonly tokens: TicketTokens;
  /** The queue of a valid ticket (410 queue_closed when it no longer exists). */
  readonly forTicket: (queueId: string) => AdmissionQueue;
  /** A queue named by the site (404 queue_not_found); undefined names the default queue. */
  readonly byId: (queueId: string | undefined) => AdmissionQueue;
  readonly signer: PassSigner;
  readonly policy: 'same' | 'refuse';
  readonly targetUrl: string;
  readonly cookieName: string;
  readonly onClaim?: (result: string) => void;
  readonly onDone?: (outcome: string) => void;
  readonly now?: () => number;
}

/**
 * Admission use cases, independent of HTTP: turning an active ticket into a
 * pass (once per ticket), ending a pass early for the site, and the counters.
 */
export class AdmissionService {
  private readonly now: () => number;

  constructor(private readonly d: AdmissionServiceDeps) {
    this.now = d.now ?? Date.now;
  }

  /**
   * POST /claim. The ticket must verify, belong to this queue's current epoch and
   * be active now (pure arithmetic on the cached window, as for /status). The pass
   * is signed first and then offered to claim-pass.lua, which stores it only if
   * the ticket has no pass yet: concurrent claims sign in parallel but exactly one
   * pass is ever recorded for a ticket.
   */
  async claim(ticketToken: string, returnTo?: string, net?: string): Promise<ClaimResult> {
    const ticket = this.d.tokens.verify(ticketToken);
    const q = this.d.forTicket(ticket.queue);
    const st = q.service.statusOf(ticket);
    if (st.status === 'waiting') {
      this.d.onClaim?.('waiting');
      throw new ForbiddenError('ticket_waiting', st.etaSeconds === null ? `this ticket is not admitted yet; the queue is ${st.state}` : `this ticket is not admitted yet; about ${st.etaSeconds} s to go`, {
        etaSeconds: st.etaSeconds,
        position: st.position,
        ahead: st.ahead,
        pollAfterSeconds: st.pollAfterSeconds,
      });
    }
    if (st.status === 'skipped') {
      this.d.onClaim?.('skipped');
      throw new ConflictError('ticket_skipped', 'this ticket had left the line when its turn came, so its turn was given to the next visitor; join the queue again');
    }
    if (st.status === 'expired') {
      this.d.onClaim?.('expired');
      throw new ForbiddenError('ticket_expired', 'this ticket was admitted but its turn has passed; join the queue again');
    }
    const nowMs = this.now();
    const { token, claims } = await this.d.signer.sign(st.queue, st.ticket, nowMs, net);
    // The claim record lives as long as the ticket token could still be presented.
    const claimTtlMs = Math.max(1000, ticket.exp * 1000 - nowMs);
    const r = await q.passStore.claim(ticket.epoch, ticket.ticket, { jti: claims.jti, token, expMs: claims.exp * 1000 }, claimTtlMs, this.d.policy);
    if (r.outcome === 'refused') {
      this.d.onClaim?.('refused');
      throw new ConflictError('already_claimed', 'this ticket was already claimed: one ticket admits one visitor');
    }
    if (r.outcome === 'full') {
      // Only a ticket whose claim window closed gets here: its place was given to the next visitor.
      this.d.onClaim?.('full');
      throw new ConflictError('capacity_full', 'the site is full and this ticket\'s turn to enter has passed; join the queue again');
    }
    if (r.outcome === 'skipped') {
      this.d.onClaim?.('skipped');
      throw new ConflictError('ticket_skipped', 'this ticket had left the line when its turn came, so its turn was given to the next visitor; join the queue again');
    }
    let expiresAt = claims.exp;
    if (r.outcome === 'same') {
      const stored = decodeJwt(r.pass);
      expiresAt = Number(stored.exp);
      if (!(expiresAt * 1000 > nowMs) || (typeof stored.jti === 'string' && q.revocations.isRevoked(stored.jti))) {
        this.d.onClaim?.('refused');
        throw new ConflictError('already_claimed', "this ticket's pass has expired or its visit has ended; join the queue again");
      }
    }
    this.d.onClaim?.(r.outcome);
    return { pass: r.pass, expiresAt, redirectUrl: this.redirectUrl(returnTo, q.targetUrl), outcome: r.outcome };
  }

  /**
   * TARGET_URL without tokens, or `returnTo` (where the visitor was going when
   * the gate sent them to the queue) if it is on TARGET_URL's origin: never an
   * open redirect.
   */
  redirectUrl(returnTo?: string, queueTarget = ''): string {
    const target = queueTarget || this.d.targetUrl;
    if (returnTo && target && sameOrigin(returnTo, target)) {
      const u = stripTokens(returnTo, [this.d.cookieName]);
      if (u) return u;
    }
    return stripTokens(target, [this.d.cookieName]);
  }

  /** POST /passes/done: the site ends a visit; the pass is revoked and counted once. */
  async done(input: { jti?: unknown; pass?: unknown; outcome?: unknown; queue?: unknown }): Promise<DoneResult> {
    const outcome = input.outcome ?? 'completed';
    if (outcome !== 'completed' && outcome !== 'abandoned') {
      throw new BadRequestError('outcome must be "completed" or "abandoned"', 'invalid_outcome');
    }
    let jti = input.jti;
    let queue = typeof input.queue === 'string' ? input.queue : undefined;
    if (input.queue !== undefined && typeof input.queue !== 'string') throw new BadRequestError('queue must be a queue id', 'invalid_queue');
    if (jti === undefined && typeof input.pass === 'string') {
      try {
        const p = decodeJwt(input.pass);
        jti = p.jti;
        // The pass names its queue in sub ("<queue>:<ticket>").
        if (queue === undefined && typeof p.sub === 'string' && p.sub.lastIndexOf(':') > 0) queue = p.sub.slice(0, p.sub.lastIndexOf(':'));
      } catch {
        throw new BadRequestError('pass is not a JWT', 'invalid_pass');
      }
    }
    const q = this.d.byId(queue);
    if (typeof jti !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(jti)) {
      throw new BadRequestError('send {"jti": "<pass id>"} (the X-Waitroom-Pass-Id header) or {"pass": "<pass>"}', 'invalid_pass_id');
    }
    const r = await q.passStore.done(jti, outcome);
    if (r.outcome === 'unknown') throw new NotFoundError('no such live pass: it was never issued, or it expired');
    if (r.outcome === 'done') {
      // This replica's gate refuses it at once; the others hear it by pub/sub.
      q.revocations.add(jti, r.expMs);
      this.d.onDone?.(outcome);
      return { jti, result: 'done', outcome };
    }
    return { jti, result: 'already_done' };
  }

  async stats(queue?: string): Promise<PassStats> {
    return (await this.d.byId(queue).passStore.sweep(false)).stats;
  }
}
