import { ServerProcess } from '../helpers/server-process';
import { waitFor } from '../helpers/ports';

/**
 * The first run with nothing installed: a real server process without
 * REDIS_URL serves the whole visitor journey from the embedded store, says
 * loudly that it is single-replica only, and refuses that mode in production.
 */
describe('server without REDIS_URL (embedded store)', () => {
  let server: ServerProcess | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('serves join and status, advances the window, and warns that it is single-replica only', async () => {
    // 2 tickets per 50 ms window: ticket 3 waits for exactly one advance.
    server = await ServerProcess.start({ REDIS_URL: '', WINDOW_SIZE: '2', WINDOW_INTERVAL: '0.05' });
    const warning = server.logEntries().find((e) => e.store === 'embedded' && e.level === 40);
    expect(String(warning?.msg)).toMatch(/EMBEDDED STORE.*ONE replica/);
    // Info lines are buffered (written within 250 ms): poll for the listening line.
    const s = server;
    const listening = await waitFor(() => s.logEntries().find((e) => String(e.msg).startsWith('waitroom listening on http://')), {
      timeoutMs: 5000,
      what: 'the listening line',
    });
    expect(listening).toMatchObject({ store: 'embedded' });

    const joins = [];
    for (let i = 0; i < 3; i++) {
      const r = await server.fetch('/join', { method: 'POST' });
      expect(r.status).toBe(201);
      joins.push((await r.json()) as { token: string; ticket: number; status: string });
    }
    expect(joins.map((j) => j.ticket)).toEqual([1, 2, 3]);
    expect(joins[0]!.status).toBe('active');

    const third = joins[2]!;
    const status = await waitFor(
      async () => {
        const r = await server!.fetch('/status', { headers: { Authorization: `Bearer ${third.token}` } });
        expect(r.status).toBe(200);
        const body = (await r.json()) as { status: string; windowEnd: number };
        return body.status === 'active' ? body : undefined;
      },
      { timeoutMs: 5000, what: 'ticket 3 to be admitted by the embedded ticker' },
    );
    expect(status.windowEnd).toBeGreaterThanOrEqual(3);

    const bad = await server.fetch('/status', { headers: { Authorization: 'Bearer not-a-token' } });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_token' } });
    expect((await server.fetch('/readyz')).status).toBe(200);
  });

  it('refuses to start in production without REDIS_URL, naming the variable', async () => {
    server = await ServerProcess.start(
      { NODE_ENV: 'production', REDIS_URL: '', JWT_SECRET: 'x'.repeat(48) },
      { waitReady: false },
    );
    await server.exited;
    expect(server.exitCode).toBe(78);
    expect(server.logs.join('\n')).toMatch(/REDIS_URL: is required in production/);
  });
});
