import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { queueKeys } from '../../internal/store/keys';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * A Redis that goes backwards under load, with three real server processes on it:
 * every (epoch, ticket) handed out is collected, and none may appear twice. The
 * queue must move to a new epoch, whose tickets start at 1, and every ticket of
 * the old epoch must get 409 queue_reset. docs/system.md, "A store that goes backwards".
 */
jest.setTimeout(120_000);

interface Issued {
  epoch: string;
  ticket: number;
  token: string;
}

const LOOPS_PER_SERVER = 4;
const MAX_REQUESTS = 30_000; // bound on the whole load, whatever happens
const MAX_LOAD_MS = 60_000;

/** The epoch inside a ticket token (its payload is plain base64url JSON). */
function epochOf(token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { epoch: string }).epoch;
}

/** Join load over every server until stopped, bounded in count and time. */
class JoinLoad {
  readonly issued: Issued[] = [];
  readonly refused = new Map<string, number>();
  private stopped = false;
  private sent = 0;
  private readonly done: Promise<void>;
  private readonly started = Date.now();

  constructor(servers: ServerProcess[]) {
    const loops: Array<Promise<void>> = [];
    for (const s of servers) for (let i = 0; i < LOOPS_PER_SERVER; i++) loops.push(this.loop(s));
    this.done = Promise.all(loops).then(() => undefined);
  }

