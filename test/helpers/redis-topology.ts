import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { freePort, waitFor } from './ports';
import { requireTool } from './tools';

type Client = ReturnType<typeof createClient>;

/** One redis-server process of a cluster or sentinel group, on a free loopback port. */
export class RedisNodeProcess {
  proc: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly args: string[],
    readonly dir: string,
  ) {}

  launch(): void {
    mkdirSync(this.dir, { recursive: true });
    this.proc = spawn('redis-server', this.args, { stdio: 'ignore', cwd: this.dir });
  }

  get alive(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** kill -9: the node is gone without a goodbye, as when a machine dies. */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGCONT');
    p.kill('SIGKILL');
    await exited;
  }

  async withClient<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const c = createClient({ url: `redis://127.0.0.1:${this.port}`, socket: { reconnectStrategy: false, connectTimeout: 1000 } });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.close().catch(() => c.destroy());
    }
  }

  async command(args: string[]): Promise<unknown> {
    return this.withClient((c) => c.sendCommand(args));
  }
}

/** Two free ports (client, cluster bus). */
async function twoPorts(): Promise<[number, number]> {
  for (;;) {
    const a = await freePort();
    const b = await freePort();
    if (a !== b) return [a, b];
  }
}

// No sync delay: a replica's first full sync starts at once instead of 5 s later.
const COMMON = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', 'redis.log', '--repl-diskless-sync-delay', '0'];

/**
 * A real Redis Cluster on loopback: `primaries` primaries, each with `replicas`
 * replicas, created with `redis-cli --cluster create`. A short node timeout
 * (1 s) makes the replica of a killed primary take over in a few seconds.
 */
