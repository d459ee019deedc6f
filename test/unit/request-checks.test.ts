import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { checkRequest, mayRepeat } from '../../internal/http/request-checks';

describe('mayRepeat', () => {
  test.each<[string, string[], boolean]>([
    ['no headers', [], false],
    ['one Authorization', ['Authorization', 'Bearer a'], false],
    ['one of each', ['authorization', 'a', 'Proxy-Authorization', 'b'], false],
    ['two Authorization', ['Authorization', 'a', 'authorization', 'b'], true],
    ['two, other cases', ['AUTHORIZATION', 'a', 'Host', 'h', 'aUtHoRiZaTiOn', 'b'], true],
    ['two Proxy-Authorization', ['proxy-authorization', 'a', 'PROXY-AUTHORIZATION', 'b'], true],
    ['names of the same length', ['authorizatioN', 'a', 'authorizationx', 'b', 'x-authorization', 'c'], false],
    ['13-character names that are not it', ['Cache-Control', 'a', 'Authorisation', 'b', 'authorization', 'c'], false],
    ['19-character names that are not it', ['x-forwarded-for-abc', 'a', 'proxy-authorization', 'b', 'proxy-authorizatio_', 'c'], false],
    ['a value named like a header', ['X', 'authorization', 'authorization', 'a'], false],
  ])('%s', (_name, raw, expected) => {
    expect(mayRepeat(raw)).toBe(expected);
  });
});

/**
 * checkRequest against the verdict it replaced (req.headersDistinct alone), on
 * real requests parsed by node:http.
 */
describe('checkRequest gives the headersDistinct verdict', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      const fast = checkRequest(req)?.code ?? 'ok';
      const d = req.headersDistinct;
      const slow = (d.authorization?.length ?? 0) > 1 || (d['proxy-authorization']?.length ?? 0) > 1 ? 'duplicate_header' : 'ok';
      res.end(`${fast} ${slow}`);
    });
    server.maxHeadersCount = 20;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const ask = (headers: string[]) =>
    new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      let out = '';
      s.on('data', (c) => (out += c.toString()));
      s.on('end', () => resolve(out.slice(out.indexOf('\r\n\r\n') + 4)));
      s.on('error', reject);
      s.end(`GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`);
    });
  const filler = Array.from({ length: 25 }, (_, i) => `X-F${i}: v`);

  test.each<[string, string[], string]>([
    ['none', [], 'ok'],
    ['one', ['Authorization: Bearer a'], 'ok'],
    ['two', ['Authorization: Bearer a', 'authorization: Bearer b'], 'duplicate_header'],
    ['two, the same value', ['Authorization: Bearer a', 'Authorization: Bearer a'], 'duplicate_header'],
    ['two empty', ['Authorization:', 'Authorization:'], 'duplicate_header'],
    ['two Proxy-Authorization', ['Proxy-Authorization: a', 'PROXY-AUTHORIZATION: b'], 'duplicate_header'],
    ['one of each', ['Authorization: a', 'Proxy-Authorization: b'], 'ok'],
    // Past maxHeadersCount node keeps no header: the second one does not count, as before.
    ['the second past maxHeadersCount', ['Authorization: a', ...filler, 'Authorization: b'], 'ok'],
    ['both past maxHeadersCount', [...filler, 'Authorization: a', 'Authorization: b'], 'ok'],
  ])('%s', async (_name, headers, expected) => {
    expect(await ask(headers)).toBe(`${expected} ${expected}`);
  });
});
