import { createHmac, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { TokenError } from '../../internal/errors/errors';
import { bearerCandidate, bearerToken, TicketTokens } from '../../internal/tokens/ticket-token';

const SECRET = 'unit-test-secret-0123456789abcdef0123456789';
const tokens = new TicketTokens(SECRET, 3600);

function b64(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

function hs256(header: object, payload: object, secret = SECRET): string {
  const data = `${b64(header)}.${b64(payload)}`;
  return `${data}.${createHmac('sha256', secret).update(data).digest('base64url')}`;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenError);
    expect((err as TokenError).status).toBe(401);
    return (err as TokenError).code;
  }
  throw new Error('expected a TokenError');
}

describe('TicketTokens', () => {
  const now = Date.UTC(2026, 10, 24, 12, 0, 0);
  const valid = () => tokens.sign('default', 42, 'epoch-1', now).token;
  const claims = { queue: 'default', ticket: 42, epoch: 'epoch-1', typ: 'waitroom-ticket', iss: 'waitroom', iat: now / 1000, exp: now / 1000 + 60 };

  test('round trip keeps queue, ticket, epoch, iat and exp', () => {
    const { token, claims: c } = tokens.sign('default', 42, 'epoch-1', now);
    expect(c).toEqual({ queue: 'default', ticket: 42, epoch: 'epoch-1', iat: now / 1000, exp: now / 1000 + 3600 });
    expect(tokens.verify(token, now)).toEqual(c);
    expect(jwt.decode(token, { complete: true })?.header.alg).toBe('HS256');
  });

  // The payload is written from parts made once per queue and epoch; these rows cover
  // non-ASCII and escaped text (utf8, not latin1), a new epoch of a queue signed before,
  // and numbers that are not safe integers (the generic JSON.stringify path).
  test.each([
    ['default', 42, 'epoch-1', now],
    ['default', 43, 'epoch-1', now + 1_500],
    ['default', 1, 'epoch-2', now],
    ['q-7', 9_007_199_254_740_991, 'e', now],
    ['café', 5, 'épocha "quoted" \\ \u2028', now],
    ['emoji-😀', 6, 'e\u0000', now],
    ['default', 2.5, 'epoch-1', now],
    ['default', 2 ** 60, 'epoch-1', now],
    ['default', 7, 'epoch-1', now + 0.5],
  ])('signs exactly the bytes jsonwebtoken would sign (%s, %s, %j)', (queue, ticket, epoch, at) => {
    const t = new TicketTokens(SECRET, 3600);
    // Twice: the second signs from the remembered parts.
    for (let i = 0; i < 2; i++) {
      const { token, claims: c } = t.sign(queue, ticket, epoch, at);
      const reference = jwt.sign({ queue: c.queue, ticket: c.ticket, epoch: c.epoch, iat: c.iat, exp: c.exp, typ: 'waitroom-ticket' }, SECRET, {
        algorithm: 'HS256',
        issuer: 'waitroom',
      });
      expect(token).toBe(reference);
      // A compact JWS whatever the claims hold: /join writes it into JSON and a cookie unchecked.
      expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      // At the token's own time: the test's fixed date would otherwise expire an hour after it.
      expect(jwt.verify(token, SECRET, { algorithms: ['HS256'], clockTimestamp: c.iat })).toMatchObject({ queue, ticket, epoch });
    }
  });

  test('a token signed for one epoch does not carry over to the next', () => {
    const t = new TicketTokens(SECRET, 3600);
    const a = t.sign('default', 1, 'epoch-a', now).token;
    const b = t.sign('default', 1, 'epoch-b', now).token;
    const c = t.sign('other', 1, 'epoch-a', now).token;
    expect(t.verify(a, now).epoch).toBe('epoch-a');
    expect(t.verify(b, now).epoch).toBe('epoch-b');
    expect(t.verify(c, now)).toMatchObject({ queue: 'other', epoch: 'epoch-a' });
  });

  test('an expired ticket is token_expired', () => {
    expect(codeOf(() => tokens.verify(valid(), now + 3601_000))).toBe('token_expired');
  });

  test.each([
    ['garbage', 'not-a-jwt'],
    ['two segments', 'abc.def'],
    ['empty signature', () => valid().replace(/\.[^.]+$/, '.')],
    ['tampered payload', () => {
      const [h, , s] = valid().split('.');
      return `${h}.${b64({ ...claims, ticket: 1 })}.${s}`;
    }],
    ['wrong secret', () => hs256({ alg: 'HS256', typ: 'JWT' }, claims, 'another-secret-0123456789abcdef012345')],
    ['alg none', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`],
    ['alg None with signature', () => `${b64({ alg: 'None', typ: 'JWT' })}.${b64(claims)}.${valid().split('.')[2]}`],
    ['HS512 with the right secret', () => jwt.sign(claims, SECRET, { algorithm: 'HS512' })],
    ['RS256 signed by another key', () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      return jwt.sign(claims, privateKey, { algorithm: 'RS256' });
    }],
    ['missing ticket claim', () => hs256({ alg: 'HS256' }, { ...claims, ticket: undefined })],
    ['ticket zero', () => hs256({ alg: 'HS256' }, { ...claims, ticket: 0 })],
    ['ticket not an integer', () => hs256({ alg: 'HS256' }, { ...claims, ticket: 1.5 })],
    ['ticket as a string', () => hs256({ alg: 'HS256' }, { ...claims, ticket: '42' })],
    ['missing epoch', () => hs256({ alg: 'HS256' }, { ...claims, epoch: undefined })],
    ['another token type', () => hs256({ alg: 'HS256' }, { ...claims, typ: 'waitroom-pass' })],
    ['another issuer', () => hs256({ alg: 'HS256' }, { ...claims, iss: 'someone-else' })],
  ])('refuses %s as invalid_token', (_name, make) => {
    const token = typeof make === 'function' ? make() : make;
    expect(codeOf(() => tokens.verify(token, now))).toBe('invalid_token');
  });
});

describe('the verified-token cache', () => {
  const now = Date.UTC(2026, 10, 24, 12, 0, 0);

  test('a cached token still expires on time', () => {
    const t = new TicketTokens(SECRET, 60);
    const { token } = t.sign('default', 7, 'e', now);
    expect(t.verify(token, now).ticket).toBe(7);
    expect(t.verify(token, now + 59_000).ticket).toBe(7);
    expect(codeOf(() => t.verify(token, now + 60_000))).toBe('token_expired');
  });

  test('only the exact verified text is served from the cache', () => {
    const t = new TicketTokens(SECRET, 60);
    const { token } = t.sign('default', 7, 'e', now);
    t.verify(token, now);
    const [h, , sig] = token.split('.');
    const forged = `${h}.${b64({ queue: 'default', ticket: 1, epoch: 'e', typ: 'waitroom-ticket', iss: 'waitroom', iat: now / 1000, exp: now / 1000 + 60 })}.${sig}`;
    expect(codeOf(() => t.verify(forged, now))).toBe('invalid_token');
  });

  test('is bounded: the oldest entry leaves first, and evicted tokens still verify', () => {
    const t = new TicketTokens(SECRET, 60, 2);
    const tokens3 = [1, 2, 3].map((n) => t.sign('default', n, 'e', now).token);
    for (const tok of tokens3) t.verify(tok, now);
    expect((t as unknown as { verified: { size: number } }).verified.size).toBe(2);
    expect(t.verify(tokens3[0]!, now).ticket).toBe(1);
  });

  test('size 0 disables it', () => {
    const t = new TicketTokens(SECRET, 60, 0);
    t.verify(t.sign('default', 1, 'e', now).token, now);
    expect((t as unknown as { verified: { size: number } }).verified.size).toBe(0);
  });
});

describe('bearerToken', () => {
  test('extracts the token', () => expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi'));
  test('is case-insensitive in the scheme', () => expect(bearerToken('bearer abc')).toBe('abc'));
  test('missing header is missing_token', () => expect(codeOf(() => bearerToken(undefined))).toBe('missing_token'));
  test.each(['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', 'Bearer a b', 'Token abc'])('%j is invalid_token', (h) => {
    expect(codeOf(() => bearerToken(h))).toBe('invalid_token');
  });
});

describe('verifyBearer answers exactly as verify(bearerToken(header))', () => {
  const now = Date.UTC(2026, 10, 24, 12, 0, 0);
  const t = new TicketTokens(SECRET, 60);
  const { token } = t.sign('default', 9, 'e', now);
  const outcome = (fn: () => { ticket: number }): string => {
    try {
      return `ticket ${fn().ticket}`;
    } catch (err) {
      return (err as TokenError).code;
    }
  };
  const headers: Array<[string, string | undefined, string]> = [
    ['the usual header', `Bearer ${token}`, 'ticket 9'],
    ['the scheme in lower case', `bearer ${token}`, 'ticket 9'],
    ['the scheme in upper case, several spaces', `BEARER    ${token}`, 'ticket 9'],
    ['trailing spaces', `Bearer ${token}   `, 'ticket 9'],
    ['a trailing tab', `Bearer ${token}\t`, 'ticket 9'],
    ['no space after the scheme', `Bearer${token}`, 'invalid_token'],
    ['a tab instead of the space', `Bearer\t${token}`, 'invalid_token'],
    ['a leading space', ` Bearer ${token}`, 'invalid_token'],
    ['another scheme', `Basic ${token}`, 'invalid_token'],
    ['text after the token', `Bearer ${token} x`, 'invalid_token'],
    ['the token twice', `Bearer ${token},${token}`, 'invalid_token'],
    ['the scheme alone', 'Bearer ', 'invalid_token'],
    ['no header', undefined, 'missing_token'],
    ['an empty header', '', 'missing_token'],
  ];
  test.each(headers)('%s', (_name, header, expected) => {
    // Before and after the token is remembered: the fast path must not change an answer.
    const fresh = new TicketTokens(SECRET, 60);
    expect(outcome(() => fresh.verifyBearer(header, now))).toBe(expected);
    expect(outcome(() => fresh.verify(bearerToken(header), now))).toBe(expected);
    expect(outcome(() => t.verify(token, now))).toBe('ticket 9');
    expect(outcome(() => t.verifyBearer(header, now))).toBe(expected);
    expect(outcome(() => t.verifyBearer(header, now + 60_000))).toBe(expected === 'ticket 9' ? 'token_expired' : expected);
  });
  test('bearerCandidate is what bearerToken returns, whenever bearerToken accepts', () => {
    for (const [, header] of headers) {
      let strict: string | undefined;
      try {
        strict = bearerToken(header);
      } catch {
        continue;
      }
      expect(bearerCandidate(header)).toBe(strict);
    }
  });
});
