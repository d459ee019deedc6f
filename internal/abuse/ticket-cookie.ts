import type { IncomingHttpHeaders } from 'node:http';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';

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

export function ticketCookie(queueId: string, token: string, expiresAt: number, nowMs: number, secure: boolean): string {
  return serializeCookie(ticketCookieName(queueId), token, {
    path: '/',
    httpOnly: true,
    sameSite: 'strict',
    secure,
    maxAge: Math.max(0, expiresAt - Math.floor(nowMs / 1000)),
  });
}
