import { queueKeys } from '../../internal/store/keys';
import { TestKeyDir } from '../helpers/pass-keys';
import { waitFor } from '../helpers/ports';
import { TestRedis } from '../helpers/redis-server';
import { ServerProcess } from '../helpers/server-process';

/**
 * No-show compensation across real replica processes on one real Redis (docs/system.md,
 * "No-shows"): half the waiting visitors leave (POST /leave, DELETE /status, the page's beacon
 * body), each advance admits S visitors still present, skipping the gone ones, and no present
 * visitor is admitted later than any ETA (an upper bound) they were given. A visitor who left
 * and came back before the turn keeps the place; one whose turn was skipped is told so.
 */
const ADMIN = 'admin-token-0123456789abcdef0123456789';
const S = 5;
const JOINS = 40;

let redis: TestRedis;
let keys: TestKeyDir;
let pair: ServerProcess[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  keys = new TestKeyDir().add('2026-01-a', 'ES256');
  pair = await Promise.all(
    [0, 1].map(() =>
      ServerProcess.start({ REDIS_URL: redis.url, QUEUE_ID: 'main', PASS_KEYS_DIR: keys.dir, ADMIN_TOKEN: ADMIN, STATE_REFRESH_MS: '1000' }),
    ),
  );
}, 60_000);
afterAll(async () => {
  await Promise.all(pair.map((p) => p.stop()));
  await redis?.close();
  keys?.close();
});

type Json = Record<string, unknown>;

async function call(p: ServerProcess, method: string, path: string, opts: { token?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await p.fetch(path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : {}) as Json };
}

interface Advanced {
  readonly atMs: number;
  readonly from: number;
  readonly to: number;
  readonly skipped: number;
}

/** The window.advanced events of a queue's stream: when (Redis TIME) and which tickets. */
async function advances(queue: string): Promise<Advanced[]> {
  const entries = await redis.withClient((c) => c.xRange(queueKeys(queue).eventStream, '-', '+'));
  return entries
    .filter((e) => e.message.type === 'window.advanced')
    .map((e) => {
      const b = JSON.parse(String(e.message.body)) as { fromTicket: number; toTicket: number; skipped?: number };
      return { atMs: Number(e.message.time), from: b.fromTicket, to: b.toTicket, skipped: b.skipped ?? 0 };
    });
}

