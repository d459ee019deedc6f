// Preloaded into the benchmarked server (node --expose-gc -r ...): on an IPC
// "mem" message it collects garbage and replies with process.memoryUsage(), so
// the benchmark compares live memory rather than whatever garbage is pending.
process.on('message', (m) => {
  if (m !== 'mem') return;
  global.gc();
  global.gc();
  process.send({ mem: process.memoryUsage() });
});
