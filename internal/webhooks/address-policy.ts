import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';

/**
 * Which addresses a webhook may reach. A webhook URL is chosen by whoever holds an
 * admin token, and the dispatcher runs inside the operator's network: without this
 * check a webhook could post into the metadata service (169.254.169.254), a database
 * on 10.x or the replica's own loopback. The check runs on the ADDRESS THE SOCKET
 * CONNECTS TO (a `lookup` on the agent), not on the name at create time, so a name
 * that resolves to a public address when saved and to 127.0.0.1 when used (DNS
 * rebinding) is refused too.
 */
const forbidden = new BlockList();
// IPv4: "this network", loopback, RFC 1918 private, carrier-grade NAT, link-local,
// IETF protocol assignments, benchmarking, multicast and reserved/broadcast.
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) forbidden.addSubnet(net, bits, 'ipv4');
// IPv6: unspecified, loopback, unique-local (fc00::/7), link-local (fe80::/10), multicast.
forbidden.addAddress('::', 'ipv6');
forbidden.addAddress('::1', 'ipv6');
forbidden.addSubnet('fc00::', 7, 'ipv6');
forbidden.addSubnet('fe80::', 10, 'ipv6');
forbidden.addSubnet('ff00::', 8, 'ipv6');

/** True for an address a webhook must not reach (IPv4-mapped IPv6 is judged as its IPv4). */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return forbidden.check(address, 'ipv4');
  if (family !== 6) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return forbidden.check(mapped[1]!, 'ipv4');
  return forbidden.check(address, 'ipv6');
}

export interface AddressPolicy {
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: any address and plain http allowed. */
  readonly allowPrivateNetworks: boolean;
  /** NODE_ENV=production: only https (unless private networks are allowed). */
  readonly production: boolean;
}

/** A webhook URL that may not be used; `message` says why. */
export class ForbiddenTargetError extends Error {
  override readonly name = 'ForbiddenTargetError';
}

/** The host of a URL without IPv6 brackets. */
function hostOf(u: URL): string {
  return u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
}

/**
 * Checks what can be checked without resolving: scheme, credentials, and a host that is
 * a literal address (Node does not call `lookup` for those, so they are judged here).
 * Throws ForbiddenTargetError.
 */
export function checkWebhookUrl(raw: string, p: AddressPolicy): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ForbiddenTargetError('is not an absolute URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ForbiddenTargetError('must be an https URL');
  if (u.protocol === 'http:' && p.production && !p.allowPrivateNetworks) throw new ForbiddenTargetError('must be https in production');
  if (u.username || u.password) throw new ForbiddenTargetError('must not carry credentials');
  if (u.hash) throw new ForbiddenTargetError('must not have a fragment');
  const host = hostOf(u);
  if (!p.allowPrivateNetworks && isIP(host) && isForbiddenAddress(host)) {
    throw new ForbiddenTargetError(`points at ${host}, a loopback, link-local or private address (set WEBHOOK_ALLOW_PRIVATE_NETWORKS=true to allow)`);
  }
  if (!p.allowPrivateNetworks && /^localhost\.?$/i.test(host)) throw new ForbiddenTargetError('points at localhost');
  return u;
}

/**
 * A `lookup` for http(s) agents that resolves as usual and refuses the connection when
 * any resolved address is forbidden (all of them, since the socket may try each).
 */
export function guardedLookup(p: AddressPolicy): LookupFunction {
  return ((hostname: string, options: object, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as LookupAddress[];
      if (!p.allowPrivateNetworks) {
        const bad = list.find((a) => isForbiddenAddress(a.address));
        if (bad) {
          const e = new ForbiddenTargetError(`${hostname} resolves to ${bad.address}, a loopback, link-local or private address`) as NodeJS.ErrnoException;
          e.code = 'EWEBHOOKFORBIDDEN';
          return callback(e, '', 0);
        }
      }
      if ((options as { all?: boolean }).all) return callback(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  }) as LookupFunction;
}
