/**
 * cgroups: find where a sandbox's cgroup lives on this host (v1, hybrid or v2), read its accounting (CPU,
 * peak memory, OOM kills) and change its limits between stages. The OCI runtime creates and removes the
 * cgroup; this module only reads and writes its files.
 *
 * Sandbox cgroups live at /polyrun/<instance>/<sandbox> from the root of every hierarchy. The path is
 * absolute because OCI runtimes disagree on relative ones (runc nests them under the caller's own cgroup
 * per hierarchy, crun under the root), and one absolute path means the same dir to runc, crun and runsc.
 */
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmdirSync, writeSync, writeFileSync } from 'node:fs';
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

/** One stage's peak memory (SandboxCgroup.startPeakMeter). */
export interface PeakMeter {
  /** Note the usage now (v2 before Linux 6.12 only; a no-op elsewhere). Never throws. */
  sample(): void;
  /** The stage's peak so far, in bytes; throws when the cgroup is gone. */
  read(): number;
  /** Release the open file (v2 from 6.12). */
  close(): void;
}

/**
 * A stage's peak memory where the cgroup's peak cannot be reset (cgroup v2 before Linux 6.12), from the
 * lifetime peak (memory.peak) at the stage's start and end and the highest memory.current sampled during
 * the stage (pure). When the lifetime peak rose during the stage, the new peak was reached in the stage:
 * it is the stage's peak, exactly. When it did not, the stage's peak lies between the highest usage seen
 * and the earlier peak; the earlier peak belongs to an earlier stage (compile, a previous cell), so the
 * highest usage seen is reported: the closest bound the kernel exposes, never another stage's peak.
 */
export function stagePeakBytes(read: { lifetimeAtStart: number; lifetimeAtEnd: number; sampled: number }): number {
  if (read.lifetimeAtEnd > read.lifetimeAtStart) return read.lifetimeAtEnd;
  return Math.min(read.sampled, read.lifetimeAtEnd);
}

/**
 * One sandbox's cgroup. Its files live in memory (cgroupfs never blocks), so they are read and written
 * synchronously: a thread-pool round trip per file would cost more than the read itself on the request path.
 */
