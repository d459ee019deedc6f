import { serialize } from 'cookie';
import { ticketCookie, ticketCookieName } from '../../internal/abuse/ticket-cookie';

/** The hand-written Set-Cookie is byte for byte what the cookie package writes. */
describe('ticketCookie', () => {
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJ0IjoxfQ.c2lnbmF0dXJlLV8';
  const rows: Array<[string, string, number, number, boolean]> = [
    ['default', jwt, 1_000_030, 1_000_000_000, true],
    ['sale-2026', jwt, 1_000_030, 1_000_000_000, false],
    ['q', jwt, 999, 1_000_000_000, true], // already past: Max-Age=0
    ['q', jwt, 1_000_000, 1_000_000_999, true], // a fraction of a second left rounds down
    ['q', 'not a jwt; with=odd chars', 1_000_030, 1_000_000_000, true], // falls back to the package
  ];
  test.each(rows)('queue %s, token %s, exp %d, now %d ms, secure %s', (queue, token, exp, now, secure) => {
    const expected = serialize(ticketCookieName(queue), token, { path: '/', httpOnly: true, sameSite: 'strict', secure, maxAge: Math.max(0, exp - Math.floor(now / 1000)) });
    expect(ticketCookie(queue, token, exp, now, secure)).toBe(expected);
    // A token the caller signed itself skips the check; for a compact JWS the header is the same.
    if (token === jwt) expect(ticketCookie(queue, token, exp, now, secure, true)).toBe(expected);
  });
});
