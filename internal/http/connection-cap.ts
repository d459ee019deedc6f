import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Caps the connections one peer address may hold open on this server: a client
 * opening thousands of idle sockets (or slow-header ones) would otherwise use up
 * file descriptors meant for everyone. Connections past the cap are destroyed at
 * once, before any byte is read. Counts the socket's peer, so it is only
 * meaningful when clients connect directly (TRUST_PROXY=0): behind a proxy every
 * peer is the proxy and the caller does not install it.
 */
export function capConnectionsPerPeer(server: Server, max: number, onRefused?: () => void): { open(peer: string): number } {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const peer = socket.remoteAddress ?? 'unknown';
    const n = open.get(peer) ?? 0;
    if (n >= max) {
      onRefused?.();
      socket.destroy();
      return;
    }
    open.set(peer, n + 1);
    socket.once('close', () => {
      const left = (open.get(peer) ?? 1) - 1;
      if (left <= 0) open.delete(peer);
      else open.set(peer, left);
    });
  });
  return { open: (peer) => open.get(peer) ?? 0 };
}