export class SandboxCgroup {
  constructor(
    private readonly layout: CgroupLayout,
    readonly relativePath: string,
    /**
     * Processes of the backend itself inside the cgroup besides polyrun-init (bwrap's monitor): added to
     * every pids limit, so the program gets the same count whichever backend runs it.
     */
    private readonly pidsOverhead = 0,
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

  /**
   * Start measuring one stage's (or one cell's) peak memory; read it with `read()` at the end and `close()`
   * the meter. How depends on the kernel:
   * - v1: memory.max_usage_in_bytes is reset (written 0: it restarts from the current usage).
   * - v2 from Linux 6.12: memory.peak is reset by writing to it, for reads through that same open file
   *   only; the meter keeps that fd open for the stage.
   * - v2 before 6.12 (Debian 12's 6.1): memory.peak cannot be reset and holds the cgroup's lifetime peak,
   *   so a stage after a hungrier one (compile, an earlier cell) would report the earlier peak. The meter
   *   reads the lifetime peak at the start and samples memory.current while the stage runs (`sample()`,
   *   on the CPU poll); `stagePeakBytes` turns those into the stage's peak.
   */
  startPeakMeter(): PeakMeter {
    if (this.layout.mode === 'v1') {
      const file = this.file('memory', 'memory.max_usage_in_bytes');
      tryWrite(file, '0');
      return { sample: () => undefined, read: () => Number(readText(file)), close: () => undefined };
    }
    const peakFile = this.file('memory', 'memory.peak');
    const currentFile = this.file('memory', 'memory.current');
    let fd: number | undefined;
    try {
      fd = openSync(peakFile, 'r+');
      writeSync(fd, 'reset\n');
    } catch {
      if (fd !== undefined) closeSync(fd);
      fd = undefined; // before 6.12: memory.peak is read-only (the open or the write is refused)
    }
    if (fd !== undefined) {
      const own = fd;
      let closed = false;
      return {
        sample: () => undefined,
        read: () => readFd(own),
        close: () => {
          if (!closed) closeSync(own);
          closed = true;
        },
      };
    }
    const readNumber = (path: string) => Number(readText(path));
    const lifetimeAtStart = readNumber(peakFile);
    let sampled = readNumber(currentFile);
    return {
      sample: () => {
        try {
          sampled = Math.max(sampled, readNumber(currentFile));
        } catch {
          // the cgroup is gone: what was sampled stays
        }
      },
      read: () => {
        const lifetimeAtEnd = readNumber(peakFile);
        sampled = Math.max(sampled, readNumber(currentFile));
        return stagePeakBytes({ lifetimeAtStart, lifetimeAtEnd, sampled });
      },
      close: () => undefined,
    };
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

  /**
   * Every thread in the cgroup (a multi-threaded backend process, such as gVisor's Sentry, has many, and a
   * priority is per thread).
   */
  threads(): number[] {
    const [controller, name] = this.layout.mode === 'v1' ? ['pids', 'tasks'] : ['cpu', 'cgroup.threads'];
    return readText(this.file(controller, name)).split('\n').filter(Boolean).map(Number);
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
      writeFileSync(this.file('pids', 'pids.max'), String(processes + this.pidsOverhead));
      return;
    }
    writeFileSync(this.file('memory', 'memory.max'), String(memoryBytes));
    tryWrite(this.file('memory', 'memory.swap.max'), '0');
    writeFileSync(this.file('pids', 'pids.max'), String(processes + this.pidsOverhead));
  }

  /**
   * The dirs of this cgroup in each hierarchy polyrun uses (v1: memory, pids, cpu, cpuacct; v2: the
   * unified one). Backends that are not OCI runtimes (bwrap) create and remove the cgroup themselves.
   */
  dirs(): string[] {
    const bases = this.layout.mode === 'v1' ? Object.values(this.layout.base) : [this.layout.base['']!];
    return [...new Set(bases)].map((base) => join(base, this.relativePath));
  }

  /** The `cgroup.procs` file of every dir: a process written into each is wholly inside the cgroup. */
  procsFiles(): string[] {
    return this.dirs().map((dir) => join(dir, 'cgroup.procs'));
  }

  /**
   * Create the cgroup with its first limits, before any process is in it. On v2 the controllers are
   * enabled down the path first (a child can only use what its parent's cgroup.subtree_control grants).
   */
  create(limits: { memoryBytes: number; processes: number; cpuShares: number }): void {
    if (this.layout.mode === 'v2') {
      const base = this.layout.base['']!;
      const parts = this.relativePath.split('/').filter(Boolean);
      for (let i = 0; i < parts.length; i++) {
        const dir = join(base, ...parts.slice(0, i));
        const missing = ['memory', 'pids', 'cpu'].filter((c) => !readText(join(dir, 'cgroup.subtree_control')).split(' ').includes(c));
        if (missing.length > 0) writeFileSync(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
        mkdirSync(join(base, ...parts.slice(0, i + 1)), { recursive: true });
      }
    } else {
      for (const dir of this.dirs()) mkdirSync(dir, { recursive: true });
    }
    if (this.layout.mode === 'v1') {
      // memsw may only be set once memory is, and must not be below it.
      writeFileSync(this.file('memory', 'memory.limit_in_bytes'), String(limits.memoryBytes));
      tryWrite(this.file('memory', 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
      writeFileSync(this.file('pids', 'pids.max'), String(limits.processes + this.pidsOverhead));
    } else {
      this.setLimits(limits.memoryBytes, limits.processes);
    }
    this.setCpuShares(limits.cpuShares);
  }

  /**
   * SIGKILL every process in the cgroup but `spare` (a backend's own process that reaps the others and
   * then exits by itself), until none is left or `rounds` passes found it still busy.
   */
  killAll(spare?: number, rounds = 20): void {
    for (let i = 0; i < rounds; i++) {
      let pids: number[];
      try {
        pids = this.processes().filter((pid) => pid !== spare);
      } catch {
        return; // the cgroup is gone
      }
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  /** Remove the cgroup's dirs (each must be empty of processes); returns the ones that could not be removed. */
  remove(): string[] {
    const left: string[] = [];
    for (const dir of this.dirs()) {
      try {
        rmdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(dir);
      }
    }
    return left;
  }
}

function tryWrite(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch {
    // optional file (swap accounting, peak reset on older kernels)
  }
}

function readFd(fd: number): number {
  const buf = Buffer.alloc(64);
  const n = readSync(fd, buf, 0, buf.length, 0);
  return Number(buf.subarray(0, n).toString('utf8').trim());
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

/**
 * SIGKILL every process in one cgroup dir (of any hierarchy), a few rounds, then remove the dir. For the
 * start-up sweep: a dead instance's sandbox whose processes outlived it (bwrap has no runtime to ask).
 */
export async function killAndRemoveCgroupDir(dir: string): Promise<boolean> {
  for (let round = 0; round < 20; round++) {
    let pids: number[] = [];
    try {
      pids = readText(join(dir, 'cgroup.procs')).split('\n').filter(Boolean).map(Number);
    } catch {
      // no procs file: not a cgroup dir, or gone
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    try {
      rmdirSync(dir);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 10)); // the kernel finishes the exits
  }
  return false;
}
