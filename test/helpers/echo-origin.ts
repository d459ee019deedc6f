import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, waitFor } from './ports';

/**
 * The protected site as a separate process on loopback: it answers every request
 * with what it received (method, URL, headers, body) as JSON, so a test can see
 * exactly what a gate in front of it forwarded. Plain Node, no framework.
 */
const SCRIPT = `
const http = require('node:http');
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.stringify({ origin: 'echo', method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'X-Origin': 'echo' });
    res.end(body);
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

export interface Echo {
  readonly origin: string;
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export class EchoOrigin {
  private constructor(
    readonly proc: ChildProcess,
    readonly url: string,
  ) {}

  static async start(): Promise<EchoOrigin> {
    const port = await freePort();
    const proc = spawn(process.execPath, ['-e', SCRIPT], { env: { PATH: process.env.PATH ?? '', PORT: String(port) }, stdio: 'ignore' });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/ping`)).ok, { timeoutMs: 10_000, what: 'echo origin' });
    return new EchoOrigin(proc, url);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGKILL');
    await exited;
  }
}
