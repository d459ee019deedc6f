import { queueKeys, webhookKeys } from '../../internal/store/keys';
import { freePort, waitFor } from '../helpers/ports';
import { TestRedisCluster } from '../helpers/redis-topology';
import { ServerProcess } from '../helpers/server-process';
import { Receiver } from '../helpers/webhook-receiver';

/**
 * Webhooks on a Redis Cluster: the endpoints live in the `{webhooks}` slot, the queue's
 * stream, retry set and dispatcher lease in the queue's slot, on another primary. No
 * command spans the two (a cross-slot command would fail with CROSSSLOT), so a signed
 * event still reaches the receiver, through two replicas.
 */
const ADMIN = 'ops:0123456789abcdef0123';
const AUTH = { Authorization: 'Bearer 0123456789abcdef0123', 'Content-Type': 'application/json' };

let cluster: TestRedisCluster;
const servers: ServerProcess[] = [];
let receiver: Receiver | undefined;

afterAll(async () => {
  receiver?.stop();
  for (const s of servers) await s.stop();
  await cluster?.close();
});

test('an event of a queue on one primary is delivered, signed, to an endpoint stored on another', async () => {
  cluster = await TestRedisCluster.start({ primaries: 3, replicas: 0 });
  const hooksPrimary = (await cluster.primaryFor(webhookKeys.endpoints)).port;
  let queue = '';
  for (let i = 0; i < 1000 && !queue; i++) {
    if ((await cluster.primaryFor(queueKeys(`hooked-${i}`).eventStream)).port !== hooksPrimary) queue = `hooked-${i}`;
  }
  expect(queue).not.toBe('');
  for (let i = 0; i < 2; i++) {
    servers.push(
      await ServerProcess.start({
        REDIS_URL: cluster.url(),
        QUEUE_ID: 'main',
        ADMIN_TOKENS: ADMIN,
        LEASE_TTL_MS: '1500',
        WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
        WEBHOOK_POLL_MS: '100',
        WEBHOOK_RETRY_BASE_MS: '200',
        LOG_LEVEL: process.env.HA_LOG_LEVEL ?? 'warn',
      }),
    );
  }
  const api = (path: string, method = 'GET', body?: unknown) =>
    servers[0]!.fetch(`/admin/api/v1${path}`, { method, headers: AUTH, body: body === undefined ? undefined : JSON.stringify(body) });
  expect((await api('/queues', 'POST', { id: queue })).status).toBe(201);
  const port = await freePort();
  const created = await api('/webhooks', 'POST', { url: `http://127.0.0.1:${port}/`, events: ['queue.updated'], queue });
  expect(created.status).toBe(201);
  const hook = (await created.json()) as { id: string; secret: string };
  receiver = await Receiver.start(port, hook.secret, { FAIL_FIRST: '1' });
  expect((await api(`/queues/${queue}`, 'PATCH', { message: 'cluster' })).status).toBe(200);
  const got = await waitFor(async () => (await receiver!.state()).received[0], { timeoutMs: 20_000, what: 'the event on the receiver' });
  expect(got.type).toBe('queue.updated');
  expect(got.attempt).toBe(2);
  const d = await waitFor(async () => {
    const list = ((await (await api(`/webhooks/${hook.id}/deliveries`)).json()) as { deliveries: Array<{ state: string; attempts: number }> }).deliveries;
    return list[0]?.state === 'delivered' ? list[0] : undefined;
  }, { what: 'the delivery recorded' });
  expect(d.attempts).toBe(2);
  expect(servers.every((s) => !s.logs.some((l) => /CROSSSLOT/.test(l)))).toBe(true);
});
