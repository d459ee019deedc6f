import http from 'node:http';
import https from 'node:https';
import { Webhook } from 'standardwebhooks';
import { checkWebhookUrl, guardedLookup, ForbiddenTargetError, type AddressPolicy } from './address-policy';

export interface SenderSettings extends AddressPolicy {
  readonly connectTimeoutMs: number;
  /** Whole attempt: connect, send, status line and the (capped) body. */
  readonly timeoutMs: number;
}

export interface AttemptResult {
  readonly ok: boolean;
  /** HTTP status, or null when no answer came. */
  readonly status: number | null;
  readonly error: string | null;
}

/** Bytes of a receiver's answer read (for the error text) before the socket is dropped. */
export const MAX_RESPONSE_BYTES = 4096;

/**
 * Sends one signed event to one endpoint, once. Standard Webhooks: the `standardwebhooks`
 * package signs `<webhook-id>.<timestamp>.<body>` with the endpoint's secret; webhook-id is
 * the event id, so a receiver recognises a retry. Only a 2xx is success. A redirect is a
 * failure (never followed: a 3xx to an internal address must not be a way round the
 * address check). The agents' `lookup` refuses forbidden resolved addresses at connect time.
 */
export class WebhookSender {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(private readonly s: SenderSettings) {
    const lookup = guardedLookup(s);
    // No keep-alive: every attempt resolves and checks the address again.
    this.httpAgent = new http.Agent({ keepAlive: false, lookup });
    this.httpsAgent = new https.Agent({ keepAlive: false, lookup });
  }

  send(url: string, secret: string, eventId: string, body: string, now: Date): Promise<AttemptResult> {
    let target: URL;
    try {
      target = checkWebhookUrl(url, this.s);
    } catch (err) {
      return Promise.resolve({ ok: false, status: null, error: `refused: ${(err as Error).message}` });
    }
    const signature = new Webhook(secret).sign(eventId, now, body);
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'user-agent': 'waitroom-webhooks/1',
      'webhook-id': eventId,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': signature,
    };
    const isHttps = target.protocol === 'https:';
    const mod = isHttps ? https : http;
    return new Promise<AttemptResult>((resolve) => {
      let settled = false;
      const done = (r: AttemptResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(total);
        clearTimeout(connect);
        resolve(r);
      };
      const req = mod.request(target, { method: 'POST', headers, agent: isHttps ? this.httpsAgent : this.httpAgent });
      const total = setTimeout(() => {
        req.destroy();
        done({ ok: false, status: null, error: `timed out after ${this.s.timeoutMs} ms` });
      }, this.s.timeoutMs);
      let connect: NodeJS.Timeout | undefined = setTimeout(() => {
        req.destroy();
        done({ ok: false, status: null, error: `no connection within ${this.s.connectTimeoutMs} ms` });
      }, this.s.connectTimeoutMs);
      req.on('socket', (sock) => {
        const connected = () => {
          clearTimeout(connect);
          connect = undefined;
        };
        if (!sock.connecting) connected();
        else sock.once('connect', connected);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const refused = err instanceof ForbiddenTargetError || err.code === 'EWEBHOOKFORBIDDEN';
        done({ ok: false, status: null, error: refused ? `refused: ${err.message}` : `${err.code ?? err.name}: ${err.message}` });
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        const finish = () => {
          const ok = status >= 200 && status < 300;
          const text = Buffer.concat(chunks).toString('utf8').slice(0, 200);
          const error = ok ? null : status >= 300 && status < 400 ? `redirect ${status} not followed` : `status ${status}${text ? `: ${text}` : ''}`;
          done({ ok, status, error });
          res.destroy();
        };
        res.on('data', (c: Buffer) => {
          if (size >= MAX_RESPONSE_BYTES) return;
          chunks.push(c);
          size += c.length;
          // Enough read: the status decides; a receiver streaming a huge answer is cut off.
          if (size >= MAX_RESPONSE_BYTES) finish();
        });
        res.on('end', finish);
        res.on('error', finish);
      });
      req.end(body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
