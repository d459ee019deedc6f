import { checkProbeUrl, HEALTHY, isLinkLocal, nextHealth, type HealthState } from '../../internal/health/origin-health';

const t = { failuresBeforeHold: 3, successesBeforeResume: 2 };

describe('nextHealth: hold after N failures in a row, resume after M successes in a row', () => {
  test.each<[string, boolean[], boolean, boolean]>([
    // what, probe results, healthy after, changed on the last
    ['all good', [true, true, true], true, false],
    ['two failures: still healthy', [false, false], true, false],
    ['the third failure in a row holds', [false, false, false], false, true],
    ['a success in between starts the count again', [false, false, true, false, false], true, false],
    ['held: one success does not resume', [false, false, false, true], false, false],
    ['held: the second success in a row resumes', [false, false, false, true, true], true, true],
    ['held: a failure between successes starts again', [false, false, false, true, false, true], false, false],
  ])('%s', (_what, results, healthy, changed) => {
    let s: HealthState & { changed?: boolean } = HEALTHY;
    for (const ok of results) s = nextHealth(s, ok, t);
    expect([s.healthy, s.changed]).toEqual([healthy, changed]);
  });

  test('one failure before holding holds at once', () => {
    expect(nextHealth(HEALTHY, false, { failuresBeforeHold: 1, successesBeforeResume: 1 })).toMatchObject({ healthy: false, changed: true });
  });
});

describe('probe URLs: link-local (cloud metadata) refused unless allowed', () => {
  test.each<[string, boolean]>([
    ['169.254.169.254', true],
    ['169.254.0.1', true],
    ['fe80::1', true],
    ['FE80::abcd', true],
    ['febf::1', true],
    ['fd00:ec2::254', true],
    ['::ffff:169.254.169.254', true],
    ['127.0.0.1', false],
    ['10.0.0.5', false],
    ['::1', false],
    ['fec0::1', false],
    ['example.com', false],
  ])('%s link-local: %p', (address, expected) => {
    expect(isLinkLocal(address)).toBe(expected);
  });

  const resolveTo = (addresses: string[]) => async () => addresses;

  test.each<[string, string[], boolean, string | null]>([
    ['http://169.254.169.254/latest/meta-data/', [], false, 'link-local'],
    ['http://[fe80::1]/', [], false, 'link-local'],
    ['http://metadata.google.internal/computeMetadata/v1/', [], false, 'metadata'],
    ['http://sneaky.example/', ['93.184.216.34', '169.254.169.254'], false, 'link-local'],
    ['http://169.254.169.254/', [], true, null],
    ['http://127.0.0.1:8080/healthz', [], false, null],
    ['https://shop.example/healthz', ['93.184.216.34'], false, null],
    ['file:///etc/passwd', [], false, 'http'],
    ['gopher://x/', [], false, 'http'],
  ])('%s (resolves to %p, allowed %p) -> %p', async (url, addresses, allow, error) => {
    const p = checkProbeUrl(url, allow, resolveTo(addresses));
    if (error) await expect(p).rejects.toThrow(error);
    else await expect(p).resolves.toBeInstanceOf(URL);
  });
});
