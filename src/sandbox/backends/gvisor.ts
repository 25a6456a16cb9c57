/**
 * The `gvisor` backend: gVisor's runsc through the OCI path (backends/oci.ts). The program's system calls
 * are served by gVisor's user-space kernel (the Sentry), not the host's: the hardened tier.
 *
 * runsc options: --network=none (the sandbox gets loopback only, as with the other backends); --oci-seccomp
 * (runsc otherwise ignores the spec's seccomp object: with it the same policy is enforced inside the
 * Sentry, on top of gVisor's own filters of the Sentry itself).
 *
 * The spec is specconv's, with what this runsc (Debian 12: release 20221219) does not take adapted:
 * - SCMP_ACT_KILL_PROCESS is not among its seccomp actions: SCMP_ACT_KILL (the calling thread, which for
 *   the single-threaded attack probes is the process) stands in for it.
 * - The Sentry and the gofer run inside the sandbox's cgroup, each thread a host task that counts against
 *   pids.max, while the program's processes are Sentry tasks that the host never sees. So the pids limit
 *   is raised by GVISOR_HOST_THREADS: the host's pids controller bounds gVisor's own threads, not the
 *   program's process count; a fork bomb is bounded by the memory limit and the CPU and wall time limits.
 */
import { OciBackend } from './oci.js';

export const RUNSC_GLOBAL_ARGS = ['--network=none', '--oci-seccomp'];

interface SpecSeccomp {
  syscalls?: { action: string }[];
}

/** Host threads of the Sentry and the gofer, added to the sandbox's pids limit. */
export const GVISOR_HOST_THREADS = 512;

interface SpecLinux {
  seccomp?: SpecSeccomp;
  resources?: { pids?: { limit: number } };
}

/** specconv's spec, adapted for runsc (pure). */
export function adaptSpecForGvisor(spec: Record<string, unknown>): Record<string, unknown> {
  const linux = spec.linux as SpecLinux | undefined;
  if (!linux) return spec;
  const seccomp = linux.seccomp?.syscalls
    ? {
        ...linux.seccomp,
        syscalls: linux.seccomp.syscalls.map((rule) => (rule.action === 'SCMP_ACT_KILL_PROCESS' ? { ...rule, action: 'SCMP_ACT_KILL' } : rule)),
      }
    : linux.seccomp;
  const pids = linux.resources?.pids ? { limit: linux.resources.pids.limit + GVISOR_HOST_THREADS } : undefined;
  return { ...spec, linux: { ...linux, seccomp, resources: { ...linux.resources, ...(pids ? { pids } : {}) } } };
}

export function gvisorBackend(instanceDir: string, bundlesDir: string): OciBackend {
  return new OciBackend('gvisor', 'runsc', instanceDir, bundlesDir, RUNSC_GLOBAL_ARGS, adaptSpecForGvisor, GVISOR_HOST_THREADS);
}
