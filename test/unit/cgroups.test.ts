import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { layoutFrom, parseMountInfo, stagePeakBytes, type CgroupLayout } from '../../src/sandbox/cgroups.js';

// A v1 (hybrid) host as found on this project's CI machine: every controller its own hierarchy, the memory
// controller placing the service in a nested cgroup, plus a named systemd hierarchy and an empty cgroup2.
const V1_MOUNTINFO = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334460k,nr_inodes=3083615,mode=755
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

// Debian/systemd hybrid: cpu and cpuacct co-mounted, the service in a systemd unit's cgroup.
const HYBRID_MOUNTINFO = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
30 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
34 25 0:29 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
35 34 0:30 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
36 34 0:31 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
40 34 0:35 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
41 34 0:36 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
42 34 0:37 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
`;

// Pure v2 (systemd 252+), the service in its unit.
const V2_MOUNTINFO = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
26 22 0:24 / /sys rw,nosuid,nodev,noexec,relatime shared:3 - sysfs sysfs rw
29 26 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

// Inside a container with a cgroup namespace: the mount's root is the container's cgroup.
const V2_NESTED_MOUNTINFO = `600 500 0:27 /kubepods/pod1/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw
`;

describe('parseMountInfo', () => {
  it('reads mount point, type and super options', () => {
    const entries = parseMountInfo(V1_MOUNTINFO);
    const mem = entries.find((e) => e.mountPoint === '/sys/fs/cgroup/memory');
    expect(mem).toEqual({ mountPoint: '/sys/fs/cgroup/memory', fsType: 'cgroup', superOptions: ['rw', 'memory'] });
    expect(entries).toHaveLength(15);
  });

  it('handles optional fields and octal escapes', () => {
    const [e] = parseMountInfo('40 34 0:35 / /sys/fs/cgroup/cpu\\054cpuacct rw shared:15 master:2 - cgroup cgroup rw,cpu,cpuacct\n');
    expect(e?.mountPoint).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(e?.superOptions).toEqual(['rw', 'cpu', 'cpuacct']);
    expect(parseMountInfo('\n\ngarbage line\n')).toEqual([]);
  });

  it('parses this machine\'s own mountinfo', () => {
    const entries = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    expect(entries.some((e) => e.mountPoint === '/')).toBe(true);
    expect(entries.some((e) => e.fsType === 'cgroup' || e.fsType === 'cgroup2')).toBe(true);
  });
});

/** A trailing slash on a base dir is harmless (paths are joined under it): compare without it. */
function norm(l: CgroupLayout): CgroupLayout {
  return { mode: l.mode, base: Object.fromEntries(Object.entries(l.base).map(([k, v]) => [k, v.replace(/(.)\/+$/, '$1')])) };
}

describe('layoutFrom', () => {
  // Sandbox cgroups are placed at an absolute path from each hierarchy's root (the same dir for runc, crun
  // and runsc), so the layout is the mount point of each hierarchy, wherever the service itself runs.
  it('v1: one base per controller, the mount point of its hierarchy', () => {
    expect(norm(layoutFrom(V1_MOUNTINFO))).toEqual({
      mode: 'v1',
      base: {
        memory: '/sys/fs/cgroup/memory',
        pids: '/sys/fs/cgroup/pids',
        cpuacct: '/sys/fs/cgroup/cpuacct',
        cpu: '/sys/fs/cgroup/cpu',
      },
    });
  });

  it('hybrid: v1 wins when it has the memory controller; co-mounted controllers share a dir', () => {
    const l = norm(layoutFrom(HYBRID_MOUNTINFO));
    expect(l.mode).toBe('v1');
    expect(l.base).toEqual({
      memory: '/sys/fs/cgroup/memory',
      pids: '/sys/fs/cgroup/pids',
      cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
      cpu: '/sys/fs/cgroup/cpu,cpuacct',
    });
  });

  it('pure v2: the unified mount', () => {
    expect(norm(layoutFrom(V2_MOUNTINFO))).toEqual({ mode: 'v2', base: { '': '/sys/fs/cgroup' } });
  });

  it('v2 inside a cgroup namespace: the mount point, whatever its root in the host hierarchy', () => {
    expect(norm(layoutFrom(V2_NESTED_MOUNTINFO))).toEqual({ mode: 'v2', base: { '': '/sys/fs/cgroup' } });
  });

  it('fails clearly without any cgroup filesystem', () => {
    expect(() => layoutFrom('27 1 254:0 / / rw - ext4 /dev/vda rw\n')).toThrow(/no cgroup/);
  });

  it('finds the memory controller on this machine', () => {
    const l = layoutFrom(readFileSync('/proc/self/mountinfo', 'utf8'));
    if (l.mode === 'v1') expect(l.base.memory).toMatch(/^\/sys\/fs\/cgroup\//);
    else expect(l.base['']).toMatch(/^\/sys\/fs\/cgroup/);
  });
});

// cgroup v2 before Linux 6.12: memory.peak is the cgroup's lifetime peak and cannot be reset per stage.
describe('stagePeakBytes', () => {
  const MiB = 1024 * 1024;
  it('the lifetime peak rose during the stage: the new peak is the stage\'s own, exactly', () => {
    expect(stagePeakBytes({ lifetimeAtStart: 40 * MiB, lifetimeAtEnd: 90 * MiB, sampled: 60 * MiB })).toBe(90 * MiB);
    // the first stage of a fresh sandbox: the peak so far is init's
    expect(stagePeakBytes({ lifetimeAtStart: MiB, lifetimeAtEnd: 3 * MiB, sampled: MiB })).toBe(3 * MiB);
  });
  it('a stage below an earlier stage\'s peak does not report that peak: it reports the highest usage seen', () => {
    // compile reached 200 MiB, the run stage stayed near 12 MiB
    expect(stagePeakBytes({ lifetimeAtStart: 200 * MiB, lifetimeAtEnd: 200 * MiB, sampled: 12 * MiB })).toBe(12 * MiB);
  });
  it('a stage that reaches exactly the earlier peak reports it (the samples saw it)', () => {
    expect(stagePeakBytes({ lifetimeAtStart: 50 * MiB, lifetimeAtEnd: 50 * MiB, sampled: 50 * MiB })).toBe(50 * MiB);
  });
  it('never more than the lifetime peak, whatever a sample read', () => {
    expect(stagePeakBytes({ lifetimeAtStart: 10 * MiB, lifetimeAtEnd: 10 * MiB, sampled: 11 * MiB })).toBe(10 * MiB);
  });
});
