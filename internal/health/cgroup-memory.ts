import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The memory a container's limit is enforced against, read the way kubelet reads it: the
 * memory cgroup's usage less its inactive file pages (the "working set"). The kernel
 * charges a cgroup for more than the process's RSS (page cache, socket buffers, kernel
 * objects), reclaims the inactive file pages first, and kills when it cannot reclaim
 * enough; kubelet evicts on the same working set. Where the cgroup files cannot be read
 * (no cgroup filesystem, another OS), the guard falls back to RSS.
 */
export interface MemoryCgroupDir {
  readonly dir: string;
  readonly version: 1 | 2;
}

/**
 * This process's memory cgroup directory, from /proc/self/cgroup and
 * /proc/self/mountinfo (pure, for the table tests). A v1 memory controller wins over
 * v2 (on a hybrid host it is the one that limits). The cgroup path is made relative
 * to the mount's root, which inside a container is the container's own cgroup.
 */
export function memoryCgroupDir(procSelfCgroup: string, mountinfo: string): MemoryCgroupDir | undefined {
  let v1: string | undefined;
  let v2: string | undefined;
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    // Named v1 hierarchies ("1:name=systemd:/") have no controllers and are skipped.
    if (m[2]!.split(',').includes('memory')) v1 = m[3];
    else if (m[1] === '0' && m[2] === '') v2 = m[3];
  }
  // mountinfo escapes space, tab, newline and backslash in paths as \ooo; /proc/self/cgroup does not.
  const unescape = (p: string) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const mounts = mountinfo
    .split('\n')
    .map((line) => {
      // "ID parent major:minor root mountpoint options [optional...] - fstype source superoptions"
      const [left, right] = line.split(' - ');
      if (!left || !right) return undefined;
      const l = left.split(' ');
      const r = right.split(' ');
      return { root: unescape(l[3] ?? ''), point: unescape(l[4] ?? ''), type: r[0] ?? '', superOptions: (r[2] ?? '').split(',') };
    })
    .filter((m): m is { root: string; point: string; type: string; superOptions: string[] } => m !== undefined);
  /**
   * The directory of cgroup `path` under the mount whose root is its longest prefix (as runc
   * and cAdvisor pick it); undefined when no mount holds it or the path leaves its namespace
   * ("/../.."): then another cgroup's usage would be read, and RSS is the better guess.
   */
  const locate = (path: string, candidates: typeof mounts): string | undefined => {
    if (path.split('/').includes('..')) return undefined;
    let best: (typeof mounts)[number] | undefined;
    for (const m of candidates) {
      const holds = m.root === '/' || path === m.root || path.startsWith(`${m.root}/`);
      if (holds && (!best || m.root.length > best.root.length)) best = m;
    }
    if (!best) return undefined;
    const rel = best.root === '/' ? path : path.slice(best.root.length);
    return join(best.point, rel).replace(/(.)\/+$/, '$1');
  };
  if (v1 !== undefined) {
    const dir = locate(v1, mounts.filter((m) => m.type === 'cgroup' && m.superOptions.includes('memory')));
    if (dir) return { dir, version: 1 };
  }
  if (v2 !== undefined) {
    const dir = locate(v2, mounts.filter((m) => m.type === 'cgroup2'));
    if (dir) return { dir, version: 2 };
  }
  return undefined;
}

/**
 * The working set in bytes from a cgroup's usage file and memory.stat (pure): usage less
 * inactive file pages, as kubelet computes it. v1's usage_in_bytes is hierarchical, so its
 * `total_inactive_file` goes with it; v2's files are both hierarchical. Undefined when a
 * figure is missing or not a number.
 */
export function workingSetBytes(version: 1 | 2, usage: string, stat: string): number | undefined {
  const text = usage.trim();
  const used = text === '' ? NaN : Number(text);
  const field = version === 1 ? 'total_inactive_file' : 'inactive_file';
  const m = new RegExp(`^${field} (\\d+)$`, 'm').exec(stat);
  if (!Number.isFinite(used) || used < 0 || !m) return undefined;
  return Math.max(0, used - Number(m[1]));
}

/** A reader of this process's cgroup working set; undefined when there is no readable memory cgroup. */
export function cgroupWorkingSetReader(): (() => number | undefined) | undefined {
  let loc: MemoryCgroupDir | undefined;
  try {
    loc = memoryCgroupDir(readFileSync('/proc/self/cgroup', 'utf8'), readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return undefined;
  }
  if (!loc) return undefined;
  const { dir, version } = loc;
  const usageFile = join(dir, version === 1 ? 'memory.usage_in_bytes' : 'memory.current');
  const statFile = join(dir, 'memory.stat');
  const read = () => {
    try {
      return workingSetBytes(version, readFileSync(usageFile, 'utf8'), readFileSync(statFile, 'utf8'));
    } catch {
      return undefined;
    }
  };
  // Only a cgroup whose files read now is used; a later failed read falls back to RSS for that reading.
  return read() === undefined ? undefined : read;
}
