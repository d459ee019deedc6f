import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, waitFor } from './ports';

const ROOT = join(__dirname, '..', '..');
/** Built by test/helpers/global-setup.js before any test runs. */
export const SERVER_ENTRY = join(ROOT, 'dist', 'cmd', 'server', 'main.js');

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

/**
 * A real waitroom server process, started the way the container starts it
 * (`node dist/cmd/server/main.js`), on a free loopback port.
 */
export class ServerProcess {
  readonly logs: string[] = [];
  exitCode: number | null = null;
  signal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;

  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
  ) {
    const onData = (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n')) if (line) this.logs.push(line);
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.exitCode = code;
        this.signal = signal;
        resolve();
      }),
    );
  }

  /**
   * `nodeArgs` go between node and the script, as a container's command puts them; `wrap`
   * turns the command into another that execs it (a memory cgroup's, bench/lib/cgroup.ts).
   */
  static async start(
    env: Record<string, string>,
    opts: { waitReady?: boolean; nodeArgs?: string[]; wrap?: (cmd: string, args: string[]) => { cmd: string; args: string[] } } = {},
  ): Promise<ServerProcess> {
    const port = await freePort();
    const argv = [...(opts.nodeArgs ?? []), SERVER_ENTRY];
    const { cmd, args } = opts.wrap ? opts.wrap(process.execPath, argv) : { cmd: process.execPath, args: argv };
    const proc = spawn(cmd, args, {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: String(port),
        JWT_SECRET: TEST_SECRET,
        LOG_LEVEL: 'info',
        // Tests play thousands of visitors from one loopback address; the join-limit
        // tests (test/abuse/) set their own limit.
        JOIN_LIMIT_BURST: '0',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const s = new ServerProcess(proc, port);
    if (opts.waitReady !== false) {
      await waitFor(async () => (await s.fetch('/readyz')).status === 200, { timeoutMs: 15_000, what: `server on ${port} ready` }).catch((err) => {
        throw new Error(`${(err as Error).message}\n${s.logs.slice(-20).join('\n')}`);
      });
    }
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(this.url + path, init);
  }

  /** Parsed JSON log lines. */
  logEntries(): Array<Record<string, unknown>> {
    return this.logs.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exitCode === null && this.signal === null) this.proc.kill(signal);
  }

  async stop(): Promise<void> {
    if (this.exitCode !== null || this.signal !== null) return;
    this.proc.kill('SIGCONT');
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}
