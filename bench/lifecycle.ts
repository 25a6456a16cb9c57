/**
 * What one sandbox's whole life costs in CPU, per backend: start, one python hello stage, destroy, run one
 * after another. Measured as the CPU time of this process and of its waited-for descendants
 * (/proc/self/stat utime + stime + cutime + cstime: the runtime or bwrap, polyrun-init and the program all
 * end up reaped into it), so other work on a shared machine does not count, unlike the machine-wide
 * /proc/stat numbers of the throughput table. Next to the bare program started the same way.
 * Not counted by either: kernel work done later in kernel threads (a network namespace is freed by one).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DEFAULT_LIMITS } from '../src/limits/limits.js';
import type { SandboxHost } from '../src/sandbox/host.js';
import { Sandbox } from '../src/sandbox/sandbox.js';

export interface LifecycleCost {
  /** "bare" or the backend with its program ("oci (runc)", "bwrap", "gvisor (runsc)"). */
  target: string;
  runs: number;
  wallMs: number;
  /** CPU per life, ms: the service process itself, and its reaped descendants. */
  serviceCpuMs: number;
  childrenCpuMs: number;
  error?: string;
}

/** USER_HZ ticks of this process: [own, reaped children]. */
function ticks(): [number, number] {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return [Number(f[11]) + Number(f[12]), Number(f[13]) + Number(f[14])];
}

const PYTHON = ['/usr/bin/python3', '-c', 'print(1)'];
const MiB = 1024 * 1024;
const SHAPE = { memoryBytes: 256 * MiB, processes: 32, openFiles: 64, fileSizeBytes: MiB, workDirBytes: 8 * MiB, tmpBytes: 8 * MiB };

async function measure(target: string, runs: number, once: () => Promise<void>): Promise<LifecycleCost> {
  try {
    for (let i = 0; i < 3; i++) await once();
    const [own0, kids0] = ticks();
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) await once();
    const wall = performance.now() - t0;
    const [own1, kids1] = ticks();
    // 100 ticks per second on every Linux Node runs on: 10 ms each.
    return { target, runs, wallMs: wall / runs, serviceCpuMs: ((own1 - own0) * 10) / runs, childrenCpuMs: ((kids1 - kids0) * 10) / runs };
  } catch (err) {
    return { target, runs, wallMs: 0, serviceCpuMs: 0, childrenCpuMs: 0, error: (err as Error).message.split('\n')[0] };
  }
}

/** Bare first, then one sandbox life after another on each host (one host per backend). */
export async function measureLifecycles(hosts: SandboxHost[], runs: number): Promise<LifecycleCost[]> {
  const out = [
    await measure('bare', runs, () => new Promise<void>((resolve, reject) => execFile(PYTHON[0]!, PYTHON.slice(1), (err) => (err ? reject(err) : resolve())))),
  ];
  for (const host of hosts) {
    const name = host.backend.name === 'bwrap' ? 'bwrap' : `${host.backend.name} (${host.backend.binary})`;
    out.push(
      await measure(name, runs, async () => {
        const sandbox = await Sandbox.start(host, SHAPE);
        try {
          const r = await sandbox.runStage({ argv: PYTHON, env: { PATH: '/usr/bin' }, limits: { ...DEFAULT_LIMITS.run, wallTimeMs: 10_000 } });
          if (r.stdout.toString() !== '1\n') throw new Error(`python hello failed: ${r.sandboxError ?? r.stderr.toString()}`);
        } finally {
          await sandbox.destroy();
        }
      }),
    );
  }
  return out;
}
