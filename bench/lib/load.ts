import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { LOAD_CORE, WORK_DIR, spawnPinned } from './procs';

const AUTOCANNON = join(__dirname, '..', '..', 'node_modules', 'autocannon', 'autocannon.js');
const TOKENS_RUNNER = join(__dirname, '..', 'support', 'load-tokens.js');

export interface LoadSpec {
  readonly url: string;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly connections: number;
  readonly durationSec: number;
  /** Bearer tokens: each request sends one chosen at random (GET only; bench/support/load-tokens.js). */
  readonly tokens?: readonly string[];
  /** Paths: each request goes to one chosen at random, with `method` (bench/support/load-tokens.js). */
  readonly paths?: readonly string[];
  /** Overall requests per second to offer (autocannon -R); unset: as fast as the server answers. */
  readonly rate?: number;
}

export interface LoadResult {
  readonly rps: number;
  readonly meanMs: number;
  /** autocannon records latency in whole milliseconds, so p50/p99 are whole numbers. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly durationSec: number;
}

interface AutocannonJson {
  requests: { average: number; total: number };
  latency: { mean: number; p50: number; p99: number };
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}

/**
 * One autocannon run in its own process on the load core (autocannon in the
 * orchestrator would share its event loop with the bookkeeping). Loopback
 * only; bounded by -d and by a hard kill a little after it.
 */
export function runLoad(name: string, spec: LoadSpec): Promise<LoadResult> {
  const u = new URL(spec.url);
  if (u.hostname !== '127.0.0.1') throw new Error(`refusing to send load to ${u.hostname}: loopback only`);
  let args: string[];
  if (spec.tokens || spec.paths) {
    const file = join(WORK_DIR, `load-${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({ url: spec.url, method: spec.method, connections: spec.connections, durationSec: spec.durationSec, rate: spec.rate, tokens: spec.tokens, paths: spec.paths }),
    );
    args = [TOKENS_RUNNER, file];
  } else {
    args = [AUTOCANNON, '--json', '--no-progress', '-c', String(spec.connections), '-d', String(spec.durationSec), '-t', '10', '-m', spec.method ?? 'GET'];
    if (spec.rate !== undefined) args.push('-R', String(spec.rate));
    for (const [k, v] of Object.entries(spec.headers ?? {})) args.push('-H', `${k}=${v}`);
    args.push(spec.url);
  }
  const child = spawnPinned(`load-${name}`, LOAD_CORE, process.execPath, args, process.env, { captureStdout: true });
  let out = '';
  child.proc.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const hardLimit = setTimeout(() => child.proc.kill('SIGKILL'), (spec.durationSec + 30) * 1000);
  return new Promise((resolve, reject) => {
    child.proc.once('exit', (code) => {
      clearTimeout(hardLimit);
      try {
        if (code !== 0) throw new Error(`autocannon exited with ${code}`);
        const r = JSON.parse(out.slice(out.indexOf('{'))) as AutocannonJson;
        resolve({
          rps: r.requests.average,
          meanMs: r.latency.mean,
          p50Ms: r.latency.p50,
          p99Ms: r.latency.p99,
          requests: r.requests.total,
          ok: r['2xx'],
          non2xx: r.non2xx,
          errors: r.errors + r.timeouts,
          durationSec: r.duration,
        });
      } catch (err) {
        reject(new Error(`load run ${name} failed: ${(err as Error).message}\n${out.slice(0, 500)}`));
      }
    });
  });
}
