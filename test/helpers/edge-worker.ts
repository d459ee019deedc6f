import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Miniflare } from 'miniflare';
import { buildEdgeWorker } from '../../scripts/build-edge';

/** The compatibility date of deploy/edge/wrangler.toml. */
export const COMPATIBILITY_DATE = '2026-04-01';

/** Bundles the edge worker once per test file into a temporary directory. */
export async function bundleEdgeWorker(): Promise<{ file: string; close(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'waitroom-edge-'));
  const file = await buildEdgeWorker(join(dir, 'worker.js'));
  return { file, close: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface HttpAnswer {
  readonly status: number;
  header(name: string): string | undefined;
  readonly text: string;
  json<T = unknown>(): T;
}

/**
 * One HTTP/1.1 request with node:http: Node's fetch would add
 * `Sec-Fetch-Mode: cors` to every request and hide what a browser navigation sends.
 */
export function httpGet(url: string, headers: Record<string, string>, opts: { method?: string; body?: string } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: opts.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          header: (n) => {
            const v = res.headers[n.toLowerCase()];
            return Array.isArray(v) ? v.join(', ') : v;
          },
          text,
          json: <T>() => JSON.parse(text) as T,
        });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The edge worker running in workerd (Miniflare), listening on a loopback port. */
export class EdgeWorker {
  private constructor(
    private readonly mf: Miniflare,
    readonly url: string,
    /** The worker's console output (workerd's stdout and stderr), line by line. */
    readonly logs: string[],
  ) {}

  static async start(scriptPath: string, bindings: Record<string, string>): Promise<EdgeWorker> {
    const logs: string[] = [];
    const collect = (s: NodeJS.ReadableStream) => s.on('data', (d: Buffer) => logs.push(...d.toString('utf8').split('\n').filter(Boolean)));
    const mf = new Miniflare({
      modules: true,
      scriptPath,
      // Module names are paths relative to this root; the default (the working directory) cannot reach a temporary directory.
      modulesRoot: dirname(scriptPath),
      compatibilityDate: COMPATIBILITY_DATE,
      bindings,
      host: '127.0.0.1',
      handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
        collect(stdout);
        collect(stderr);
      },
    });
    const url = (await mf.ready).toString().replace(/\/$/, '');
    return new EdgeWorker(mf, url, logs);
  }

  get(path: string, headers: Record<string, string>, opts?: { method?: string; body?: string }): Promise<HttpAnswer> {
    return httpGet(this.url + path, headers, opts);
  }

  stop(): Promise<void> {
    return this.mf.dispose();
  }
}
