import { PassError } from '../../internal/errors/errors';
import { checkPassQueue, checkPassTimes, CLOCK_TOLERANCE_SECONDS, isPageNavigation, parseSubject, waitingRoomLocation } from '../../internal/admission/pass-check';
import { stripTokens } from '../../internal/admission/url-safety';

const code = (f: () => void): string => {
  try {
    f();
    return 'ok';
  } catch (err) {
    return err instanceof PassError ? err.code : String(err);
  }
};

describe('the shared pass check (server gate and edge gate)', () => {
  test.each([
    ['default:42', undefined, { queue: 'default', ticket: 42 }],
    ['a.b-c_d:1', undefined, { queue: 'a.b-c_d', ticket: 1 }],
    ['default:42', 'default', { queue: 'default', ticket: 42 }],
    ['default:42', 'other', undefined],
    ['default:42', 7, undefined],
    ['default:0', undefined, undefined],
    ['default:-1', undefined, undefined],
    ['default:1.5', undefined, undefined],
    ['default:9007199254740992', undefined, undefined],
    [':42', undefined, undefined],
    ['42', undefined, undefined],
    ['default:', undefined, undefined],
    [42, undefined, undefined],
  ])('parseSubject(%j, queue claim %j)', (sub, queue, want) => {
    expect(parseSubject(sub, queue)).toEqual(want);
  });

  const exp = 1_000_000;
  const nbf = 999_000;
  test.each([
    [(exp + CLOCK_TOLERANCE_SECONDS) * 1000 - 1, 'ok'],
    [(exp + CLOCK_TOLERANCE_SECONDS) * 1000, 'pass_expired'],
    [(nbf - CLOCK_TOLERANCE_SECONDS) * 1000, 'ok'],
    [(nbf - CLOCK_TOLERANCE_SECONDS) * 1000 - 1, 'pass_invalid'],
  ])('checkPassTimes at %d ms → %s', (nowMs, want) => {
    expect(code(() => checkPassTimes({ exp, nbf }, nowMs))).toBe(want);
  });

  test('checkPassQueue: another queue is a 403', () => {
    expect(code(() => checkPassQueue({ queue: 'a' }, 'a'))).toBe('ok');
    let err: unknown;
    try {
      checkPassQueue({ queue: 'a' }, 'b');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PassError);
    expect([(err as PassError).code, (err as PassError).status]).toEqual(['pass_wrong_queue', 403]);
  });

  const html = 'text/html,application/xhtml+xml';
  test.each([
    ['GET', { accept: html }, true],
    ['HEAD', { accept: html }, true],
    ['get', { accept: html, 'sec-fetch-mode': 'navigate' }, true],
    ['GET', { accept: html, 'sec-fetch-mode': 'cors' }, false],
    ['GET', { accept: html, 'x-requested-with': 'XMLHttpRequest' }, false],
    ['GET', { accept: 'application/json' }, false],
    ['GET', {}, false],
    ['POST', { accept: html }, false],
  ])('isPageNavigation(%s, %j) → %s', (method, headers, want) => {
    const h = headers as Record<string, string>;
    expect(isPageNavigation(method, (n) => h[n])).toBe(want);
  });

  test('waitingRoomLocation: return_to is the page asked for, without credentials', () => {
    const strip = (u: string) => stripTokens(u, ['waitroom_pass']);
    expect(waitingRoomLocation('https://q.example/wait/?lang=en', 'https://shop.example/a?b=1&token=x&waitroom_pass=y', strip)).toBe(
      'https://q.example/wait/?lang=en&return_to=https%3A%2F%2Fshop.example%2Fa%3Fb%3D1',
    );
    expect(waitingRoomLocation('https://q.example/', '', strip)).toBe('https://q.example/');
  });
});
