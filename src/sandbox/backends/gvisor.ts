/**
 * The `gvisor` backend: gVisor's runsc through the OCI path (backends/oci.ts). The program's system calls
 * are served by gVisor's user-space kernel (the Sentry), not the host's: the hardened tier.
 *
 * runsc options: --network=none (the sandbox gets loopback only, as with the other backends); --oci-seccomp
 * (runsc otherwise ignores the spec's seccomp object: with it the same policy is enforced inside the
 * Sentry, on top of gVisor's own filters of the Sentry itself).
 *
 * The spec is specconv's, with what this runsc (Debian 12: release 20221219) does not take adapted:
 * - seccomp: the policy's own `gvisor` section (data, seccomp/default.json) renames the syscalls gVisor
 *   knows by another name (pselect6 is its "pselect") and puts its rules first (runsc takes the first rule
 *   that matches). SCMP_ACT_KILL_PROCESS is not among this runsc's actions: SCMP_ACT_KILL (the calling
 *   thread, which for the single-threaded attack probes is the process) stands in for it.
 * - /sys: gVisor mounts a sysfs of its own where the spec has none; an empty read-only tmpfs takes its
 *   place, as no /sys is what the other backends give.
 * - the cgroup: polyrun creates it with its limits before runsc starts (as for bwrap) and removes it after;
 *   runsc joins a cgroup that exists and leaves it alone. (runsc creating and removing it itself, on this
 *   cgroup v1 hybrid host, removed it with the container, before the stage's accounting (OOM kills, CPU,
 *   peak memory) was read.)
 * - The Sentry and the gofer run inside the sandbox's cgroup, each thread a host task that counts against
 *   pids.max, while the program's processes are Sentry tasks that the host never sees. So the pids limit
 *   is raised by GVISOR_HOST_THREADS (the host's pids controller bounds gVisor's own threads), and the
 *   stage's process limit is RLIMIT_NPROC, set by polyrun-init (stageRlimits.processes). No RLIMIT_CPU
 *   backstop: gVisor's CPU accounting of its tasks is not the host's; the host-side cgroup accounting
 *   (which sees the Sentry's threads) enforces the CPU limit.
 */
import type { BackendLaunch } from '../backend.js';
import type { SandboxCgroup } from '../cgroups.js';
import type { SandboxProcess } from '../oci.js';
import type { OciSeccomp, SeccompRule } from '../seccomp.js';
import type { SandboxIntent } from '../specconv.js';
import { OciBackend } from './oci.js';

export const RUNSC_GLOBAL_ARGS = ['--network=none', '--oci-seccomp'];

/** Host threads of the Sentry and the gofer, added to the sandbox's pids limit. */
export const GVISOR_HOST_THREADS = 512;

interface SpecLinux {
  seccomp?: { syscalls?: SeccompRule[] };
}

/** The OCI seccomp object as gVisor takes it (pure): the policy's gvisor section applied. */
export function seccompForGvisor(seccomp: OciSeccomp): Omit<OciSeccomp, 'gvisor'> {
  const { gvisor, ...oci } = seccomp;
  const rename = (name: string) => gvisor?.syscallNames?.[name] ?? name;
  const adapt = (rule: SeccompRule): SeccompRule => ({
    ...rule,
    names: rule.names.map(rename),
    ...(rule.action === 'SCMP_ACT_KILL_PROCESS' ? { action: 'SCMP_ACT_KILL' } : {}),
  });
  return { ...oci, syscalls: [...(gvisor?.rules ?? []), ...oci.syscalls].map(adapt) };
}

/** specconv's spec, adapted for runsc (pure). */
export function adaptSpecForGvisor(spec: Record<string, unknown>, intent: SandboxIntent): Record<string, unknown> {
  const linux = spec.linux as SpecLinux | undefined;
  if (!linux) return spec;
  const mounts = [
    ...((spec.mounts as { destination: string }[] | undefined) ?? []),
    { destination: '/sys', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid', 'nodev', 'noexec', 'mode=555', 'size=4k'] },
  ];
  return { ...spec, mounts, linux: { ...linux, seccomp: seccompForGvisor(intent.seccomp) } };
}

export class GvisorBackend extends OciBackend {
  override readonly stageRlimits = { processes: true, cpuBackstop: false };

  constructor(instanceDir: string, bundlesDir: string) {
    super('gvisor', 'runsc', instanceDir, bundlesDir, RUNSC_GLOBAL_ARGS, adaptSpecForGvisor, GVISOR_HOST_THREADS);
  }

  override async start(launch: BackendLaunch): Promise<SandboxProcess> {
    const { intent, cgroup } = launch;
    cgroup.create({ memoryBytes: intent.memoryBytes, processes: intent.processes, cpuShares: intent.cpuShares });
    return super.start(launch);
  }

  override async remove(id: string, cgroup: SandboxCgroup): Promise<void> {
    await super.remove(id, cgroup);
    // runsc has exited, but the gofer and the Sentry's processes may still be on their way out (on a loaded
    // machine, a while): killed, then retried for up to 5 s.
    for (let attempt = 0; attempt < 250; attempt++) {
      if (cgroup.remove().length === 0) return;
      cgroup.killAll();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const left = cgroup.remove();
    if (left.length > 0) throw new Error(`cgroup not removable: ${left.join(', ')}`);
  }
}

export function gvisorBackend(instanceDir: string, bundlesDir: string): OciBackend {
  return new GvisorBackend(instanceDir, bundlesDir);
}
