/**
 * The `bwrap` backend: bubblewrap (the sandbox Flatpak is built on) starts each sandbox, run as an
 * unprivileged host uid by polyrun-launch (launch.c), which first puts itself into the sandbox's cgroup
 * and sets the rlimits. polyrun creates the cgroup with its limits before the launch and removes it after
 * the sandbox has exited; bwrap keeps no state of its own, so a sandbox is its cgroup: killing it is
 * killing every process in the cgroup, sweeping an instance is killing and removing its cgroups.
 *
 * Cost: one fork/exec of the launcher, one exec of bwrap and the namespace set-up, no runtime state on
 * disk, no second process to remove anything: far cheaper than an OCI runtime (see bench/).
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import type { BackendLaunch, SandboxBackend } from '../backend.js';
import type { SandboxCgroup } from '../cgroups.js';
import type { SandboxProcess } from '../oci.js';
import { MASKED_PATHS, READONLY_PATHS } from '../specconv.js';
import type { SeccompBpfCache } from '../seccomp-bpf.js';
import { bwrapArgs } from './bwrap-args.js';

/** bwrap reads its seccomp program from this fd (stdio[3] of the launcher). */
const SECCOMP_FD = 3;

export interface BwrapBackendOptions {
  bwrap: string;
  launcher: string;
  /** Host uid and gid bwrap runs as (hostIdBase + sandboxUid): unprivileged, never 0. */
  hostUid: number;
  seccomp: SeccompBpfCache;
}

export class BwrapBackend implements SandboxBackend {
  readonly name = 'bwrap' as const;
  /** bwrap's own process (it waits for polyrun-init and reports its exit) lives in the cgroup too. */
  readonly helperProcesses = 1;
  readonly stageRlimits = { processes: false, cpuBackstop: true };
  private readonly procEntries: { path: string; directory: boolean }[];
  /**
   * The host pid of each running sandbox's bwrap (the launcher's pid: it execs bwrap). A kill spares it:
   * bwrap reaps polyrun-init and exits by itself, and the service reaps bwrap. Killed itself, it would leave
   * init to the host's pid 1, which may never reap it.
   */
  private readonly monitors = new Map<string, number>();

  constructor(private readonly options: BwrapBackendOptions) {
    this.procEntries = [...MASKED_PATHS, ...READONLY_PATHS]
      .filter((path) => existsSync(path))
      .map((path) => ({ path, directory: statSync(path).isDirectory() }));
  }

  get binary(): string {
    return this.options.bwrap;
  }

  async start(launch: BackendLaunch): Promise<SandboxProcess> {
    const { intent, cgroup } = launch;
    const bpf = await this.options.seccomp.pathFor(intent.seccomp);
    cgroup.create({ memoryBytes: intent.memoryBytes, processes: intent.processes, cpuShares: intent.cpuShares });
    const uid = String(this.options.hostUid);
    const argv = [
      uid, uid, String(launch.niceness),
      String(intent.openFilesHard), String(intent.fileSizeHardBytes), String(intent.stackBytes),
      ...cgroup.procsFiles(),
      '--', this.options.bwrap, ...bwrapArgs(intent, { seccompFd: SECCOMP_FD, procEntries: this.procEntries }),
    ];
    const fd = openSync(bpf, 'r');
    let proc: SandboxProcess;
    try {
      proc = spawn(this.options.launcher, argv, {
        stdio: ['pipe', 'pipe', 'pipe', fd],
        env: { PATH: '/usr/bin:/bin' },
      }) as SandboxProcess;
    } finally {
      closeSync(fd); // the child has its own copy
    }
    if (proc.pid !== undefined) {
      this.monitors.set(launch.id, proc.pid);
      proc.once('exit', () => this.monitors.delete(launch.id));
    }
    return proc;
  }

  async kill(id: string, cgroup: SandboxCgroup): Promise<void> {
    cgroup.killAll(this.monitors.get(id));
  }

  async remove(id: string, cgroup: SandboxCgroup): Promise<void> {
    // The process has exited, but the kernel may still be tearing the namespace down: a few tries.
    for (let attempt = 0; attempt < 50; attempt++) {
      if (cgroup.remove().length === 0) return;
      cgroup.killAll(this.monitors.get(id));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const left = cgroup.remove();
    if (left.length > 0) throw new Error(`cgroup not removable: ${left.join(', ')}`);
  }

  /** bwrap keeps no state: a dead instance's sandboxes are its cgroups, which the host's sweep removes. */
  async sweepInstance(): Promise<void> {}

  version(): Promise<string> {
    return new Promise((resolve, reject) =>
      execFile(this.options.bwrap, ['--version'], { timeout: 10_000 }, (err, stdout) =>
        err ? reject(err) : resolve(String(stdout).split('\n')[0] ?? ''),
      ),
    );
  }
}
