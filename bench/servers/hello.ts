import { createServer } from 'node:http';

/**
 * The baseline: a bare node:http hello world on the same core, measured in the
 * same run. Every endpoint's req/s is reported as a ratio to this, which keeps
 * runs on different machines and days comparable.
 */
const port = Number(process.argv[2]);
const body = Buffer.from('{"hello":"world"}');
const server = createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
