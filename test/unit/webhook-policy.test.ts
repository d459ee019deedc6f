import { checkWebhookUrl, isForbiddenAddress } from '../../internal/webhooks/address-policy';
import { nextAttemptAt, retryDelayMs } from '../../internal/webhooks/retry-backoff';

test.each([
  ['127.0.0.1', true],
  ['127.255.255.254', true],
  ['10.0.0.1', true],
  ['172.16.0.1', true],
  ['172.31.255.255', true],
  ['172.32.0.1', false],
  ['192.168.1.1', true],
  ['169.254.169.254', true],
  ['100.64.0.1', true],
  ['0.0.0.0', true],
  ['224.0.0.1', true],
  ['8.8.8.8', false],
  ['93.184.216.34', false],
  ['::1', true],
  ['::', true],
  ['fe80::1', true],
  ['fd12:3456::1', true],
  ['fc00::1', true],
  ['::ffff:127.0.0.1', true],
  ['::ffff:8.8.8.8', false],
  ['2606:4700::1111', false],
  ['not-an-address', true],
])('isForbiddenAddress(%s) = %s', (addr, forbidden) => {
  expect(isForbiddenAddress(addr)).toBe(forbidden);
});

const strict = { allowPrivateNetworks: false, production: true };
const dev = { allowPrivateNetworks: false, production: false };
const open = { allowPrivateNetworks: true, production: true };
test.each([
  ['https://hooks.example.com/x', strict, null],
  ['http://hooks.example.com/x', strict, 'must be https in production'],
  ['http://hooks.example.com/x', dev, null],
  ['http://127.0.0.1:4000/', open, null],
  ['https://127.0.0.1/', strict, 'points at 127.0.0.1'],
  ['https://[::1]/', dev, 'points at ::1'],
  ['https://localhost/', dev, 'points at localhost'],
  ['https://user:pw@hooks.example.com/', strict, 'must not carry credentials'],
  ['ftp://hooks.example.com/', strict, 'must be an https URL'],
  ['hooks.example.com', strict, 'is not an absolute URL'],
] as const)('checkWebhookUrl(%s)', (url, policy, problem) => {
  if (problem === null) expect(checkWebhookUrl(url, policy).href).toBe(new URL(url).href);
  else expect(() => checkWebhookUrl(url, policy)).toThrow(problem);
});

const s = { baseMs: 5000, maxMs: 3_600_000, retryForMs: 86_400_000 };
test.each([
  // failed attempts, random, delay: half the step plus random * half the step, step = base * 2^(n-1) capped
  [1, 0, 2500],
  [1, 1, 5000],
  [2, 0.5, 7500],
  [3, 0, 10000],
  [10, 1, 2_560_000],
  [11, 1, 3_600_000],
  [50, 0, 1_800_000],
  [0, 1, 5000],
])('retryDelayMs(%d failed, random %d) = %d', (n, r, ms) => {
  expect(retryDelayMs(n, s, r)).toBe(ms);
});

test.each([
  // now, event time, expected next (null = give up: past retryForMs after the event)
  [1_000_000, 1_000_000, 1_005_000],
  [86_396_000, 0, null],
  [86_395_000, 0, 86_400_000],
  [86_390_000 - 5000, 0, 86_390_000],
])('nextAttemptAt(1 failed at %d, event at %d) = %s', (now, eventMs, next) => {
  expect(nextAttemptAt(1, now, eventMs, s, 1)).toBe(next);
});
