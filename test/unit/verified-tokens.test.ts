import { KEY_LENGTH, VerifiedTokens } from '../../internal/tokens/verified-tokens';

/** A token of `n` characters ending in `tail` (tokens are keyed by their last KEY_LENGTH characters). */
const tok = (head: string, tail = 'T'.repeat(KEY_LENGTH)) => `${head}.${tail}`;

describe('VerifiedTokens', () => {
  test('bounded: the oldest entry leaves first; size 0 remembers nothing', () => {
    const v = new VerifiedTokens<number>(2);
    v.set(tok('a', 'A'.repeat(KEY_LENGTH)), 1);
    v.set(tok('b', 'B'.repeat(KEY_LENGTH)), 2);
    v.set(tok('c', 'C'.repeat(KEY_LENGTH)), 3);
    expect([v.get(tok('a', 'A'.repeat(KEY_LENGTH))), v.get(tok('b', 'B'.repeat(KEY_LENGTH))), v.get(tok('c', 'C'.repeat(KEY_LENGTH)))]).toEqual([undefined, 2, 3]);
    expect(v.size).toBe(2);
    v.clear();
    expect(v.get(tok('b', 'B'.repeat(KEY_LENGTH)))).toBeUndefined();
    const off = new VerifiedTokens<number>(0);
    off.set(tok('a'), 1);
    expect(off.get(tok('a'))).toBeUndefined();
    expect(off.size).toBe(0);
  });

  test('a token that shares only the tail of a remembered one is a miss, and does not evict it', () => {
    const v = new VerifiedTokens<number>(4);
    v.set(tok('header.payload-1'), 1);
    expect(v.get(tok('header.payload-2'))).toBeUndefined();
    expect(v.get(`x${tok('header.payload-1')}`)).toBeUndefined();
    v.delete(tok('header.payload-2'));
    expect(v.get(tok('header.payload-1'))).toBe(1);
    v.delete(tok('header.payload-1'));
    expect(v.get(tok('header.payload-1'))).toBeUndefined();
    expect(v.size).toBe(0);
  });

  test('a token shorter than the key is keyed by itself; setting a token again does not evict another', () => {
    const v = new VerifiedTokens<string>(2);
    v.set('short', 's');
    v.set(tok('long'), 'l');
    v.set('short', 's2');
    expect([v.get('short'), v.get(tok('long')), v.get('shor'), v.size]).toEqual(['s2', 'l', undefined, 2]);
  });
});
