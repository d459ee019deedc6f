import type { IncomingHttpHeaders } from 'node:http';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import { isCompactJws } from '../tokens/ticket-token';

/**
 * The cookie that holds a visitor's ticket for one queue: HttpOnly (page scripts,
 * and so injected ones, cannot read it), SameSite=Strict (never sent on a request
 * another site starts, so a cross-site form cannot make a visitor join), named per
 * queue so tickets for two queues on one host do not overwrite each other. It lets
 * a browser that joins again get its own place back, and lets EventSource carry the
 * ticket without putting it in the URL (where proxies log it).
 */
export function ticketCookieName(queueId: string): string {
  return `waitroom_ticket_${queueId}`;
}

export function ticketFromCookie(headers: IncomingHttpHeaders, queueId: string): string | undefined {
  const h = headers.cookie;
  if (!h) return undefined;
  const v = parseCookies(h)[ticketCookieName(queueId)];
  return v === '' ? undefined : v;
}

/**
 * The Set-Cookie value, written out by hand: the `cookie` package's serialize
 * checks name, value and path against regular expressions on every call, which
 * showed as 4% of a join's CPU in a profile (docs/benchmarks.md). The name is a
 * queue id ([a-z0-9-], checked when the queue was made) and the value a JWT,
 * so there is nothing to check or encode; anything else goes through the package.
 * The attribute order is the package's, so the header is byte for byte the same.
 * `signedHere`: the token is TicketTokens.sign's, a compact JWS by construction, so
 * the check (isCompactJws, a regular expression over ~250 characters, ~0.2 µs) is skipped.
 */
export function ticketCookie(queueId: string, token: string, expiresAt: number, nowMs: number, secure: boolean, signedHere = false): string {
  const maxAge = Math.max(0, expiresAt - Math.floor(nowMs / 1000));
  // A compact JWS needs no encoding in a cookie value.
  if (!(signedHere || isCompactJws(token)) || !Number.isSafeInteger(maxAge)) {
    return serializeCookie(ticketCookieName(queueId), token, { path: '/', httpOnly: true, sameSite: 'strict', secure, maxAge });
  }
  return `${ticketCookieName(queueId)}=${token}; Max-Age=${maxAge}; Path=/; HttpOnly;${secure ? ' Secure;' : ''} SameSite=Strict`;
}
