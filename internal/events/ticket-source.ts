import type { IncomingMessage } from 'node:http';
import { TokenError } from '../errors/errors';
import { ticketCookieName } from '../abuse/ticket-cookie';
import { bearerToken } from '../tokens/ticket-token';

/** Cookie a same-origin page may set itself so its EventSource carries the ticket (before /join set one). */
export const TICKET_COOKIE = 'waitroom_ticket';

const TOKEN_CHARS = /^[A-Za-z0-9_\-.=]{1,2048}$/;

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The ticket token of a stream request. Browsers' EventSource cannot set
 * headers, so besides `Authorization: Bearer` the token may come from the
 * `token` query parameter (API clients; it ends up in proxy logs), the ticket
 * cookie POST /join sets (waitroom_ticket_<queue>, what the waiting page uses)
 * or a waitroom_ticket cookie, in that order.
 */
export function streamToken(req: IncomingMessage, queueId: string): string {
  if (req.headers.authorization !== undefined) return bearerToken(req.headers.authorization);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const fromQuery = q < 0 ? null : new URLSearchParams(url.slice(q + 1)).get('token');
  const token = fromQuery ?? cookieValue(req.headers.cookie, ticketCookieName(queueId)) ?? cookieValue(req.headers.cookie, TICKET_COOKIE);
  if (token === undefined || token === '') {
    throw new TokenError('missing_token', 'send the ticket as Authorization: Bearer <token>, a token query parameter or the ticket cookie POST /join sets');
  }
  if (!TOKEN_CHARS.test(token)) throw new TokenError('invalid_token', 'the ticket token is malformed or its signature is not valid');
  return token;
}
