import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestNginx } from '../helpers/nginx';

/**
 * The gate template beside the official nginx image's own default site
 * (conf.d/default.conf, first in file order, `server_name localhost`): the
 * gate must still answer the protected site's host name, not "Welcome to nginx".
 */

// The official image's conf.d/default.conf, with its static root replaced by the text it serves.
const OFFICIAL_DEFAULT_CONF = `
server {
    listen       \${LISTEN_PORT};
    server_name  localhost;
    location / {
        default_type text/html;
        return 200 "<h1>Welcome to nginx!</h1>";
    }
}
`;

let waitroom: Server;
let origin: Server;
let nginx: TestNginx;

function listen(s: Server): Promise<string> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
}

function get(host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: nginx.port, path: '/products/1', headers: { Host: host, Accept: 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  // A stand-in waitroom whose gate admits everything, and an origin that names itself.
  waitroom = createServer((req, res) => {
    res.writeHead(req.url?.startsWith('/verify') ? 204 : 404, { 'X-Waitroom-Queue': 'q', 'X-Waitroom-Ticket': '1' }).end();
  });
  origin = createServer((req, res) => res.end(`origin ${req.url} ticket=${req.headers['x-waitroom-ticket']}`));
  const [w, o] = await Promise.all([listen(waitroom), listen(origin)]);
  nginx = await TestNginx.start({ WAITROOM_UPSTREAM: w, ORIGIN_UPSTREAM: o }, undefined, OFFICIAL_DEFAULT_CONF);
});

afterAll(async () => {
  await nginx?.stop();
  await new Promise((r) => waitroom?.close(r));
  await new Promise((r) => origin?.close(r));
});

it('answers the site host through the gate, though the default site comes first', async () => {
  expect(await get('shop.example.com')).toEqual({ status: 200, body: 'origin /products/1 ticket=1' });
  // Any host no block names goes to the default_server: the gate.
  expect((await get('203.0.113.7')).body).toBe('origin /products/1 ticket=1');
});

it('still leaves the host the default site names to it (the docs replace that file instead)', async () => {
  expect((await get('localhost')).body).toContain('Welcome to nginx');
});
