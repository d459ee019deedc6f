import { createConnection } from 'node:net';

/**
 * The top-level calls one redis-server ran during `ms` (its MONITOR), each as its argument
 * list; the calls scripts make are left out. `during` runs once MONITOR is listening.
 */
export function monitorCalls(port: number, ms: number, during?: () => Promise<unknown>): Promise<string[][]> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port });
    const calls: string[][] = [];
    let buf = '';
    s.on('error', reject);
    s.on('connect', () => {
      s.write('MONITOR\r\n');
      void during?.();
      setTimeout(() => {
        s.destroy();
        resolve(calls);
      }, ms);
    });
    s.on('data', (d) => {
      buf += d.toString();
      const lines = buf.split('\r\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line);
        if (m && m[1] !== 'lua') calls.push([...m[2]!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((a) => a[1]!));
      }
    });
  });
}
