import type { IncomingMessage } from 'node:http';
import type { PassClaims } from '../admission/pass-tokens';
import { PassError } from '../errors/errors';
import { clientIp } from '../http/client-ip';
import { addressPrefix, clientIdentity } from './address-prefix';
import type { SharingDetector } from './sharing-detector';

export interface PassHolderOptions {
  /** The sharing detector of a pass's queue (undefined when the queue is not served here). */
  readonly sharing: (queueId: string) => Pick<SharingDetector, 'note'> | undefined;
  /** PASS_BIND_PREFIX: refuse a pass presented outside the /24 or /64 it was claimed from. */
  readonly bindPrefix: boolean;
  readonly trustProxy: number;
}

/**
 * The gate's per-request check of who presents a pass: with binding on, the
 * client's network must be the one named in the pass (403 pass_wrong_client);
 * in every case the (pass, client) pair is noted for sharing detection. A Map
 * lookup and a string compare: no I/O on /verify.
 */
export function passHolderCheck(o: PassHolderOptions): (claims: PassClaims, req: IncomingMessage) => void {
  return (claims, req) => {
    const ip = clientIp(req, o.trustProxy);
    if (o.bindPrefix && claims.net !== undefined && addressPrefix(ip) !== claims.net) {
      throw new PassError('pass_wrong_client', 'this pass was issued to another network; join the queue from here');
    }
    o.sharing(claims.queue)?.note(claims.jti, claims.exp, clientIdentity(ip));
  };
}

/** The network a pass claimed by this request is bound to, or undefined when binding is off. */
export function claimNetwork(req: IncomingMessage, bindPrefix: boolean, trustProxy: number): string | undefined {
  return bindPrefix ? addressPrefix(clientIp(req, trustProxy)) : undefined;
}
