import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A memory cgroup for one benchmark process: the limit a container runtime
 * sets for a pod's `resources.limits.memory`, enforced by the same kernel code
 * (the OOM killer ends the process with SIGKILL when it cannot reclaim enough).
 * Works with cgroup v2 (memory.max) and v1 (memory.limit_in_bytes); needs write
 * access to the cgroup filesystem, which usually means root. Where there is none,
 * `createMemoryCgroup` says why instead, and the caller measures without a limit.
 */
export interface MemoryCgroup {
  readonly path: string;
  readonly version: 1 | 2;
  readonly limitBytes: number;
  /** Prefix for a command: joins the cgroup, then execs the rest (the pid stays the command's). */
  wrap(cmd: string, args: readonly string[]): { cmd: string; args: string[] };
  /** The kernel's own count of OOM kills in this cgroup (v2 memory.events, v1 memory.oom_control). */
  oomKills(): number;
  remove(): void;
}

function mountOf(type: 'cgroup2' | 'cgroup'): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === type && (type === 'cgroup2' || (f[3] ?? '').split(',').includes('memory')))
    .map((f) => f[1] as string);
}

/** Where a new memory cgroup can be made: a v2 mount whose root delegates memory, else a v1 memory mount. */
function findRoot(): { dir: string; version: 1 | 2 } | string {
  for (const dir of mountOf('cgroup2')) {
    const controllers = join(dir, 'cgroup.subtree_control');
    if (existsSync(controllers) && readFileSync(controllers, 'utf8').split(' ').map((s) => s.trim()).includes('memory')) return { dir, version: 2 };
  }
  const v1 = mountOf('cgroup')[0];
  if (v1) return { dir: v1, version: 1 };
  return 'no cgroup filesystem with the memory controller is mounted';
}

export function createMemoryCgroup(name: string, limitBytes: number): MemoryCgroup | string {
  const root = findRoot();
  if (typeof root === 'string') return root;
  const path = join(root.dir, name);
  try {
    mkdirSync(path);
  } catch (err) {
    return `cannot make a cgroup under ${root.dir}: ${(err as Error).message}`;
  }
  try {
    if (root.version === 2) {
      writeFileSync(join(path, 'memory.max'), String(limitBytes));
      // No swap: a container runtime gives the limit as memory, and swapping would hide the kill.
      if (existsSync(join(path, 'memory.swap.max'))) writeFileSync(join(path, 'memory.swap.max'), '0');
    } else {
      writeFileSync(join(path, 'memory.limit_in_bytes'), String(limitBytes));
      if (existsSync(join(path, 'memory.memsw.limit_in_bytes'))) {
        try {
          writeFileSync(join(path, 'memory.memsw.limit_in_bytes'), String(limitBytes));
        } catch {
          // Some kernels refuse memsw below the current usage or without swap accounting; memory alone still holds.
        }
      }
    }
  } catch (err) {
    rmdirSync(path);
    return `cannot set a memory limit on ${path}: ${(err as Error).message}`;
  }
  const procs = join(path, 'cgroup.procs');
  return {
    path,
    version: root.version,
    limitBytes,
    // The cgroup.procs path is an argument, not part of the script: no quoting to get wrong.
    wrap: (cmd, args) => ({ cmd: 'sh', args: ['-c', 'echo $$ > "$1" && shift && exec "$@"', 'sh', procs, cmd, ...args] }),
    oomKills() {
      try {
        if (root.version === 2) return Number(/^oom_kill (\d+)/m.exec(readFileSync(join(path, 'memory.events'), 'utf8'))?.[1] ?? 0);
        return Number(/^oom_kill (\d+)/m.exec(readFileSync(join(path, 'memory.oom_control'), 'utf8'))?.[1] ?? 0);
      } catch {
        return 0;
      }
    },
    remove() {
      try {
        rmdirSync(path);
      } catch {
        // Still has a process (it is being killed): the kernel keeps the empty directory until then.
      }
    },
  };
}
