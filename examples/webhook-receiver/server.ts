/**
 * A webhook receiver that verifies waitroom's Standard Webhooks signatures with the
 * `standardwebhooks` package, the way your own receiver should:
 *
 *   WEBHOOK_SECRET=whsec_... PORT=4000 npx tsx examples/webhook-receiver/server.ts
 *
 * It verifies the raw body (not a re-serialised one: the signature covers the exact
 * bytes), answers 204 to a verified event, 401 to anything else, and treats webhook-id
 * as the idempotency key: a retry of an event it already handled is answered 204 and not
 * handled again. Each verified event is printed as one JSON line and listed at
 * GET /received.
 *
 * Knobs for trying retries and timeouts (the tests use them): FAIL_FIRST=n answers
 * 500 to the first n attempts of every event, HANG=true never answers, DELAY_MS=n
 * answers after n ms (and handles nothing if the sender hung up meanwhile).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

export interface ReceiverOptions {
  readonly secret: string;
  /** Answer 500 to the first n attempts of each event id. */
  readonly failFirst?: number;
  /** Never answer (to see the sender's timeout). */
  readonly hang?: boolean;
  /** Wait this long before handling and answering. */
  readonly delayMs?: number;
}

export interface ReceivedEvent {
  readonly webhookId: string;
  readonly type: string;
  readonly body: unknown;
  /** Attempts seen for this id, this one included (failed ones too). */
  readonly attempt: number;
}

/** Largest body accepted; waitroom's events are well under 8 KiB. */
const MAX_BODY = 256 * 1024;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function createReceiver(o: ReceiverOptions): { server: Server; received: ReceivedEvent[] } {
  const wh = new Webhook(o.secret);
  const received: ReceivedEvent[] = [];
  const attempts = new Map<string, number>();
  /** Requests seen per webhook-id as they arrive (before verification or any delay). */
  const arrivals = new Map<string, number>();
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/received') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ received, attempts: Object.fromEntries(attempts), arrivals: Object.fromEntries(arrivals) }));
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    const arrivingId = String(req.headers['webhook-id'] ?? '');
    arrivals.set(arrivingId, (arrivals.get(arrivingId) ?? 0) + 1);
    if (o.hang) return;
    let hungUp = false;
    res.on('close', () => {
      if (!res.writableFinished) hungUp = true;
    });
    readBody(req)
      .then(async (raw) => {
        if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
        // The sender gave up or died: it will send again, so handle nothing now.
        if (hungUp) return;
        let event: { type?: string };
        try {
          // Throws unless the signature matches and the timestamp is within 5 minutes.
          event = wh.verify(raw, req.headers as Record<string, string>) as { type?: string };
        } catch (err) {
          const why = err instanceof WebhookVerificationError ? err.message : 'unreadable';
          process.stdout.write(`${JSON.stringify({ refused: why })}\n`);
          res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: why }));
          return;
        }
        const id = String(req.headers['webhook-id']);
        const n = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, n);
        if (n <= (o.failFirst ?? 0)) {
          res.writeHead(500).end('failing on purpose (FAIL_FIRST)');
          return;
        }
        // Handled once per event id, however often it is delivered.
        if (!received.some((r) => r.webhookId === id)) {
          const r: ReceivedEvent = { webhookId: id, type: String(event.type), body: event, attempt: n };
          received.push(r);
          process.stdout.write(`${JSON.stringify(r)}\n`);
        }
        res.writeHead(204).end();
      })
      .catch(() => res.writeHead(413).end());
  });
  return { server, received };
}

if (require.main === module) {
  const env = process.env;
  if (!env.WEBHOOK_SECRET) {
    process.stderr.write('WEBHOOK_SECRET (whsec_...) is required\n');
    process.exitCode = 2;
  } else {
    const { server } = createReceiver({ secret: env.WEBHOOK_SECRET, failFirst: Number(env.FAIL_FIRST ?? 0), hang: env.HANG === 'true', delayMs: Number(env.DELAY_MS ?? 0) });
    server.listen(Number(env.PORT ?? 4000), env.HOST ?? '127.0.0.1', () => {
      const a = server.address() as AddressInfo;
      process.stdout.write(`webhook receiver on http://${a.address}:${a.port}\n`);
    });
    process.once('SIGTERM', () => server.close());
    process.once('SIGINT', () => server.close());
  }
}
