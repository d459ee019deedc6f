import { request, type IncomingMessage } from 'node:http';

/** A raw SSE reader over node:http, for what EventSource hides: comments, status codes, headers. */
export class RawStream {
  text = '';
  res: IncomingMessage | undefined;
  ended = false;
  private readonly req;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.req = request(url, { headers: { Accept: 'text/event-stream', ...headers }, agent: false });
    this.req.on('response', (res) => {
      this.res = res;
      res.setEncoding('utf8');
      res.on('data', (c: string) => (this.text += c));
      res.on('end', () => (this.ended = true));
      res.on('error', () => (this.ended = true));
    });
    this.req.on('error', () => (this.ended = true));
    this.req.end();
  }

  /** Parsed events so far (comments and retry lines skipped). */
  events(): Array<{ event: string; id?: string; data: string }> {
    return this.text
      .split('\n\n')
      .filter((b) => /^(event|data|id):/m.test(b))
      .map((b) => {
        const f: Record<string, string> = {};
        for (const line of b.split('\n')) {
          const i = line.indexOf(': ');
          if (i > 0) f[line.slice(0, i)] = line.slice(i + 2);
        }
        return { event: f.event ?? 'message', id: f.id, data: f.data ?? '' };
      });
  }

  close(): void {
    this.req.destroy();
  }
}
