import { createHmac, randomBytes } from 'node:crypto';
import { HmacSha256 } from '../../internal/tokens/hmac-sha256';

/** HmacSha256 must give createHmac's bytes for every key length and input it can see. */
const reference = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest('base64url');

const keys: Array<[string, Buffer]> = [
  ['empty', Buffer.alloc(0)],
  ['one byte', Buffer.from([0x01])],
  ['32 bytes', randomBytes(32)],
  ['63 bytes', randomBytes(63)],
  ['64 bytes (a block)', randomBytes(64)],
  ['65 bytes (hashed first)', randomBytes(65)],
  ['200 bytes', randomBytes(200)],
  ['a 48-byte secret in base64, as JWT_SECRET is made', Buffer.from(randomBytes(48).toString('base64'), 'utf8')],
];

const texts: Array<[string, string]> = [
  ['empty', ''],
  ['one character', 'a'],
  ['55 characters (the last one-block message)', 'x'.repeat(55)],
  ['56 characters (padding needs a second block)', 'x'.repeat(56)],
  ['64 characters', 'y'.repeat(64)],
  ['a ticket signing input', `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${Buffer.from('{"queue":"default","ticket":42}').toString('base64url')}`],
  ['1024 characters (the one-shot path\'s longest)', 'z'.repeat(1024)],
  ['1025 characters (createHmac)', 'z'.repeat(1025)],
  ['every ASCII character', Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join('')],
];

describe.each(keys)('key: %s', (_k, key) => {
  const mac = new HmacSha256(key);
  test.each(texts)('text: %s', (_t, text) => {
    expect(mac.base64url(text)).toBe(reference(key, text));
  });

  test('a shorter text after a longer one: nothing of the longer is left in the buffer', () => {
    expect(mac.base64url('w'.repeat(900))).toBe(reference(key, 'w'.repeat(900)));
    expect(mac.base64url('short')).toBe(reference(key, 'short'));
  });
});

test('without crypto.hash (Node.js before 20.12) it is createHmac, with the same bytes', () => {
  jest.isolateModules(() => {
    jest.doMock('node:crypto', () => ({ ...jest.requireActual<typeof import('node:crypto')>('node:crypto'), hash: undefined }));
    const { HmacSha256: WithoutHash } = require('../../internal/tokens/hmac-sha256') as typeof import('../../internal/tokens/hmac-sha256');
    const key = randomBytes(64);
    const mac = new WithoutHash(key);
    for (const [, text] of texts) expect(mac.base64url(text)).toBe(reference(key, text));
  });
  jest.dontMock('node:crypto');
});
