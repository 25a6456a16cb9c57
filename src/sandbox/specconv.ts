/**
 * specconv: the one place that turns a sandbox intent into an OCI runtime spec (config.json).
 * Pure: no I/O, so every security property of the spec is unit-tested (test/unit/specconv.test.ts).
 *
 * What the spec guarantees (the security model in README.md names each layer):
 * - namespaces: user (container root = an unprivileged host uid range), pid, network (no interfaces but
 *   loopback; or, for profile network "egress", the namespace src/network prepared, whose firewall the
 *   sandbox cannot change: it is owned by the host's user namespace), mount, ipc, uts, cgroup;
 * - the program runs as a non-root uid, with no capabilities and noNewPrivileges;
 * - the root is a prepared read-only directory; host content appears only through read-only binds
 *   (/usr, /etc/alternatives, /etc/ld.so.cache and the runtimes' declared mounts); the working dir and
 *   /tmp are size-limited tmpfs; /dev is a minimal tmpfs; no /sys;
 * - /proc with the usual masked and read-only paths;
 * - seccomp from the data policy; cgroup limits on memory (swap = memory), pids and CPU share; rlimits.
 */
import type { OciSeccomp } from './seccomp.js';

export interface SandboxIntent {
  /** Absolute path of the prepared read-only root directory (shared by all sandboxes). */
  rootfs: string;
  /** Path of polyrun-init inside the sandbox. */
  initPath: string;
  /** Absolute cgroup path (the same dir in every hierarchy, whichever OCI runtime). */
  cgroupsPath: string;
  /** Host uid/gid that container uid 0 maps to, and the size of the range. */
  hostIdBase: number;
  idRange: number;
  /** Uid and gid the program runs as inside the sandbox. */
  sandboxUid: number;
  /** Host paths bind-mounted read-only at the same place. */
  readOnlyMounts: { path: string }[];
  workDir: string;
  workDirBytes: number;
  tmpBytes: number;
  /** Upper bounds for the sandbox; a stage may lower memory and pids through the cgroup files. */
  memoryBytes: number;
  processes: number;
  cpuShares: number;
  /** Hard rlimits of the sandbox; polyrun-init sets each stage's own (lower) values. */
  openFilesHard: number;
  fileSizeHardBytes: number;
  stackBytes: number;
  hostname: string;
  seccomp: OciSeccomp;
  /**
   * A network namespace prepared by src/network (profile network "egress") to join instead of a new empty
   * one, and host files shown read-only over /etc (resolv.conf naming its DNS filter, nsswitch.conf).
   */
  network?: { netnsPath: string; etcFiles: { destination: string; source: string }[] };
}

export const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/sysrq-trigger',
];

export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys'];

/** Always bound read-only from the host, besides the runtimes' own mounts. */
export const BASE_READONLY_MOUNTS = ['/usr', '/etc/alternatives', '/etc/ld.so.cache'];

const RO_BIND = ['rbind', 'ro', 'nosuid', 'nodev'];

export function buildSpec(intent: SandboxIntent): Record<string, unknown> {
  const uid = intent.sandboxUid;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid, gid: uid, additionalGids: [] },
      args: [intent.initPath],
      env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/tmp', 'LANG=C.UTF-8'],
      cwd: intent.workDir,
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      noNewPrivileges: true,
      rlimits: [
        { type: 'RLIMIT_NOFILE', hard: intent.openFilesHard, soft: intent.openFilesHard },
        { type: 'RLIMIT_FSIZE', hard: intent.fileSizeHardBytes, soft: intent.fileSizeHardBytes },
        { type: 'RLIMIT_CORE', hard: 0, soft: 0 },
        { type: 'RLIMIT_STACK', hard: intent.stackBytes, soft: intent.stackBytes },
      ],
    },
    root: { path: intent.rootfs, readonly: true },
    hostname: intent.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'noexec', 'strictatime', 'mode=755', 'size=64k'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${intent.tmpBytes}`],
      },
      ...uniquePaths([...BASE_READONLY_MOUNTS, ...intent.readOnlyMounts.map((m) => m.path)]).map((path) => ({
        destination: path,
        type: 'bind',
        source: path,
        options: RO_BIND,
      })),
      ...(intent.network?.etcFiles ?? []).map((f) => ({ destination: f.destination, type: 'bind', source: f.source, options: RO_BIND })),
      {
        destination: intent.workDir,
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=755', `uid=${uid}`, `gid=${uid}`, `size=${intent.workDirBytes}`],
      },
      {
        destination: '/tmp',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=1777', `size=${intent.tmpBytes}`],
      },
    ],
    linux: {
      uidMappings: [{ containerID: 0, hostID: intent.hostIdBase, size: intent.idRange }],
      gidMappings: [{ containerID: 0, hostID: intent.hostIdBase, size: intent.idRange }],
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'user', 'cgroup'].map((type) =>
        type === 'network' && intent.network ? { type, path: intent.network.netnsPath } : { type },
      ),
      cgroupsPath: intent.cgroupsPath,
      resources: {
        memory: { limit: intent.memoryBytes, swap: intent.memoryBytes },
        pids: { limit: intent.processes },
        cpu: { shares: intent.cpuShares },
      },
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      seccomp: ociSeccompObject(intent.seccomp),
    },
  };
}

/** The OCI object alone: a policy's gVisor section is for backends/gvisor.ts. */
function ociSeccompObject(seccomp: OciSeccomp): Omit<OciSeccomp, 'gvisor'> {
  const { gvisor: _gvisor, ...oci } = seccomp;
  return oci;
}

function uniquePaths(paths: string[]): string[] {
  return [...new Set(paths)];
}
