/**
 * cgroups: find where a sandbox's cgroup lives on this host (v1, hybrid or v2), read its accounting (CPU,
 * peak memory, OOM kills) and change its limits between stages. The OCI runtime creates and removes the
 * cgroup; this module only reads and writes its files.
 *
 * Sandbox cgroups live at /polyrun/<instance>/<sandbox> from the root of every hierarchy. The path is
 * absolute because OCI runtimes disagree on relative ones (runc nests them under the caller's own cgroup
 * per hierarchy, crun under the root), and one absolute path means the same dir to runc, crun and runsc.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type CgroupMode = 'v1' | 'v2';

export interface CgroupLayout {
  mode: CgroupMode;
  /** v1: controller -> mount point of its hierarchy. v2: '' -> mount point of the unified hierarchy. */
  base: Record<string, string>;
}

interface MountEntry {
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** Parse /proc/self/mountinfo lines (pure). */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const l = left.split(' ');
    const r = right.split(' ');
    entries.push({ mountPoint: unescapeMount(l[4] ?? ''), fsType: r[0] ?? '', superOptions: (r[2] ?? '').split(',') });
  }
  return entries;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The controllers polyrun reads or writes. */
const V1_CONTROLLERS = ['memory', 'pids', 'cpuacct', 'cpu'] as const;

/** Work out the layout from mountinfo text (pure). */
export function layoutFrom(mountinfo: string): CgroupLayout {
  const mounts = parseMountInfo(mountinfo);
  const v1 = mounts.filter((m) => m.fsType === 'cgroup');
  const v1HasMemory = v1.some((m) => m.superOptions.includes('memory'));
  if (v1HasMemory) {
    const base: Record<string, string> = {};
    for (const ctrl of V1_CONTROLLERS) {
      const mount = v1.find((m) => m.superOptions.includes(ctrl));
      if (!mount) continue;
      base[ctrl] = mount.mountPoint;
    }
    return { mode: 'v1', base };
  }
  const unified = mounts.find((m) => m.fsType === 'cgroup2');
  if (!unified) throw new Error('no cgroup filesystem is mounted');
  return { mode: 'v2', base: { '': unified.mountPoint } };
}

export function detectCgroupLayout(): CgroupLayout {
  return layoutFrom(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/**
 * One sandbox's cgroup. Its files live in memory (cgroupfs never blocks), so they are read and written
 * synchronously: a thread-pool round trip per file would cost more than the read itself on the request path.
 */
export class SandboxCgroup {
  constructor(
    private readonly layout: CgroupLayout,
    readonly relativePath: string,
  ) {}

  private file(controller: string, name: string): string {
    const base = this.layout.mode === 'v1' ? this.layout.base[controller] : this.layout.base[''];
    if (!base) throw new Error(`cgroup controller ${controller} is not available`);
    return join(base, this.relativePath, name);
  }

  /** CPU time used so far by the whole tree, in microseconds. */
  cpuUsageMicros(): number {
    if (this.layout.mode === 'v1') {
      return Math.round(Number(readText(this.file('cpuacct', 'cpuacct.usage'))) / 1000);
    }
    const stat = readText(this.file('cpu', 'cpu.stat'));
    return Number(/usage_usec (\d+)/.exec(stat)?.[1] ?? 0);
  }

  peakMemoryBytes(): number {
    const name = this.layout.mode === 'v1' ? 'memory.max_usage_in_bytes' : 'memory.peak';
    return Number(readText(this.file('memory', name)));
  }

  /** Reset the peak so the next stage measures its own. */
  resetPeakMemory(): void {
    const name = this.layout.mode === 'v1' ? 'memory.max_usage_in_bytes' : 'memory.peak';
    tryWrite(this.file('memory', name), '0');
  }

  oomKills(): number {
    if (this.layout.mode === 'v1') {
      const text = readText(this.file('memory', 'memory.oom_control'));
      return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? 0);
    }
    const text = readText(this.file('memory', 'memory.events'));
    return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? 0);
  }

  /** Pids in the cgroup (before a stage starts: only polyrun-init). */
  processes(): number[] {
    const controller = this.layout.mode === 'v1' ? 'pids' : 'cpu';
    return readText(this.file(controller, 'cgroup.procs')).split('\n').filter(Boolean).map(Number);
  }

  /** CPU weight relative to other sandboxes, in v1 shares (v2 cpu.weight is derived). */
  setCpuShares(shares: number): void {
    if (this.layout.mode === 'v1') writeFileSync(this.file('cpu', 'cpu.shares'), String(shares));
    else writeFileSync(this.file('cpu', 'cpu.weight'), String(Math.max(1, Math.min(10_000, Math.round((shares * 100) / 1024)))));
  }

  /** Set memory (swap = memory) and pids limits for the next stage. */
  setLimits(memoryBytes: number, processes: number): void {
    if (this.layout.mode === 'v1') {
      const limit = this.file('memory', 'memory.limit_in_bytes');
      const memsw = this.file('memory', 'memory.memsw.limit_in_bytes');
      const current = Number(readText(limit));
      // v1 requires memory <= memsw at every moment: raise memsw first, lower memory first.
      if (memoryBytes > current) {
        tryWrite(memsw, String(memoryBytes)); // absent without swap accounting
        writeFileSync(limit, String(memoryBytes));
      } else {
        writeFileSync(limit, String(memoryBytes));
        tryWrite(memsw, String(memoryBytes));
      }
      writeFileSync(this.file('pids', 'pids.max'), String(processes));
      return;
    }
    writeFileSync(this.file('memory', 'memory.max'), String(memoryBytes));
    tryWrite(this.file('memory', 'memory.swap.max'), '0');
    writeFileSync(this.file('pids', 'pids.max'), String(processes));
  }
}

function tryWrite(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch {
    // optional file (swap accounting, peak reset on older kernels)
  }
}

function readText(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

/** The mount point of every cgroup hierarchy (including named and v2 ones): where the sweep looks. */
export function hierarchyBases(): string[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'))
    .filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2')
    .map((m) => m.mountPoint);
}
