
/**
 * Durable joins (JOIN_DURABILITY, docs/system.md "Durable joins"): after join.lua
 * wrote a batch, the store waits until the write reached replicas (WAIT) or the AOF
 * on disk (WAITAOF, Redis 7.2+) before the tickets are handed out. A ticket that
 * a crash or a failover could still take back is then never shown to a visitor.
 */
export type JoinDurabilityMode = 'none' | 'replica' | 'aof';

export interface JoinDurability {
  readonly mode: Exclude<JoinDurabilityMode, 'none'>;
  /** replica: WAIT numreplicas; aof: WAITAOF 1 numreplicas (0 = the primary's own AOF only). */
  readonly replicas: number;
  /** How long a join waits for the acknowledgements before it fails with 503. */
  readonly timeoutMs: number;
}

/** Whatever sends one raw command to the node that ran the join (RedisConnection.sendCommand). */
interface Client {
  sendCommand(args: string[]): Promise<unknown>;
}

/** The Redis server cannot give the durability asked for; the replica must not start. */
export class DurabilityUnsupportedError extends Error {
  override readonly name = 'DurabilityUnsupportedError';
}

/** "7.0.15" from INFO server. */
function redisVersion(info: string): string {
  return /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown';
}

/**
 * Checks once per connection that the server can do what `d` asks: WAITAOF exists
 * (Redis 7.2+; COMMAND INFO answers nil for an unknown command) and the AOF is on
 * (WAITAOF with numlocal 1 fails on a server without it). WAIT exists everywhere;
 * missing replicas show as failed joins, not as a start failure, since a replica
 * can come later.
 */
export async function checkDurabilitySupport(client: Client, d: JoinDurability): Promise<void> {
  if (d.mode !== 'aof') return;
  const info = String(await client.sendCommand(['INFO', 'server']));
  const cmd = (await client.sendCommand(['COMMAND', 'INFO', 'WAITAOF'])) as unknown[];
  if (!Array.isArray(cmd) || cmd[0] == null) {
    throw new DurabilityUnsupportedError(
      `JOIN_DURABILITY=aof needs WAITAOF, which Redis 7.2 added; this Redis is ${redisVersion(info)}. ` +
        'Upgrade Redis, or use JOIN_DURABILITY=replica (WAIT) or none.',
    );
  }
  const persistence = String(await client.sendCommand(['INFO', 'persistence']));
  if (!/aof_enabled:1/.test(persistence)) {
    throw new DurabilityUnsupportedError('JOIN_DURABILITY=aof needs the AOF: this Redis runs with appendonly no. Set appendonly yes, or use JOIN_DURABILITY=replica.');
  }
}

/**
 * Waits until every write this connection made so far is acknowledged as `d`
 * asks, within d.timeoutMs. Returns a description of the shortfall, or null when
 * the write is durable. Must run on the connection that wrote (WAIT and WAITAOF
 * cover the calling client's writes).
 */
export async function awaitDurable(client: Client, d: JoinDurability): Promise<string | null> {
  if (d.mode === 'replica') {
    const acked = Number(await client.sendCommand(['WAIT', String(d.replicas), String(d.timeoutMs)]));
    return acked >= d.replicas ? null : `${acked} of ${d.replicas} replicas acknowledged within ${d.timeoutMs} ms`;
  }
  const r = (await client.sendCommand(['WAITAOF', '1', String(d.replicas), String(d.timeoutMs)])) as unknown[];
  const local = Number(r?.[0]);
  const replicas = Number(r?.[1]);
  if (local >= 1 && replicas >= d.replicas) return null;
  return `the AOF fsync (local ${local}, replicas ${replicas} of ${d.replicas}) did not complete within ${d.timeoutMs} ms`;
}