  private async loop(s: ServerProcess): Promise<void> {
    while (!this.stopped && this.sent < MAX_REQUESTS && Date.now() - this.started < MAX_LOAD_MS) {
      this.sent++;
      try {
        const r = await s.fetch('/join', { method: 'POST' });
        const body = (await r.json()) as { token?: string; ticket?: number; error?: { code: string } };
        if (r.status === 201) this.issued.push({ epoch: epochOf(body.token!), ticket: body.ticket!, token: body.token! });
        else this.count(`${r.status} ${body.error?.code}`);
      } catch (err) {
        this.count(`fetch ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  private count(what: string): void {
    this.refused.set(what, (this.refused.get(what) ?? 0) + 1);
  }

  /** Resolves once `n` more tickets than now were issued. */
  more(n: number, what: string): Promise<unknown> {
    const target = this.issued.length + n;
    return waitFor(() => this.issued.length >= target, { timeoutMs: 30_000, intervalMs: 10, what });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

function duplicates(issued: Issued[]): string[] {
  const seen = new Set<string>();
  const dup: string[] = [];
  for (const t of issued) {
    const k = `${t.epoch}:${t.ticket}`;
    if (seen.has(k)) dup.push(k);
    seen.add(k);
  }
  return dup;
}

function epochsInOrder(issued: Issued[]): string[] {
  return [...new Set(issued.map((t) => t.epoch))];
}

async function rollbacksCounted(servers: ServerProcess[]): Promise<number> {
  let total = 0;
  for (const s of servers) {
    const text = await (await s.fetch('/metrics')).text();
    for (const m of text.matchAll(/^waitroom_state_rollbacks_total\{[^}]*\} (\d+)/gm)) total += Number(m[1]);
  }
  return total;
}

async function expectOldTicketsReset(servers: ServerProcess[], old: Issued[]): Promise<void> {
  // A sample of the old epoch's tickets, each asked at every replica.
  const sample = old.filter((_, i) => i % Math.max(1, Math.floor(old.length / 20)) === 0);
  for (const s of servers) {
    await waitFor(async () => (await s.fetch('/status', { headers: { Authorization: `Bearer ${sample[0]!.token}` } })).status === 409, {
      timeoutMs: 10_000,
      what: `replica ${s.port} to see the new epoch`,
    });
    for (const t of sample) {
      const r = await s.fetch('/status', { headers: { Authorization: `Bearer ${t.token}` } });
      expect(r.status).toBe(409);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('queue_reset');
    }
  }
}

describe('a counter rolled back under load, three replicas', () => {
  let redis: TestRedis;
  let servers: ServerProcess[] = [];

  afterEach(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    servers = [];
    await redis?.close();
  });

  async function boot(queue: string): Promise<void> {
    redis = await TestRedis.start({ persist: true });
    const env = {
      REDIS_URL: redis.url,
      QUEUE_ID: queue,
      WINDOW_SIZE: '40',
      WINDOW_INTERVAL: '0.2',
      STATE_REFRESH_MS: '200',
      STATE_MAX_STALENESS_MS: '3000',
      LOG_LEVEL: 'warn',
    };
    servers = await Promise.all([0, 1, 2].map(() => ServerProcess.start(env)));
  }

  test('Redis restarted from an older copy of its AOF: a new epoch, never a duplicate place', async () => {
    await boot('aof-rollback');
    const aofDir = join(redis.dataDir, 'appendonlydir');
    const backup = join(redis.dataDir, 'appendonlydir.older');
    const load = new JoinLoad(servers);
    try {
      await load.more(600, 'tickets before the copy');
      // The "older copy": the AOF as it is now (appendfsync always, so it holds every
      // ticket issued so far), while joins go on.
      cpSync(aofDir, backup, { recursive: true });
      const atCopy = load.issued.length;
      await load.more(900, 'tickets after the copy');
      // Crash, and come back from the older copy: every ticket issued after it is lost to Redis.
      await redis.restart(() => {
        rmSync(aofDir, { recursive: true, force: true });
        cpSync(backup, aofDir, { recursive: true });
      });
      await load.more(900, 'tickets after the restart');
      await load.stop();

      const epochs = epochsInOrder(load.issued);
      expect(epochs.length).toBeGreaterThanOrEqual(2);
      expect(duplicates(load.issued)).toEqual([]);
      const [oldEpoch, newEpoch] = epochs as [string, string];
      const old = load.issued.filter((t) => t.epoch === oldEpoch);
      const fresh = load.issued.filter((t) => t.epoch === newEpoch);
      // Every ticket of the old epoch was issued before the crash (none after the restore).
      expect(old.length).toBeGreaterThanOrEqual(atCopy + 900);
      expect(Math.min(...fresh.map((t) => t.ticket))).toBe(1);
      expect(await rollbacksCounted(servers)).toBeGreaterThanOrEqual(1);
      await expectOldTicketsReset(servers, old);
    } finally {
      await load.stop();
    }
  });

  test('the counter SET lower by hand under load: a new epoch, never a duplicate place', async () => {
    await boot('set-rollback');
    const load = new JoinLoad(servers);
    try {
      await load.more(900, 'tickets before the SET');
      const counterKey = queueKeys('set-rollback').counter;
      const was = Number(await redis.withClient((c) => c.get(counterKey)));
      await redis.withClient((c) => c.set(counterKey, String(Math.floor(was / 2))));
      await load.more(900, 'tickets after the SET');
      await load.stop();

      const epochs = epochsInOrder(load.issued);
      expect(epochs.length).toBeGreaterThanOrEqual(2);
      expect(duplicates(load.issued)).toEqual([]);
      const old = load.issued.filter((t) => t.epoch === epochs[0]);
      // No ticket of the old epoch above the lowered value was issued again.
      expect(Math.max(...old.map((t) => t.ticket))).toBeLessThanOrEqual(was + 512 * 3);
      // The stream says so exactly once per new epoch, chained from the one it replaced
      // (docs/events.md, queue.epoch_started), though three replicas noticed it.
      const stream = await redis.withClient((c) => c.xRange(queueKeys('set-rollback').eventStream, '-', '+'));
      const started = stream
        .filter((e) => e.message.type === 'queue.epoch_started')
        .map((e) => JSON.parse(e.message.body!) as { epoch: string; previousEpoch: string | null; reason: string; counter: number; queue: string });
      expect(started.length).toBeGreaterThanOrEqual(1);
      expect(new Set(started.map((b) => b.epoch)).size).toBe(started.length);
      for (const e of epochs.slice(1)) expect(started.map((b) => b.epoch)).toContain(e);
      started.forEach((b, i) => {
        expect(b).toMatchObject({ queue: 'set-rollback', counter: 0, previousEpoch: i === 0 ? epochs[0] : started[i - 1]!.epoch });
        expect(['counter_below_seen', 'window_above_counter', 'window_below_seen', 'version_below_seen', 'retired_epoch']).toContain(b.reason);
      });
      expect(await rollbacksCounted(servers)).toBeGreaterThanOrEqual(1);
      await expectOldTicketsReset(servers, old);
    } finally {
      await load.stop();
    }
  });
});
