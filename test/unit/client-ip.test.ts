import type { IncomingMessage } from 'node:http';
import { clientIp } from '../../internal/http/client-ip';

const req = (peer: string, xff?: string | string[]) => ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

describe('clientIp: trusted hops counted from the right, as Express trust proxy = N', () => {
  test.each([
    // peer, X-Forwarded-For, hops, expected
    ['10.0.0.1', undefined, 0, '10.0.0.1'],
    ['10.0.0.1', '203.0.113.7', 0, '10.0.0.1'], // not trusted: the header is ignored
    ['10.0.0.1', '203.0.113.7', 1, '203.0.113.7'], // behind one load balancer
    ['10.0.0.1', '6.6.6.6, 203.0.113.7', 1, '203.0.113.7'], // a client-written entry is skipped
    ['10.0.0.1', '6.6.6.6, 203.0.113.7, 10.0.0.9', 2, '203.0.113.7'], // CDN then load balancer
    ['10.0.0.1', ['6.6.6.6', '203.0.113.7'], 1, '203.0.113.7'], // repeated headers
    ['10.0.0.1', '203.0.113.7', 3, '203.0.113.7'], // fewer entries than hops: the farthest one
    ['10.0.0.1', '', 1, '10.0.0.1'],
  ])('peer %s, XFF %j, %i hops -> %s', (peer, xff, hops, expected) => {
    expect(clientIp(req(peer, xff), hops)).toBe(expected);
  });
});
