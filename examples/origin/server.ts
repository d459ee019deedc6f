/**
 * A small protected site for trying admission end to end: an HTML page and a
 * JSON API, both behind requireAdmission, plus an unprotected health check.
 *
 *   JWKS_URL=http://127.0.0.1:8080/.well-known/jwks.json AUDIENCE=https://shop.example.com \
 *   WAITING_ROOM_URL=http://127.0.0.1:8080/ PORT=3000 npx tsx examples/origin/server.ts
 *
 * Behind the nginx gate (deploy/nginx) it also works without the middleware;
 * it then reads the X-Waitroom-* headers the gate adds.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { requireAdmission, type Admission } from '../../internal/origin';

export interface OriginOptions {
  readonly jwksUrl?: string;
  readonly audience?: string;
  readonly issuer?: string;
  readonly waitingRoomUrl?: string;
  /** Shortest gap between JWKS refetches on unknown kids (middleware default 30 s). */
  readonly jwksCooldownMs?: number;
}

/** The example site; without jwksUrl it trusts the gate in front of it. */
export function buildOriginApp(o: OriginOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  if (o.jwksUrl && o.audience) {
    app.use(
      requireAdmission({ jwksUrl: o.jwksUrl, audience: o.audience, issuer: o.issuer, waitingRoomUrl: o.waitingRoomUrl, jwksCooldownMs: o.jwksCooldownMs }),
    );
  }
  const who = (req: express.Request, res: express.Response) => {
    const a = res.locals.admission as Admission | undefined;
    return {
      queue: a?.queue ?? req.get('x-waitroom-queue') ?? null,
      ticket: a ? a.ticket : Number(req.get('x-waitroom-ticket') ?? 0) || null,
      passId: a?.passId ?? req.get('x-waitroom-pass-id') ?? null,
    };
  };
  app.get('/api/whoami', (req, res) => {
    res.json({ origin: 'example', ...who(req, res) });
  });
  app.get('/', (req, res) => {
    const w = who(req, res);
    res.type('html').send(`<!doctype html><title>Shop</title><h1>Welcome to the shop</h1><p>Admitted from queue ${w.queue ?? '?'} with ticket ${w.ticket ?? '?'}.</p>`);
  });
  return app;
}

if (require.main === module) {
  const env = process.env;
  const app = buildOriginApp({ jwksUrl: env.JWKS_URL, audience: env.AUDIENCE, issuer: env.ISSUER, waitingRoomUrl: env.WAITING_ROOM_URL });
  const server = app.listen(Number(env.PORT ?? 3000), env.HOST ?? '127.0.0.1', () => {
    const a = server.address() as AddressInfo;
    process.stdout.write(`example origin on http://${a.address}:${a.port}\n`);
  });
  process.once('SIGTERM', () => server.close());
  process.once('SIGINT', () => server.close());
}
