/**
 * cgroups: find where a sandbox's cgroup lives on this host (v1, hybrid or v2), read its accounting (CPU,
 * peak memory, OOM kills) and change its limits between stages. The OCI runtime creates and removes the
 * cgroup; this module only reads and writes its files.
 *
 * A relative `cgroupsPath` is placed by the runtime under the calling process's own cgroup in each
 * hierarchy, so sandboxes nest inside whatever cgroup the service was started in.
 */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type CgroupMode = 'v1' | 'v2';

export interface CgroupLayout {
  mode: CgroupMode;
  /** v1: controller -> absolute dir of the service's own cgroup in that hierarchy. v2: '' -> own dir. */
  base: Record<string, string>;
}

interface MountEntry {
  mountPoint: string;
  fsType: string;
  superOptions: string[];
  /** Root of the mount within its hierarchy (field 4). */
  root: string;
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
    entries.push({ root: l[3] ?? '/', mountPoint: unescapeMount(l[4] ?? ''), fsType: r[0] ?? '', superOptions: (r[2] ?? '').split(',') });
  }
  return entries;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parse /proc/self/cgroup (pure): hierarchy controllers -> path. v2 entry has key ''. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const ctrl of m[2]!.split(',')) out.set(ctrl.replace(/^name=/, 'name='), m[3]!);
    if (m[2] === '') out.set('', m[3]!);
  }
  return out;
}

/** The controllers polyrun reads or writes. */
const V1_CONTROLLERS = ['memory', 'pids', 'cpuacct', 'cpu'] as const;

/** Work out the layout from mountinfo and /proc/self/cgroup text (pure). */
export function layoutFrom(mountinfo: string, procCgroup: string): CgroupLayout {
  const mounts = parseMountInfo(mountinfo);
  const own = parseProcCgroup(procCgroup);
  const v1 = mounts.filter((m) => m.fsType === 'cgroup');
  const v1HasMemory = v1.some((m) => m.superOptions.includes('memory'));
  if (v1HasMemory) {
    const base: Record<string, string> = {};
    for (const ctrl of V1_CONTROLLERS) {
      const mount = v1.find((m) => m.superOptions.includes(ctrl));
      if (!mount) continue;
      base[ctrl] = join(mount.mountPoint, relativeTo(mount.root, own.get(ctrl) ?? '/'));
    }
    return { mode: 'v1', base };
  }
  const unified = mounts.find((m) => m.fsType === 'cgroup2');
  if (!unified) throw new Error('no cgroup filesystem is mounted');
  return { mode: 'v2', base: { '': join(unified.mountPoint, relativeTo(unified.root, own.get('') ?? '/')) } };
}

function relativeTo(mountRoot: string, path: string): string {
  if (mountRoot !== '/' && path.startsWith(mountRoot)) return path.slice(mountRoot.length) || '/';
  return path;
}

export function detectCgroupLayout(): CgroupLayout {
  return layoutFrom(readFileSync('/proc/self/mountinfo', 'utf8'), readFileSync('/proc/self/cgroup', 'utf8'));
}

/** One sandbox's cgroup, addressed by its path relative to the service's cgroup. */
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
  async cpuUsageMicros(): Promise<number> {
    if (this.layout.mode === 'v1') {
      return Math.round(Number(await readText(this.file('cpuacct', 'cpuacct.usage'))) / 1000);
    }
    const stat = await readText(this.file('cpu', 'cpu.stat'));
    return Number(/usage_usec (\d+)/.exec(stat)?.[1] ?? 0);
  }

  async peakMemoryBytes(): Promise<number> {
    const name = this.layout.mode === 'v1' ? 'memory.max_usage_in_bytes' : 'memory.peak';
    return Number(await readText(this.file('memory', name)));
  }

  /** Reset the peak so the next stage measures its own. */
  async resetPeakMemory(): Promise<void> {
    const name = this.layout.mode === 'v1' ? 'memory.max_usage_in_bytes' : 'memory.peak';
    await writeFile(this.file('memory', name), '0').catch(() => undefined);
  }

  async oomKills(): Promise<number> {
    if (this.layout.mode === 'v1') {
      const text = await readText(this.file('memory', 'memory.oom_control'));
      return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? 0);
    }
    const text = await readText(this.file('memory', 'memory.events'));
    return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? 0);
  }

  /** Set memory (swap = memory) and pids limits for the next stage. */
  async setLimits(memoryBytes: number, processes: number): Promise<void> {
    if (this.layout.mode === 'v1') {
      const limit = this.file('memory', 'memory.limit_in_bytes');
      const memsw = this.file('memory', 'memory.memsw.limit_in_bytes');
      const current = Number(await readText(limit));
      // v1 requires memory <= memsw at every moment: raise memsw first, lower memory first.
      if (memoryBytes > current) {
        await writeFile(memsw, String(memoryBytes)).catch(() => undefined);
        await writeFile(limit, String(memoryBytes));
      } else {
        await writeFile(limit, String(memoryBytes));
        await writeFile(memsw, String(memoryBytes)).catch(() => undefined);
      }
      await writeFile(this.file('pids', 'pids.max'), String(processes));
      return;
    }
    await writeFile(this.file('memory', 'memory.max'), String(memoryBytes));
    await writeFile(this.file('memory', 'memory.swap.max'), '0').catch(() => undefined);
    await writeFile(this.file('pids', 'pids.max'), String(processes));
  }
}

async function readText(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).trim();
}

/**
 * The service's own cgroup dir in every mounted hierarchy (including named and v2 ones): where the
 * runtime creates sandbox cgroups, and so where the sweep looks for leftovers.
 */
export function hierarchyBases(): string[] {
  const mounts = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  const own = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
  const bases: string[] = [];
  for (const m of mounts) {
    if (m.fsType === 'cgroup2') bases.push(join(m.mountPoint, relativeTo(m.root, own.get('') ?? '/')));
    if (m.fsType !== 'cgroup') continue;
    const key = m.superOptions.find((o) => own.has(o));
    if (key) bases.push(join(m.mountPoint, relativeTo(m.root, own.get(key) ?? '/')));
  }
  return bases;
}
