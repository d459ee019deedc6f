import { isIPv4, isIPv6 } from 'node:net';

/** Expands an IPv6 address to its 8 groups (lower-case, no leading zeros), or undefined. */
function ipv6Groups(ip: string): string[] | undefined {
  let s = ip.toLowerCase();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    s = s.slice(0, -v4[1]!.length) + ((o[0]! << 8) | o[1]!).toString(16) + ':' + ((o[2]! << 8) | o[3]!).toString(16);
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array<string>(Math.max(0, fill)).fill('0'), ...tail];
  if (groups.length !== 8) return undefined;
  return groups.map((g) => parseInt(g, 16).toString(16));
}

/**
 * The network a client address belongs to, for binding a pass and for counting
 * clients: the /24 of an IPv4 address, the /64 of an IPv6 one (one household or
 * phone: IPv6 privacy addresses change within their /64 every day or so). An
 * IPv4-mapped IPv6 address counts as its IPv4 address. Anything unparseable is
 * returned as it is.
 */
export function addressPrefix(ip: string): string {
  if (isIPv4(ip)) return ip.split('.').slice(0, 3).join('.') + '.0/24';
  if (!isIPv6(ip)) return ip;
  const g = ipv6Groups(ip);
  if (!g) return ip;
  if (g.slice(0, 5).every((x) => x === '0') && g[5] === 'ffff') {
    const hi = parseInt(g[6]!, 16);
    return `${hi >> 8}.${hi & 255}.${parseInt(g[7]!, 16) >> 8}.0/24`;
  }
  return `${g.slice(0, 4).join(':')}::/64`;
}

/** The identity a client is counted under for sharing detection: its IPv4 address, or its IPv6 /64. */
export function clientIdentity(ip: string): string {
  if (isIPv4(ip)) return ip;
  const p = addressPrefix(ip);
  // IPv4-mapped: the address itself, not its /24.
  if (p.endsWith('/24')) {
    const g = ipv6Groups(ip)!;
    const hi = parseInt(g[6]!, 16);
    const lo = parseInt(g[7]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return p;
}
