import { memoryCgroupDir, workingSetBytes } from '../../internal/health/cgroup-memory';

const V1_MOUNTS = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
].join('\n');
// A container's view: the memory hierarchy mounted at its own cgroup (root is the host path).
const V1_CONTAINER_MOUNTS = '612 600 0:32 /kubepods/burstable/pod1/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory';
const V2_MOUNTS = '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate';
const HYBRID_MOUNTS = [V1_MOUNTS, '36 31 0:33 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw'].join('\n');

describe('memoryCgroupDir', () => {
  it.each([
    ['v1, a cgroup under the root', '4:memory:/waitroom-test-1\n3:cpuset:/\n0::/', V1_MOUNTS, { dir: '/sys/fs/cgroup/memory/waitroom-test-1', version: 1 }],
    ['v1, memory with another controller on the line', '5:cpuacct,memory:/a/b', V1_MOUNTS, { dir: '/sys/fs/cgroup/memory/a/b', version: 1 }],
    ['v1 in a container: the path relative to the mount root', '4:memory:/kubepods/burstable/pod1/abc', V1_CONTAINER_MOUNTS, { dir: '/sys/fs/cgroup/memory', version: 1 }],
    ['v1, a path outside the mount root: no cgroup (RSS instead of another cgroup\'s usage)', '4:memory:/elsewhere', V1_CONTAINER_MOUNTS, undefined],
    ['a named v1 hierarchy is not the memory controller', '1:name=systemd:/user.slice\n4:memory:/x', [V1_MOUNTS, '40 31 0:40 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd'].join('\n'), { dir: '/sys/fs/cgroup/memory/x', version: 1 }],
    ['several memory mounts: the longest root holding the path wins', '4:memory:/kubepods/pod1/abc', ['50 1 0:32 / /var/lib/other rw - cgroup cgroup rw,memory', '51 1 0:32 /kubepods/pod1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory'].join('\n'), { dir: '/sys/fs/cgroup/memory/abc', version: 1 }],
    ['escaped characters in mountinfo paths are decoded', '0::/my group', '30 23 0:26 / /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw', { dir: '/sys/fs/cgroup x/my group', version: 2 }],
    ['v2 outside the namespace root ("/../..") is not guessed at', '0::/../../kubepods/x', V2_MOUNTS, undefined],
    ['v2 with a cgroup namespace ("0::/")', '0::/', V2_MOUNTS, { dir: '/sys/fs/cgroup', version: 2 }],
    ['v2, a nested cgroup', '0::/system.slice/waitroom.service', V2_MOUNTS, { dir: '/sys/fs/cgroup/system.slice/waitroom.service', version: 2 }],
    ['hybrid: the v1 memory controller wins', '4:memory:/x\n0::/y', HYBRID_MOUNTS, { dir: '/sys/fs/cgroup/memory/x', version: 1 }],
    ['hybrid without v1 memory on the line: v2', '3:cpuset:/\n0::/y', HYBRID_MOUNTS, { dir: '/sys/fs/cgroup/unified/y', version: 2 }],
    ['no memory cgroup mounted', '4:memory:/x', '31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw', undefined],
    ['nothing to read', '', '', undefined],
  ])('%s', (_name, cgroup, mountinfo, expected) => {
    expect(memoryCgroupDir(cgroup, mountinfo)).toEqual(expected);
  });
});

describe('workingSetBytes', () => {
  const v1stat = 'cache 9293824\nrss 2699264\ninactive_file 16384\ntotal_rss 159907840\ntotal_inactive_file 146280448\n';
  const v2stat = 'anon 1000\nfile 5000\nactive_file 1000\ninactive_file 4000\n';
  it.each([
    ['v1: usage less total_inactive_file (hierarchical, like usage_in_bytes)', 1, '300000000\n', v1stat, 300000000 - 146280448],
    ['v2: memory.current less inactive_file', 2, '10000\n', v2stat, 6000],
    ['never below 0', 2, '3000', v2stat, 0],
    ['v1 stat without the total field', 1, '300000000', 'inactive_file 16384\n', undefined],
    ['an unreadable usage', 2, 'max', v2stat, undefined],
    ['an empty usage is not 0', 2, '', v2stat, undefined],
  ])('%s', (_name, version, usage, stat, expected) => {
    expect(workingSetBytes(version as 1 | 2, usage, stat)).toBe(expected);
  });
});
