import type { Logger } from 'pino';
import { UnavailableError } from '../errors/errors';
import type { RedisConnection } from './redis-connection';

/** A store call that got no reply within the command timeout. */
export class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
  constructor(what: string, ms: number) {
    super(`redis did not answer ${what} within ${ms} ms`);
  }
}

/** True for errors that mean "the store is not reachable right now". */
function isUnavailable(err: unknown): boolean {
  const name = (err as Error)?.name ?? '';
  const msg = (err as Error)?.message ?? '';
  return (
    /Timeout|ClientClosed|ClientOffline|SocketClosed|ConnectionTimeout|ReconnectStrategy|Abort/.test(name) ||
    /ECONNREFUSED|ECONNRESET|EPIPE|closed|offline|LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|Cannot find node/i.test(msg)
  );
}

export interface StoreCallContext {
  readonly log: Logger;
  readonly timeoutMs: number;
  /** Every connection the call may have used: each hears of the outcome (failover detection). */
  readonly connections: readonly RedisConnection[];
  /** Called for every Redis error, for metrics. */
  readonly onError?: (err: unknown) => void;
  /** Hears of a damaged state ("WAITROOM_CORRUPT <what>"), for the metric of its queue. */
  readonly onCorrupt?: (detail: string) => void;
}

/**
 * Runs one store call, turning connectivity and corruption errors into typed 503s.
 * Shared by every per-queue store and the catalog, which share one connection per replica.
 */
export async function storeCall<T>(c: StoreCallContext, what: string, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    // node-redis's own command timeout only covers the wait before a command is
    // written, not the wait for its reply (checked against 5.12: a SIGSTOPped Redis
    // hangs a GET forever). So every call races its own timer. A command that times
    // out may still run later; for a join that leaves an unused gap in the ticket
    // numbers, never a duplicate.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreTimeoutError(what, c.timeoutMs)), c.timeoutMs);
    });
    const result = await Promise.race([fn(), timeout]);
    for (const conn of c.connections) conn.noteSuccess();
    return result;
  } catch (err) {
    c.onError?.(err);
    // Lets the connection find a promoted primary (cluster) or a moved endpoint (READONLY).
    for (const conn of c.connections) conn.noteFailure(err);
    const msg = (err as Error)?.message ?? String(err);
    const corrupt = /WAITROOM_CORRUPT (.*)/.exec(msg);
    if (corrupt) {
      c.log.error({ err, what, detail: corrupt[1] }, 'queue state in Redis is damaged; refusing to guess');
      c.onCorrupt?.(corrupt[1] ?? msg);
      throw new UnavailableError('state_corrupt', `the queue state is damaged (${corrupt[1]}); an operator has to repair it`, 5, { cause: err });
    }
    if (isUnavailable(err)) {
      c.log.warn({ err: `${(err as Error).name}: ${msg}`, what }, 'redis unavailable');
      throw new UnavailableError('store_unavailable', 'the queue store is unreachable; try again shortly', 1, { cause: err });
    }
    c.log.error({ err, what }, 'redis command failed');
    throw new UnavailableError('store_unavailable', 'the queue store failed; try again shortly', 1, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
