import request from 'supertest';
import { inProcessWithAdmin } from '../helpers/in-process';

/**
 * The failed-token lockout of the admin API and the operator view counts refused
 * tokens only. Before, a burst of valid requests in flight at once (50 queue
 * creations) counted as failures until each finished and tripped the 20-attempt
 * limit with a valid token.
 */
const TOKEN = 'lockout-token-0123456789abcdef0123';
const serverOf = inProcessWithAdmin(TOKEN);

const auth = (t: string) => ({ Authorization: `Bearer ${t}` });

test('60 concurrent valid admin requests all succeed', async () => {
  const answers = await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      request(serverOf().http)
        .post('/admin/api/v1/queues')
        .set(auth(TOKEN))
        .send({ id: `lock-${i}`, name: `lock ${i}`, windowSize: 1, intervalSeconds: 1, activeWindowCount: 1 }),
    ),
  );
  expect(answers.map((r) => r.status)).toEqual(Array(60).fill(201));
}, 30_000);

test('bad tokens: 20 refusals with 401, then 429 for every token, the right one included', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) statuses.push((await request(serverOf().http).get('/admin/api/v1/queues').set(auth(`wrong-${i}`))).status);
  expect(statuses).toEqual(Array(20).fill(401));
  const blocked = await request(serverOf().http).get('/admin/api/v1/queues').set(auth('wrong-again'));
  expect(blocked.status).toBe(429);
  expect(blocked.body.error.code).toBe('rate_limited');
  expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  // A lockout that let the right token through would let a guesser go on guessing.
  const right = await request(serverOf().http).get('/admin/api/v1/queues').set(auth(TOKEN));
  expect(right.status).toBe(429);
  // 400s, 404s and 412s never count: covered by the admin-queues suite, which makes dozens of them.
}, 30_000);