test('half the waiting visitors leave: each advance admits S present ones, none later than its ETA', async () => {
  const [a, b] = pair as [ServerProcess, ServerProcess];
  const made = await call(a, 'POST', '/admin/api/v1/queues', { token: ADMIN, body: { id: 'ns', windowSize: S, intervalSeconds: 1.5, activeWindowCount: 50, compensateNoShows: true } });
  expect(made.status).toBe(201);
  expect(made.body.compensateNoShows).toBe(true);
  for (const p of pair) await waitFor(async () => (await call(p, 'GET', '/q/ns/window')).status === 200, { timeoutMs: 5000 });

  // Deadlines: each present visitor's ETA, every time one was given (join, then polls), as the
  // wall time by which they must be in (Redis runs on this machine: its TIME is this clock).
  const deadline = new Map<number, number>();
  const promise = (ticket: number, sentAtMs: number, body: Json) => {
    if (body.status !== 'waiting') return;
    expect(body.etaKind).toBe('upperBound');
    const d = sentAtMs + Number(body.etaSeconds) * 1000;
    deadline.set(ticket, Math.min(deadline.get(ticket) ?? Infinity, d));
  };
  const tickets: Array<{ token: string; ticket: number }> = [];
  for (let i = 0; i < JOINS; i++) {
    const sent = Date.now();
    const j = await call(pair[i % 2]!, 'POST', '/q/ns/join');
    expect(j.status).toBe(201);
    tickets.push({ token: String(j.body.token), ticket: Number(j.body.ticket) });
    promise(Number(j.body.ticket), sent, j.body);
  }

  // Every other waiting visitor leaves, three ways, on either replica. A leave that comes after
  // the window passed the ticket answers left: false; only the left: true ones are gone.
  const gone = new Set<number>();
  const leavers = tickets.filter((t) => t.ticket > S && t.ticket % 2 === 0);
  await Promise.all(
    leavers.map(async (t, i) => {
      const p = pair[i % 2]!;
      const r =
        i % 3 === 0
          ? await call(p, 'POST', '/q/ns/leave', { token: t.token })
          : i % 3 === 1
            ? await call(p, 'DELETE', '/status', { token: t.token })
            : await call(p, 'POST', '/leave', { body: { token: t.token } }); // the beacon's form
      expect(r.status).toBe(200);
      if (r.body.left === true) gone.add(t.ticket);
    }),
  );
  expect(gone.size).toBeGreaterThan(10);
  // Leaving is idempotent.
  const again = await call(b, 'POST', '/leave', { token: leavers[leavers.length - 1]!.token });
  expect(again).toMatchObject({ status: 200, body: { left: true } });
  // One visitor leaves and comes back before the turn: the place is kept.
  const back = leavers[leavers.length - 1]!;
  expect(gone.has(back.ticket)).toBe(true);
  const stay = await call(a, 'POST', '/stay', { token: back.token });
  expect(stay.status).toBe(200);
  expect(stay.body.status).toBe('waiting');
  gone.delete(back.ticket);

  // Present visitors poll until everyone present is in; each answer is a promise to check.
  const present = tickets.filter((t) => !gone.has(t.ticket));
  await waitFor(
    async () => {
      let waiting = 0;
      for (const t of present) {
        const sent = Date.now();
        const st = await call(pair[t.ticket % 2]!, 'GET', '/status', { token: t.token });
        expect(st.status).toBe(200);
        promise(t.ticket, sent, st.body);
        if (st.body.status === 'waiting') waiting++;
      }
      return waiting === 0;
    },
    { timeoutMs: 30_000, intervalMs: 300, what: 'every present visitor admitted' },
  );

  const moves = await advances('ns');
  expect(moves.length).toBeGreaterThanOrEqual(3);
  for (const m of moves) {
    // Tickets above the last issued one were never issued, so none of them is gone.
    let skipped = 0;
    for (let t = m.from; t <= m.to; t++) if (gone.has(t)) skipped++;
    expect(m.skipped).toBe(skipped);
    expect(m.to - m.from + 1 - skipped).toBe(S);
  }
  // No present visitor was admitted later than an ETA they were given (20 ms for the replicas'
  // estimate of Redis's clock; the ETA is rounded up to whole seconds besides).
  for (const t of present) {
    const d = deadline.get(t.ticket);
    if (d === undefined) continue; // admitted at once
    const admitted = moves.find((m) => m.to >= t.ticket);
    expect(admitted).toBeDefined();
    expect(admitted!.atMs).toBeLessThanOrEqual(d + 20);
  }

  // A gone visitor whose turn was skipped is told so (the page then offers to join again) and
  // cannot claim; leaving again changes nothing.
  const skipped = tickets.find((t) => gone.has(t.ticket) && moves.some((m) => m.to >= t.ticket))!;
  // Every replica's /status says so too, from its copy of the skipped tickets (no store call).
  for (const p of pair) {
    await waitFor(async () => (await call(p, 'GET', '/status', { token: skipped.token })).body.status === 'skipped', { timeoutMs: 3000, what: 'skipped in /status' });
  }
  const told = await call(b, 'POST', '/q/ns/stay', { token: skipped.token });
  expect(told).toMatchObject({ status: 200, body: { status: 'skipped', position: 0 } });
  const claim = await call(a, 'POST', '/claim', { token: skipped.token });
  expect(claim.status).toBe(409);
  expect((claim.body.error as Json).code).toBe('ticket_skipped');
  expect(await call(a, 'POST', '/leave', { token: skipped.token })).toMatchObject({ status: 200, body: { left: false } });

  // Counted by the leader, whichever replica that is; leaves by the replica that took them.
  let skippedCount = 0;
  let leaves = 0;
  for (const p of pair) {
    const metrics = await (await p.fetch('/metrics')).text();
    skippedCount += Number(/waitroom_noshow_skipped_total\{queue="ns"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    leaves += Number(/waitroom_noshow_leaves_total\{queue="ns",source="visitor"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  }
  expect(skippedCount).toBe(moves.reduce((n, m) => n + m.skipped, 0));
  expect(leaves).toBe(gone.size + 1); // the one who came back left too
}, 60_000);

test('bad leaves and stays get the usual clear errors', async () => {
  const [a] = pair as [ServerProcess];
  expect(await call(a, 'POST', '/leave')).toMatchObject({ status: 401, body: { error: { code: 'missing_token' } } });
  expect(await call(a, 'POST', '/stay', { token: 'not-a-token' })).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } });
  expect(await call(a, 'POST', '/leave', { body: { token: 7 } })).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
  expect(await call(a, 'DELETE', '/status')).toMatchObject({ status: 401, body: { error: { code: 'missing_token' } } });
  expect((await call(a, 'GET', '/leave')).status).toBe(405);
});