export class TestRedisCluster {
  readonly nodes: RedisNodeProcess[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'waitroom-cluster-'));

  static async start(opts: { primaries?: number; replicas?: number; nodeTimeoutMs?: number } = {}): Promise<TestRedisCluster> {
    const primaries = opts.primaries ?? 3;
    const replicas = opts.replicas ?? 1;
    requireTool('redis-server');
    requireTool('redis-cli');
    const c = new TestRedisCluster();
    try {
      for (let i = 0; i < primaries * (1 + replicas); i++) {
        const [port, bus] = await twoPorts();
        const args = [
          '--port', String(port), '--cluster-port', String(bus), ...COMMON,
          '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
          '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 1000),
          // A replica whose link to the dead primary was fresh may always take over.
          '--cluster-replica-validity-factor', '0',
        ];
        const n = new RedisNodeProcess(port, args, join(c.dir, `node-${i}`));
        n.launch();
        c.nodes.push(n);
      }
      for (const n of c.nodes) await waitFor(() => n.command(['PING']).then((r) => r === 'PONG'), { timeoutMs: 10_000, what: `cluster node ${n.port}` });
      const create = spawnSync('redis-cli', ['--cluster', 'create', ...c.nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
      await c.waitHealthy();
      // cluster_state:ok comes before the replicas' first sync (a diskless sync waits
      // repl-diskless-sync-delay, 5 s by default): a primary killed before then has a
      // replica with no data, which takes over empty. Tests kill primaries; wait for the links.
      for (const n of c.nodes) {
        await waitFor(
          async () => {
            const info = String(await n.command(['INFO', 'replication']));
            return info.includes('role:master') || info.includes('master_link_status:up');
          },
          { timeoutMs: 30_000, intervalMs: 100, what: `cluster replica ${n.port} in sync` },
        );
      }
      return c;
    } catch (err) {
      await c.close();
      throw err;
    }
  }

  /** Waits until every live node reports cluster_state:ok and every slot is served. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        for (const n of this.nodes.filter((x) => x.alive)) {
          const info = String(await n.command(['CLUSTER', 'INFO']));
          if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) return false;
        }
        return true;
      },
      { timeoutMs, intervalMs: 200, what: 'cluster state ok' },
    );
  }

  /** Seed URL for waitroom, naming the given nodes (default: all). */
  url(nodes: RedisNodeProcess[] = this.nodes, scheme = 'redis-cluster'): string {
    return `${scheme}://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  }

  /** The live node that is primary for the slot of `key`, by asking a live node. */
  async primaryFor(key: string): Promise<RedisNodeProcess> {
    const any = this.nodes.find((n) => n.alive);
    if (!any) throw new Error('no live cluster node');
    const slot = Number(await any.command(['CLUSTER', 'KEYSLOT', key]));
    const shards = (await any.command(['CLUSTER', 'SLOTS'])) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
    for (const [from, to, master] of shards) {
      if (slot >= from && slot <= to) {
        const node = this.nodes.find((n) => n.port === Number(master[1]));
        if (node) return node;
      }
    }
    throw new Error(`no primary for slot ${slot}`);
  }

  async slotOf(key: string): Promise<number> {
    const any = this.nodes.find((n) => n.alive);
    if (!any) throw new Error('no live cluster node');
    return Number(await any.command(['CLUSTER', 'KEYSLOT', key]));
  }

  /** Ports of the current primaries. */
  async primaryPorts(): Promise<number[]> {
    const any = this.nodes.find((n) => n.alive);
    if (!any) throw new Error('no live cluster node');
    const shards = (await any.command(['CLUSTER', 'SLOTS'])) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
    return [...new Set(shards.map((s) => Number(s[2][1])))];
  }

  async close(): Promise<void> {
    for (const n of this.nodes) await n.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A real Sentinel group on loopback: one primary, `replicas` replicas and
 * `sentinels` sentinels (quorum 2), with a 1 s down-after so a killed primary
 * is replaced within a few seconds.
 */
export class TestRedisSentinel {
  readonly masterName = 'mymaster';
  primary!: RedisNodeProcess;
  readonly replicas: RedisNodeProcess[] = [];
  readonly sentinels: RedisNodeProcess[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'waitroom-sentinel-'));

  static async start(opts: { replicas?: number; sentinels?: number } = {}): Promise<TestRedisSentinel> {
    requireTool('redis-server');
    const s = new TestRedisSentinel();
    try {
      const pport = await freePort();
      s.primary = new RedisNodeProcess(pport, ['--port', String(pport), ...COMMON], join(s.dir, 'primary'));
      s.primary.launch();
      await waitFor(() => s.primary.command(['PING']).then((r) => r === 'PONG'), { timeoutMs: 10_000, what: 'sentinel primary' });
      for (let i = 0; i < (opts.replicas ?? 1); i++) {
        const port = await freePort();
        const r = new RedisNodeProcess(port, ['--port', String(port), ...COMMON, '--replicaof', '127.0.0.1', String(pport)], join(s.dir, `replica-${i}`));
        r.launch();
        s.replicas.push(r);
      }
      for (const r of s.replicas) {
        await waitFor(async () => String(await r.command(['INFO', 'replication'])).includes('master_link_status:up'), {
          timeoutMs: 15_000,
          what: `replica ${r.port} in sync`,
        });
      }
      for (let i = 0; i < (opts.sentinels ?? 3); i++) {
        const port = await freePort();
        const dir = join(s.dir, `sentinel-${i}`);
        mkdirSync(dir, { recursive: true });
        const conf = join(dir, 'sentinel.conf');
        writeFileSync(
          conf,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            'logfile sentinel.log',
            `sentinel monitor ${s.masterName} 127.0.0.1 ${pport} 2`,
            `sentinel down-after-milliseconds ${s.masterName} 1000`,
            `sentinel failover-timeout ${s.masterName} 10000`,
            `sentinel parallel-syncs ${s.masterName} 1`,
            '',
          ].join('\n'),
        );
        const n = new RedisNodeProcess(port, [conf, '--sentinel'], dir);
        n.launch();
        s.sentinels.push(n);
      }
      for (const n of s.sentinels) {
        await waitFor(
          async () => {
            const r = (await n.command(['SENTINEL', 'SENTINELS', s.masterName])) as unknown[];
            return r.length >= s.sentinels.length - 1;
          },
          { timeoutMs: 20_000, intervalMs: 200, what: `sentinel ${n.port} sees the others` },
        );
      }
      return s;
    } catch (err) {
      await s.close();
      throw err;
    }
  }

  url(scheme = 'redis-sentinel'): string {
    return `${scheme}://${this.sentinels.map((n) => `127.0.0.1:${n.port}`).join(',')}/${this.masterName}`;
  }

  /** Port of the primary the sentinels currently name. */
  async currentPrimaryPort(): Promise<number> {
    for (const n of this.sentinels.filter((x) => x.alive)) {
      try {
        const r = (await n.command(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName])) as [string, string];
        return Number(r[1]);
      } catch {
        // try the next sentinel
      }
    }
    throw new Error('no sentinel answered');
  }

  nodeOnPort(port: number): RedisNodeProcess {
    const n = [this.primary, ...this.replicas].find((x) => x.port === port);
    if (!n) throw new Error(`no data node on ${port}`);
    return n;
  }

  async close(): Promise<void> {
    for (const n of [...this.sentinels, ...this.replicas, this.primary]) if (n) await n.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
