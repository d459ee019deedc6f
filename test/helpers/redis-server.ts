import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { freePort, waitFor } from './ports';
import { requireTool } from './tools';

/**
 * A private redis-server for one test file, on a free loopback port, never
 * the shared instance on 6379. Fault tests stop, restart, pause and resume it.
 */
export class TestRedis {
  private proc: ChildProcess | undefined;
  private readonly dir: string;
  port = 0;

  private constructor(
    private readonly persist: boolean,
    private readonly extraArgs: string[],
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'waitroom-redis-'));
  }

  /** persist: AOF with appendfsync always; replicaOf: start as a replica of that server. */
  static async start(opts: { persist?: boolean; replicaOf?: TestRedis } = {}): Promise<TestRedis> {
    requireTool('redis-server');
    const extra = opts.replicaOf ? ['--replicaof', '127.0.0.1', String(opts.replicaOf.port)] : [];
    const r = new TestRedis(opts.persist ?? false, extra);
    r.port = await freePort();
    await r.launch();
    return r;
  }

  /** The data directory (the AOF lives in its appendonlydir). */
  get dataDir(): string {
    return this.dir;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private async launch(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--logfile', ''];
    args.push('--appendonly', this.persist ? 'yes' : 'no');
    if (this.persist) args.push('--appendfsync', 'always');
    args.push(...this.extraArgs);
    this.proc = spawn('redis-server', args, { stdio: 'ignore' });
    await waitFor(() => this.ping(), { timeoutMs: 10_000, what: `redis-server on ${this.port}` });
  }

  async ping(): Promise<boolean> {
    const c = createClient({ url: this.url, socket: { reconnectStrategy: false, connectTimeout: 500 } });
    c.on('error', () => undefined);
    try {
      await c.connect();
      return (await c.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      if (c.isOpen) await c.close().catch(() => undefined);
    }
  }

  /** A short-lived client for assertions and fault injection (FLUSHALL, DEL, ...). */
  async withClient<T>(fn: (c: ReturnType<typeof createClient>) => Promise<T>): Promise<T> {
    const c = createClient({ url: this.url, socket: { reconnectStrategy: false } });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.close().catch(() => undefined);
    }
  }

  /** SIGKILL: the process and (without persistence) its data are gone. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGCONT');
    p.kill('SIGKILL');
    await exited;
  }

  /**
   * Starts again on the same port (and data dir). `whileDown` runs between the
   * kill and the start, e.g. to put an older AOF in place.
   */
  async restart(whileDown?: () => void | Promise<void>): Promise<void> {
    await this.stop();
    await whileDown?.();
    await this.launch();
  }

  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
