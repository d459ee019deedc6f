import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { FloorReply } from '../lib/replies';

/**
 * The floor under an endpoint's figure: a server that does no work at all but
 * write the reply the service gave to that request, the same status, headers and
 * body (captured by bench/run.ts from the running service). Whatever the service spends above this
 * floor is its own work; a target that needs less CPU per request than the floor
 * cannot be met by any code behind this HTTP server on this machine.
 *
 *   floor.ts <port> <replies.json> http   node:http, written as respond.ts writes (one writeHead, one end)
 *   floor.ts <port> <replies.json> raw    node:net, no HTTP server: each request head found by its blank
 *                                         line and answered with the reply's bytes. A lower bound for
 *                                         any HTTP server written in JavaScript on node:net, since a real
 *                                         one must also parse and check what it reads (this one does not)
 *
 * replies.json: { "METHOD /path": { "status": 200, "headers": ["Name", "value", ...], "body": "..." } }.
 * Only GET routes without a body are served by the raw floor (it never reads a body).
 */
const port = Number(process.argv[2]);
const replies = JSON.parse(readFileSync(process.argv[3]!, 'utf8')) as Record<string, FloorReply>;
const kind = process.argv[4];
const REASONS: Record<number, string> = { 200: 'OK', 201: 'Created' };

if (kind === 'raw') {
  // Each reply as one latin1 string (the body is JSON, ASCII), with the Date node would add.
  let date = new Date().toUTCString();
  setInterval(() => (date = new Date().toUTCString()), 1000).unref();
  const heads = new Map<string, { head: string; body: string }>();
  for (const [key, r] of Object.entries(replies)) {
    let head = `HTTP/1.1 ${r.status} ${REASONS[r.status] ?? 'OK'}\r\n`;
    for (let i = 0; i < r.headers.length; i += 2) head += `${r.headers[i]}: ${r.headers[i + 1]}\r\n`;
    heads.set(key, { head, body: Buffer.from(r.body, 'utf8').toString('latin1') });
  }
  const server = createNetServer((socket) => {
    socket.setNoDelay(true);
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      const text = pending + chunk.toString('latin1');
      let out = '';
      let start = 0;
      for (let end = text.indexOf('\r\n\r\n'); end >= 0; end = text.indexOf('\r\n\r\n', start)) {
        const line = text.slice(start, text.indexOf('\r\n', start));
        const sp = line.indexOf(' ');
        const target = line.slice(sp + 1, line.indexOf(' ', sp + 1));
        const q = target.indexOf('?');
        const r = heads.get(`${line.slice(0, sp)} ${q < 0 ? target : target.slice(0, q)}`);
        out += r
          ? `${r.head}Date: ${date}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n${r.body}`
          : 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n';
        start = end + 4;
      }
      pending = text.slice(start);
      if (out !== '') socket.write(out, 'latin1');
    });
    socket.on('error', () => undefined);
  });
  server.listen(port, '127.0.0.1');
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
} else {
  const byRoute = new Map(Object.entries(replies));
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const r = byRoute.get(`${req.method} ${q < 0 ? url : url.slice(0, q)}`);
    req.resume();
    if (!r) {
      res.writeHead(404, ['Content-Length', '0']);
      res.end();
      return;
    }
    res.writeHead(r.status, r.headers);
    res.end(r.body);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, '127.0.0.1');
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}
