import request from 'supertest';
import { globalKeys } from '../../internal/store/keys';
import type { RedisCatalog } from '../../internal/store/redis-catalog';
import { inProcessWithAdmin } from '../helpers/in-process';

/**
 * A reconcile compares the queues the store lists with those served here. A queue created
 * through this replica's admin API while a reconcile was reading is served at once but is
 * not in that reconcile's listing: it used to be dropped as deleted at the end, so its joins
 * got 410 queue_closed until the next reconcile. Found by the bench's second many-queue
 * server, whose start-up reconcile read the first server's 1,000 queues one by one (~1 s)
 * while the bench created its own: 150 of them were dropped. The reconcile is held open
 * here at the point where it has its listing, with a real Redis behind it.
 */
const TOKEN = 'reconcile-token-0123456789abcdef01';
const auth = { Authorization: `Bearer ${TOKEN}` };
const serverOf = inProcessWithAdmin(TOKEN);

/**
 * Runs a reconcile whose listing (the real catalog's listQueues) is held once read, runs
 * `meanwhile` while it is held, then lets the reconcile finish.
 */
async function duringReconcile(meanwhile: () => Promise<void>): Promise<void> {
  const catalog = serverOf().catalog;
  const real = catalog.listQueues.bind(catalog);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let listed!: () => void;
  const read = new Promise<void>((r) => (listed = r));
  catalog.listQueues = async () => {
    catalog.listQueues = real;
    const l = await real();
    listed();
    await gate;
    return l;
  };
  const reconciled = serverOf().registry.reconcile();
  await read;
  await meanwhile();
  release();
  await reconciled;
}

const create = (id: string) =>
  request(serverOf().http).post('/admin/api/v1/queues').set(auth).send({ id, name: id, windowSize: 1, intervalSeconds: 1, activeWindowCount: 1 });

test('a queue created here while a reconcile reads the registry stays served', async () => {
  await duringReconcile(async () => {
    // Created after the listing was read: the listing does not have it.
    expect((await create('made-during-reconcile')).status).toBe(201);
  });
  expect(serverOf().registry.get('made-during-reconcile')).toBeDefined();
  const join = await request(serverOf().http).post('/q/made-during-reconcile/join');
  expect(join.status).toBe(201);
  // The next reconcile lists it, and it stays.
  await serverOf().registry.reconcile();
  expect(serverOf().registry.get('made-during-reconcile')).toBeDefined();
}, 30_000);

test('a queue served before the listing and missing from it is still dropped (deleted elsewhere)', async () => {
  expect((await create('deleted-elsewhere')).status).toBe(201);
  expect((await request(serverOf().http).post('/q/deleted-elsewhere/join')).status).toBe(201);
  // Another replica's delete: the store forgets the queue, this replica is not told directly.
  const gone = await serverOf().catalog.deleteQueue('deleted-elsewhere');
  expect(gone.outcome).toBe('deleted');
  await serverOf().catalog.unregisterQueue('deleted-elsewhere');
  // (The delete's registry message may start a reconcile of its own; either one drops it.)
  await serverOf().registry.reconcile();
  expect(serverOf().registry.get('deleted-elsewhere')).toBeUndefined();
  const join = await request(serverOf().http).post('/q/deleted-elsewhere/join');
  expect(join.status).toBe(410);
  expect(join.body.error.code).toBe('queue_closed');
}, 30_000);

test('a queue deleted elsewhere and made again here while a reconcile reads stays served (its version moved)', async () => {
  expect((await create('made-again')).status).toBe(201);
  const gone = await serverOf().catalog.deleteQueue('made-again');
  expect(gone.outcome).toBe('deleted');
  // Its registry entry removed without the announcement (as if this replica missed it), so
  // that this replica still serves the old runtime when the reconcile below reads.
  const catalog = serverOf().catalog as RedisCatalog;
  await catalog.connection.sendCommand(globalKeys.registry, ['HDEL', globalKeys.registry, 'made-again']);
  expect(serverOf().registry.get('made-again')).toBeDefined();
  await duringReconcile(async () => {
    // The listing lacks it; this replica still serves the old one, and its admin API makes it
    // again: the same runtime takes the new settings, at a newer version.
    expect((await create('made-again')).status).toBe(201);
  });
  expect(serverOf().registry.get('made-again')).toBeDefined();
  expect((await request(serverOf().http).post('/q/made-again/join')).status).toBe(201);
}, 30_000);
