import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * How long a connection whose body we refused stays half-open after the answer.
 * With Connection: close, node:http ends the socket and destroys it as soon as
 * the reply is flushed; if the client is still sending, the kernel then answers
 * its data with a TCP reset, which can discard our 413 before the client reads
 * it (the lingering-close problem; Apache lingers 2 s for the same reason).
 */
const LINGER_MS = 2000;

/**
 * Stops reading a request whose body will not be used and, once the reply
 * (sent with Connection: close by the caller) is written, half-closes the
 * socket and destroys it LINGER_MS later. The rest of an oversized body is
 * never read: unread, the client's writes soon stop on a full TCP window.
 */
export function closeAfterReply(req: IncomingMessage, _res: ServerResponse): void {
  req.pause();
  const socket = req.socket;
  // node:http calls destroySoon() after a Connection: close reply; this socket's
  // version sends FIN at once but keeps the socket (unread) for the grace period.
  socket.destroySoon = function lingeringClose(this: typeof socket) {
    this.end();
    const t = setTimeout(() => this.destroy(), LINGER_MS);
    t.unref();
    this.once('close', () => clearTimeout(t));
  };
}
