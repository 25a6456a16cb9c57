/**
 * Sandbox backends: how a sandbox is started and torn down. Everything else (polyrun-init, the frame
 * protocol, the stages, the pool, the cgroup accounting) is the same behind every backend.
 *
 * A backend turns a `SandboxIntent` (specconv.ts: the backend-neutral description of one sandbox) into a
 * running process whose fd 0 and fd 1 are polyrun-init's frame channel, kills it, and removes what it
 * leaves. The sandbox's cgroup is at the same path for every backend (`cgroup.relativePath`), so the
 * stage runner reads and writes the same files whichever backend made it.
 *
 * - `oci`    (backends/oci.ts): an OCI runtime, runc or crun, writes the cgroup and namespaces from a bundle.
 * - `gvisor` (backends/oci.ts with runsc): the same OCI path, the program runs on gVisor's user-space kernel.
 * - `bwrap`  (backends/bwrap.ts): bubblewrap, run as an unprivileged host uid; polyrun creates the cgroup
 *            and a small launcher puts itself into it before bwrap is exec'd.
 */
import type { SandboxCgroup } from './cgroups.js';
import type { SandboxProcess } from './oci.js';
import type { SandboxIntent } from './specconv.js';

export const BACKEND_NAMES = ['oci', 'bwrap', 'gvisor'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendLaunch {
  id: string;
  intent: SandboxIntent;
  cgroup: SandboxCgroup;
  /** Started for the warm pool: the backend's own processes run at this niceness (0 = normal). */
  niceness: number;
}

export interface SandboxBackend {
  readonly name: BackendName;
  /** The program that starts sandboxes (runc, crun, runsc, bwrap): names it in error messages. */
  readonly binary: string;
  /**
   * Processes of the backend itself that live in the sandbox's cgroup and uid range besides polyrun-init
   * (bwrap's monitor process: 1; OCI runtimes stay outside: 0). The cgroup's pids limit is raised by it,
   * so the program gets the same process count whichever backend runs it.
   */
  readonly helperProcesses: number;
  /**
   * Which of a stage's limits polyrun-init also sets as rlimits of the program: `processes` (RLIMIT_NPROC)
   * where the host's pids controller does not count the program's processes (gVisor: they are tasks of its
   * user-space kernel), `cpuBackstop` (RLIMIT_CPU a second above the CPU limit, behind the cgroup's
   * accounting) where the kernel that runs the program accounts CPU as the host does (not gVisor's).
   */
  readonly stageRlimits: { processes: boolean; cpuBackstop: boolean };
  /** Start the sandbox; the returned process's stdin/stdout are init's frame channel. */
  start(launch: BackendLaunch): Promise<SandboxProcess>;
  /** Kill every process of the sandbox (its process then exits). */
  kill(id: string, cgroup: SandboxCgroup): Promise<void>;
  /** After the sandbox's process has exited: remove what is left of it (runtime state, bundle, cgroup). */
  remove(id: string, cgroup: SandboxCgroup): Promise<void>;
  /** Remove the leftovers of a dead instance whose dir is `instanceDir` (start-up sweep). */
  sweepInstance(instanceDir: string): Promise<void>;
  /** One line: the binary and its version. */
  version(): Promise<string>;
}

/** What `backendInfo` reports (doctor, GET /v1/system): which backend runs sandboxes and why. */
export interface BackendChoice {
  backend: BackendName;
  /** The program behind it: runc, crun, runsc or bwrap. */
  runtime: string;
  reason: string;
}
