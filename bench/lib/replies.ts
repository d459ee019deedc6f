/**
 * A service's reply to one request, as the floors write it (bench/servers/floor.ts):
 * status, the headers node:http would not add itself, body. Captured from the running
 * service by bench/run.ts and bench/instructions.ts alike.
 */
export interface FloorReply {
  readonly status: number;
  readonly headers: string[];
  readonly body: string;
}

/** The reply to one request, without the headers node:http writes itself (Date, Connection, Keep-Alive, framing). */
export async function captureReply(spec: { url: string; method?: string; headers?: Record<string, string> }): Promise<FloorReply> {
  const r = await fetch(spec.url, { method: spec.method ?? 'GET', headers: spec.headers, signal: AbortSignal.timeout(60_000) });
  const body = await r.text();
  const headers: string[] = [];
  // fetch joins repeated headers; Set-Cookie is the only one the hot routes repeat.
  for (const c of r.headers.getSetCookie()) headers.push('Set-Cookie', c);
  r.headers.forEach((value, name) => {
    if (!['date', 'connection', 'keep-alive', 'transfer-encoding', 'set-cookie'].includes(name)) headers.push(name, value);
  });
  return { status: r.status, headers, body };
}
