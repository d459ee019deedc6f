/**
 * Server-sent event wire format (HTML Living Standard, "server-sent events").
 * Pure functions: the hub builds each frame once and writes the same string to
 * every stream that needs it.
 */

/** One event: `event:`, `id:` and a single `data:` line (JSON never contains a raw newline). */
export function eventFrame(event: string, data: string, id?: string): string {
  return (id === undefined ? '' : `id: ${id}\n`) + `event: ${event}\ndata: ${data}\n\n`;
}

/** The reconnect delay hint; EventSource waits this long before reconnecting. */
export function retryFrame(ms: number): string {
  return `retry: ${ms}\n\n`;
}

/** A comment line: ignored by clients, but it keeps proxies from closing an idle stream. */
export const HEARTBEAT_FRAME = ':\n\n';

/**
 * Event ids name the ticket state an event carried, so that a reconnect with
 * Last-Event-ID can tell whether the client already has the current state:
 * `<epoch>.<windowEnd>.<queue state>-<settings version>` while waiting (each advance,
 * pause, resume or new message is a new state), and `<epoch>.active` /
 * `<epoch>.expired` / `<epoch>.skipped` for the final states.
 */
export function stateId(epoch: string, status: 'waiting' | 'active' | 'expired' | 'skipped', windowEnd: number, queueState = ''): string {
  // While waiting, the queue's state and settings version are part of the id too: pausing,
  // resuming or a new broadcast message is a new state for every waiting visitor.
  return status === 'waiting' ? `${epoch}.${windowEnd}${queueState ? `.${queueState}` : ''}` : `${epoch}.${status}`;
}

export function isFinalId(id: string): boolean {
  return id.endsWith('.active') || id.endsWith('.expired') || id.endsWith('.skipped');
}
