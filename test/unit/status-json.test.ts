import { joinJson, statusBody, statusJson } from '../../internal/http/api';
import { JsonText, sendResult } from '../../internal/http/respond';
import type { StatusResult } from '../../internal/service/queue-service';
import type { JoinBody } from '../../internal/service/visitor-schemas';

/** statusJson must be JSON.stringify(statusBody(r)) byte for byte, whatever r holds. */
const base: StatusResult = {
  queue: 'default',
  ticket: 1234,
  position: 56,
  status: 'waiting',
  ahead: 55,
  etaSeconds: 12,
  etaKind: 'exact',
  activeForSeconds: 0,
  windowEnd: 1178,
  state: 'open',
  message: null,
  opensAt: null,
  siteBusy: false,
  pollAfterSeconds: 2,
};

const odd = (o: Record<string, unknown>) => ({ ...base, ...o }) as unknown as StatusResult;

const cases: Array<[string, StatusResult]> = [
  ['waiting, exact', base],
  ['active', { ...base, status: 'active', position: 0, ahead: 0, etaSeconds: 0, activeForSeconds: 30 }],
  ['expired', { ...base, status: 'expired', position: 0, ahead: 0, etaSeconds: 0 }],
  ['skipped, upper bound', { ...base, status: 'skipped', etaKind: 'upperBound' }],
  ['paused: no ETA', { ...base, state: 'paused', etaSeconds: null, etaKind: 'unknown' }],
  ['a pre-queue with its opening time', { ...base, state: 'closed', opensAt: '2026-11-25T18:00:00.000Z' }],
  ['the site is busy', { ...base, siteBusy: true, etaKind: 'estimate' }],
  ['a message with quotes, a backslash and a new line', { ...base, message: 'Doors "open" at 6\\7\nsoon' }],
  ['a message in other scripts, with an emoji', { ...base, message: 'Bientôt — 開場まで 🎟️' }],
  ['a message with control characters and a lone surrogate', { ...base, message: 'a\u0000b\u001fc\u2028d\ud800e' }],
  ['an empty message', { ...base, message: '' }],
  ['the largest safe ticket', { ...base, ticket: Number.MAX_SAFE_INTEGER, windowEnd: Number.MAX_SAFE_INTEGER - 1 }],
  ['a negative zero', { ...base, activeForSeconds: -0 }],
  ['a queue id with dashes and digits', { ...base, queue: 'summer-sale-2026' }],
  // Outside the declared types: the generic path, with its own rules (NaN is null, undefined is left out).
  ['NaN as a position', odd({ position: Number.NaN })],
  ['Infinity as an ETA', odd({ etaSeconds: Number.POSITIVE_INFINITY })],
  ['a fraction as a poll delay', odd({ pollAfterSeconds: 1.5 })],
  ['1e21 as a window end', odd({ windowEnd: 1e21 })],
  ['an undefined message', odd({ message: undefined })],
  ['a number as a message', odd({ message: 7 })],
  ['a string as siteBusy', odd({ siteBusy: 'no' })],
  ['an object as opensAt', odd({ opensAt: { toJSON: () => 'x' } })],
  ['a missing queue', odd({ queue: undefined })],
];

test.each(cases)('%s', (_name, r) => {
  expect(statusJson(r)).toBe(JSON.stringify(statusBody(r)));
});

test('a thousand generated results', () => {
  // A fixed generator: the same draws on every run.
  let seed = 42;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const int = () => pick([0, 1, 2, 59, 60, 1000, 2 ** 31, 2 ** 53 - 1]);
  for (let i = 0; i < 1000; i++) {
    const r = {
      ...base,
      queue: pick(['default', 'q-1', 'shop']),
      ticket: int() || 1,
      position: int(),
      status: pick(['waiting', 'active', 'expired', 'skipped'] as const),
      ahead: int(),
      etaSeconds: pick([null, 0, 5, 86_400]),
      etaKind: pick(['exact', 'estimate', 'upperBound', 'unknown'] as const),
      activeForSeconds: int(),
      windowEnd: int(),
      state: pick(['open', 'paused', 'passthrough', 'closed'] as const),
      message: pick([null, 'hello', `n°${i}`, '"\\']),
      opensAt: pick([null, '2026-11-25T18:00:00Z']),
      siteBusy: next() < 0.5,
      pollAfterSeconds: pick([1, 2, 30]),
    };
    expect(statusJson(r)).toBe(JSON.stringify(statusBody(r)));
  }
});

/** A /join body: the token first, the shared fields in statusBody's order, expiresAt last. */
function joinBody(r: StatusResult, token: unknown, expiresAt: unknown): JoinBody {
  const { pollAfterSeconds: _p, ...fields } = statusBody(r);
  return { token, ...fields, expiresAt } as JoinBody;
}

const TOKEN = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJxdWV1ZSI6ImRlZmF1bHQifQ.c2lnbmF0dXJlLV9fXw-_';

/** joinJson must be JSON.stringify(body) byte for byte, whatever the body holds. */
test.each([
  ...cases.map(([name, r]): [string, JoinBody] => [name, joinBody(r, TOKEN, 1_790_000_000)]),
  ['the largest safe expiry', joinBody(base, TOKEN, Number.MAX_SAFE_INTEGER)],
  // Outside the declared types, or a token that is not a compact JWS: the generic path.
  ['a token with a quote', joinBody(base, 'a"b.c.d', 1)],
  ['a token with a backslash and a new line', joinBody(base, 'a\\b.c\nd.e', 1)],
  ['a token of two parts', joinBody(base, 'abc.def', 1)],
  ['an empty token', joinBody(base, '', 1)],
  ['a token with a lone surrogate', joinBody(base, 'a.b\ud800.c', 1)],
  ['a number as the token', joinBody(base, 7, 1)],
  ['an undefined token', joinBody(base, undefined, 1)],
  ['NaN as the expiry', joinBody(base, TOKEN, Number.NaN)],
  ['a fraction as the expiry', joinBody(base, TOKEN, 1.5)],
  ['an undefined expiry', joinBody(base, TOKEN, undefined)],
])('the /join body: %s', (_name, b) => {
  expect(joinJson(b)).toBe(JSON.stringify(b));
  // A token the caller signed itself skips the check; for a compact JWS the body is the same.
  if (b.token === TOKEN) expect(joinJson(b, true)).toBe(JSON.stringify(b));
});

test('sendResult writes JsonText as it is, and JsonText serialises to the same JSON', () => {
  const written: { status?: number; head?: string[]; body?: string } = {};
  const res = {
    writeHead: (status: number, head: string[]) => Object.assign(written, { status, head }),
    end: (body: string) => Object.assign(written, { body }),
  };
  const text = statusJson(base);
  sendResult(res as never, { status: 200, body: new JsonText(text) });
  expect(written.body).toBe(text);
  expect(written.head).toContain(String(Buffer.byteLength(text)));
  expect(JSON.stringify({ a: new JsonText(text) })).toBe(`{"a":${text}}`);
});
