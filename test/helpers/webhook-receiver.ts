import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from './ports';

/** The example receiver (examples/webhook-receiver), built by the global setup. */
export const RECEIVER = join(__dirname, '..', '..', 'dist', 'examples', 'webhook-receiver', 'server.js');

export interface Received {
  received: Array<{ webhookId: string; type: string; body: { id: string; type: string; data: Record<string, unknown> }; attempt: number }>;
  attempts: Record<string, number>;
  arrivals: Record<string, number>;
}

export class Receiver {
  readonly logs: string[] = [];
  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
  ) {
    proc.stdout?.on('data', (d: Buffer) => this.logs.push(...d.toString('utf8').split('\n').filter(Boolean)));
    proc.stderr?.on('data', (d: Buffer) => this.logs.push(d.toString('utf8')));
  }

  static async start(port: number, secret: string, env: Record<string, string> = {}): Promise<Receiver> {
    const proc = spawn(process.execPath, [RECEIVER], { env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), WEBHOOK_SECRET: secret, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const r = new Receiver(proc, port);
    await waitFor(() => r.logs.some((l) => l.startsWith('webhook receiver on')), { timeoutMs: 10_000, what: 'the receiver to listen' });
    return r;
  }

  async state(): Promise<Received> {
    return (await (await fetch(`http://127.0.0.1:${this.port}/received`)).json()) as Received;
  }

  stop(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

