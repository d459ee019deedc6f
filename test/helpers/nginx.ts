import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports';
import { requireTool } from './tools';

const ROOT = join(__dirname, '..', '..');

/** Fills ${NAME} placeholders like envsubst restricted to the given names. */
export function renderTemplate(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{([A-Z_]+)\}/g, (m, name: string) => vars[name] ?? m);
}

/**
 * A real nginx for one test file: the project's deploy/nginx template rendered
 * into a temporary prefix (config, pid, logs, temp paths), on a free loopback
 * port, in the foreground, as the current user.
 */
export class TestNginx {
  private constructor(
    private readonly proc: ChildProcess,
    readonly prefix: string,
    readonly port: number,
    private readonly output: string[],
  ) {}

  /**
   * `before`: other server blocks included ahead of the gate, as the official
   * image's conf.d/default.conf is (file order), with `${LISTEN_PORT}` filled too.
   */
  static async start(vars: { WAITROOM_UPSTREAM: string; ORIGIN_UPSTREAM: string }, port?: number, before?: string): Promise<TestNginx> {
    const nginx = requireTool('nginx');
    const listen = port ?? (await freePort());
    const prefix = mkdtempSync(join(tmpdir(), 'waitroom-nginx-'));
    for (const d of ['logs', 'tmp']) mkdirSync(join(prefix, d));
    const server = renderTemplate(readFileSync(join(ROOT, 'deploy', 'nginx', 'waitroom-gate.conf.template'), 'utf8'), {
      ...vars,
      LISTEN_PORT: `127.0.0.1:${listen}`,
    });
    writeFileSync(join(prefix, 'waitroom-gate.conf'), server);
    writeFileSync(join(prefix, 'before.conf'), before ? renderTemplate(before, { LISTEN_PORT: `127.0.0.1:${listen}` }) : '');
    const me = userInfo();
    writeFileSync(
      join(prefix, 'nginx.conf'),
      [
        // As root, nginx would hand its workers to "nobody"; keep them as the current user.
        me.uid === 0 ? `user ${me.username};` : '',
        'worker_processes 1;',
        `pid ${prefix}/nginx.pid;`,
        `error_log ${prefix}/logs/error.log warn;`,
        'events { worker_connections 256; }',
        'http {',
        `  access_log ${prefix}/logs/access.log;`,
        `  client_body_temp_path ${prefix}/tmp/body;`,
        `  proxy_temp_path ${prefix}/tmp/proxy;`,
        `  fastcgi_temp_path ${prefix}/tmp/fastcgi;`,
        `  uwsgi_temp_path ${prefix}/tmp/uwsgi;`,
        `  scgi_temp_path ${prefix}/tmp/scgi;`,
        `  include ${prefix}/before.conf;`,
        `  include ${prefix}/waitroom-gate.conf;`,
        '}',
        '',
      ].join('\n'),
    );
    const output: string[] = [];
    const proc = spawn(nginx, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    proc.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    const n = new TestNginx(proc, prefix, listen, output);
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          if (proc.exitCode !== null) throw new Error(`nginx exited: ${output.join('')}`);
          const s = connect(listen, '127.0.0.1', () => {
            s.destroy();
            resolve(true);
          });
          s.on('error', () => resolve(false));
        }),
      { timeoutMs: 10_000, what: `nginx on ${listen}` },
    );
    return n;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  errorLog(): string {
    try {
      return readFileSync(join(this.prefix, 'logs', 'error.log'), 'utf8') + this.output.join('');
    } catch {
      return this.output.join('');
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGTERM');
      await exited;
    }
    rmSync(this.prefix, { recursive: true, force: true });
  }
}
