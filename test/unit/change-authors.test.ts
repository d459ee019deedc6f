import { authoredSince, authorKey } from '../../internal/store/redis-catalog';

/** authoredSince reads registry-touch.lua's "<author> <before> <seq>": any doubt means re-read. */
describe('authoredSince', () => {
  test.each<[string, string | null | undefined, string, number, number, boolean]>([
    ['every change since the poll is the author\'s', 'a 10 15', 'a', 10, 15, true],
    ['the run began before the poll', 'a 3 15', 'a', 10, 15, true],
    ['someone else changed it after the poll', 'a 11 15', 'a', 10, 15, false],
    ['another author', 'b 3 15', 'a', 10, 15, false],
    ['no author (a change no replica holds)', ' 3 15', 'a', 10, 15, false],
    ['a later change logged without an author (registry-set.lua moved the score)', 'a 3 15', 'a', 10, 16, false],
    ['an entry older than the score', 'a 3 14', 'a', 10, 15, false],
    ['no entry', null, 'a', 10, 15, false],
    ['undefined', undefined, 'a', 10, 15, false],
    ['garbage', 'garbage', 'a', 10, 15, false],
    ['a negative sequence', 'a -1 15', 'a', 10, 15, false],
    ['a fraction', 'a 3.5 15', 'a', 10, 15, false],
    ['beyond exact integers', 'a 3 99999999999999999999', 'a', 10, 15, false],
    ['extra fields', 'a 3 15 x', 'a', 10, 15, false],
    ['an author that is a prefix', 'ab 3 15', 'a', 10, 15, false],
  ])('%s', (_name, entry, author, since, score, expected) => {
    expect(authoredSince(entry, author, since, score)).toBe(expected);
  });
});

describe('authorKey', () => {
  test('a replica id is kept as it is', () => {
    expect(authorKey('host-1:123:0a1b2c3d')).toBe('host-1:123:0a1b2c3d');
    expect(authorKey('')).toBe('');
  });
  test('an id the script would refuse (a space, over 200 characters) becomes its SHA-256, the same every time', () => {
    for (const odd of ['my host:1:ab', 'x'.repeat(201), 'tab\there', 'hôte:1:ab']) {
      expect(authorKey(odd)).toMatch(/^[0-9a-f]{64}$/);
      expect(authorKey(odd)).toBe(authorKey(odd));
    }
    expect(authorKey('my host:1:ab')).not.toBe(authorKey('my host:1:ac'));
  });
});
