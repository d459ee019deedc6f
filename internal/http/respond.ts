import type { ServerResponse } from 'node:http';
import { toErrorBody, type WaitroomError } from '../errors/errors';

/** A framework-neutral reply: the hot path and Express both write it with sendResult. */
export interface HttpResult {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

/** Headers every JSON API reply carries. */
const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
});

export function sendResult(res: ServerResponse, r: HttpResult): void {
  const payload = r.body === undefined ? '' : JSON.stringify(r.body);
  res.statusCode = r.status;
  for (const [k, v] of Object.entries(JSON_HEADERS)) res.setHeader(k, v);
  if (r.headers) for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
  res.setHeader('Content-Length', Buffer.byteLength(payload));
  res.end(payload);
}

export function errorResult(err: WaitroomError): HttpResult {
  return { status: err.status, headers: err.headers(), body: toErrorBody(err) };
}
