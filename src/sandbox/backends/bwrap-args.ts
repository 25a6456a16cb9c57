/**
 * bwrap-args: the one place that turns a sandbox intent into bubblewrap's argv (pure: unit-tested like
 * specconv). Each line below matches a property of the OCI spec (specconv.ts), so every backend gives the
 * program the same sandbox:
 * - namespaces: user (bwrap runs as the unprivileged host uid hostIdBase + sandboxUid, mapped to sandboxUid;
 *   no other uid exists inside), pid (polyrun-init is pid 1: --as-pid-1), network (loopback only), mount,
 *   ipc, uts (hostname), cgroup; no further user namespaces (--disable-userns, and seccomp refuses them);
 * - no capabilities (--cap-drop ALL), no_new_privs (bwrap always sets it), a new session (no controlling tty);
 * - the prepared root read-only, the same read-only binds (nosuid, nodev), /box, /tmp and /dev/shm as
 *   tmpfs of the same sizes and modes, /dev minimal and read-only;
 * - /proc of the sandbox's pid namespace with the masked paths (a file: /dev/null over it; a directory:
 *   an empty read-only tmpfs) and the read-only ones (bwrap already makes sys, sysrq-trigger, irq and bus
 *   read-only; the others are masked, which is stricter);
 * - the seccomp filter compiled from the same policy, read from an fd (--seccomp);
 * - dies with the service (--die-with-parent).
 * cgroup limits and rlimits are applied by the launcher (launch.c) before bwrap runs.
 */
import { BASE_READONLY_MOUNTS, MASKED_PATHS, READONLY_PATHS, type SandboxIntent } from '../specconv.js';

/** bwrap already remounts these read-only in its fresh /proc. */
const BWRAP_READONLY_PROC = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus'];

export interface BwrapPaths {
  /** The fd (in bwrap) its seccomp program is read from. */
  seccompFd: number;
  /** /proc paths that exist on this kernel (a mount needs its target; the sandbox's /proc has the same entries). */
  procEntries: { path: string; directory: boolean }[];
}

export function bwrapArgs(intent: SandboxIntent, paths: BwrapPaths): string[] {
  const uid = String(intent.sandboxUid);
  const args = [
    '--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup',
    '--uid', uid, '--gid', uid,
    '--disable-userns',
    '--hostname', intent.hostname,
    '--as-pid-1', '--die-with-parent', '--new-session',
    '--cap-drop', 'ALL',
    '--clearenv',
    '--setenv', 'PATH', '/usr/local/bin:/usr/bin:/bin', '--setenv', 'HOME', '/tmp', '--setenv', 'LANG', 'C.UTF-8',
    '--ro-bind', intent.rootfs, '/',
  ];
  for (const path of [...new Set([...BASE_READONLY_MOUNTS, ...intent.readOnlyMounts.map((m) => m.path)])]) {
    args.push('--ro-bind', path, path);
  }
  args.push('--proc', '/proc', '--dev', '/dev');
  args.push('--size', String(intent.tmpBytes), '--perms', '1777', '--tmpfs', '/dev/shm');
  args.push('--remount-ro', '/dev');
  args.push('--size', String(intent.workDirBytes), '--perms', '0755', '--tmpfs', intent.workDir);
  args.push('--size', String(intent.tmpBytes), '--perms', '1777', '--tmpfs', '/tmp');
  const present = new Map(paths.procEntries.map((e) => [e.path, e.directory]));
  const masked = [...MASKED_PATHS, ...READONLY_PATHS.filter((p) => !BWRAP_READONLY_PROC.includes(p))];
  for (const path of masked) {
    const directory = present.get(path);
    if (directory === undefined) continue; // not on this kernel: nothing to hide
    if (directory) args.push('--perms', '0555', '--tmpfs', path, '--remount-ro', path);
    else args.push('--ro-bind', '/dev/null', path);
  }
  args.push('--seccomp', String(paths.seccompFd));
  args.push('--chdir', intent.workDir, '--', intent.initPath);
  return args;
}
