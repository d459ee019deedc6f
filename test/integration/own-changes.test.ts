import { createHash } from 'node:crypto';
import { lua } from '../../internal/store/scripts';
import { globalKeys } from '../../internal/store/keys';
import { waitFor } from '../helpers/ports';
import { monitorCalls } from '../helpers/redis-monitor';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * A replica's own writes are not read back (registry-touch.lua's authors): the leader of a
 * busy queue logs each advance and join under its id, and its change-log poll skips the queues
 * whose every change since the last poll was its own, because its copy applied those writes'
 * replies already. Before, it re-read the queue after each of its own advances. A change it did
 * not make (logged without an author here) is still read within one poll. Redis's MONITOR says
 * what was called.
 */
const REFRESH_MS = 250;
const sha = (name: string) => createHash('sha1').update(lua(name)).digest('hex');

let redis: TestRedis;
let server: ServerProcess;

beforeAll(async () => {
  redis = await TestRedis.start();
  server = await ServerProcess.start({
    REDIS_URL: redis.url,
    QUEUE_ID: 'busy',
    // One admitted per advance, an advance every 200 ms: a line that moves all through the test.
    WINDOW_SIZE: '1',
    WINDOW_INTERVAL: '0.2',
    STATE_REFRESH_MS: String(REFRESH_MS),
    // The full re-read once a day, at a random phase: not inside the 3 s counted below.
    STATE_RESYNC_MS: '86400000',
    LOG_LEVEL: 'warn',
  });
  for (let i = 0; i < 200; i++) expect((await server.fetch('/join', { method: 'POST' })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await redis?.close();
});


const isScript = (c: string[], name: string) => c[0]?.toLowerCase() === 'evalsha' && c[1] === sha(name);

test('the leader does not read back its own advances; a change it did not make is read within a poll', async () => {
  // The SHA1s named here are the ones Redis holds, or the counts below would be vacuous.
  const held = await redis.withClient((c) => c.scriptExists([sha('advance-window'), sha('ensure-queue'), sha('registry-touch'), sha('registry-poll')]));
  expect(held.map(Number)).toEqual([1, 1, 1, 1]);
  await waitFor(async () => ((await (await server.fetch('/window')).json()) as { windowEnd: number }).windowEnd >= 3, { what: 'advancing' });

  const calls = await monitorCalls(redis.port, 3000);
  const count = (name: string) => calls.filter((c) => isScript(c, name)).length;
  // ~15 advances in 3 s, each logged under the leader's id: about 12 polls list the queue,
  // and each one re-read it before (an ensure-queue.lua per poll).
  expect(count('advance-window')).toBeGreaterThanOrEqual(8);
  expect(count('registry-touch')).toBeGreaterThanOrEqual(8);
  // None (12 with the skip taken out); at most one from anything else.
  expect(count('ensure-queue')).toBeLessThanOrEqual(1);
  // The polls went on (each one registry-poll.lua): the skip is the replica's, not a change log gone quiet.
  expect(count('registry-poll')).toBeGreaterThanOrEqual(6);

  // A change logged without an author (as a revocation or an origin hold is): read at once.
  const touch = lua('registry-touch');
  const after = await monitorCalls(redis.port, 4 * REFRESH_MS, () =>
    redis.withClient((client) => client.eval(touch, { keys: [globalKeys.changeSeq, globalKeys.changed, globalKeys.changedBy], arguments: ['busy', ''] })),
  );
  expect(after.filter((c) => isScript(c, 'ensure-queue')).length).toBeGreaterThanOrEqual(1);
}, 60_000);
