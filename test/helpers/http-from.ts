import { Agent, request, type IncomingHttpHeaders } from 'node:http';

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One agent per source address: keep-alive connections bound to it (several 127.0.0.x play several clients). */
const agents = new Map<string, Agent>();
function agentFor(localAddress: string): Agent {
  let a = agents.get(localAddress);
  if (!a) {
    a = new Agent({ keepAlive: true, maxSockets: 16, localAddress });
    agents.set(localAddress, a);
  }
  return a;
}

export function closeAgents(): void {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}

/**
 * An HTTP request from a chosen loopback source address (`localAddress`), so a
 * test can be several clients at once; the server sees 127.0.0.x as the peer.
 */
export function httpFrom(
  url: string,
  opts: { from?: string; method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<Reply> {
  const from = opts.from ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: agentFor(from) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`request to ${url} timed out`)));
    req.end(opts.body);
  });
}
