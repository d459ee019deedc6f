/**
 * setImmediate for a browser's Web Worker, which has none: the embedded store publishes and
 * the ticket batcher issues "on a later turn" with it, as on a Node server. A MessageChannel
 * message is a macrotask that, unlike setTimeout(0), is not clamped to 4 ms after nesting.
 * Imported first by the worker, before the virtual clock captures the real one and before
 * fake-timers looks for it to fake.
 */
type Task = () => void;

const g = globalThis as unknown as {
  setImmediate?: (fn: Task) => number;
  clearImmediate?: (id: number) => void;
  MessageChannel: new () => { port1: { onmessage: ((e: { data: number }) => void) | null }; port2: { postMessage(v: number): void } };
};

if (typeof g.setImmediate !== 'function') {
  const tasks = new Map<number, Task>();
  let next = 1;
  const channel = new g.MessageChannel();
  channel.port1.onmessage = (e) => {
    const fn = tasks.get(e.data);
    tasks.delete(e.data);
    fn?.();
  };
  g.setImmediate = (fn: Task) => {
    const id = next++;
    tasks.set(id, fn);
    channel.port2.postMessage(id);
    return id;
  };
  g.clearImmediate = (id: number) => {
    tasks.delete(id);
  };
}

export {};
