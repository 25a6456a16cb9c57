/**
 * The sandbox backends' pure parts: bwrap's argv (each property of the OCI spec has its bwrap line), the
 * seccomp compiler's input (the same policy the OCI runtimes get), and which backend a host gets and why.
 */
import { describe, expect, it } from 'vitest';
import { bwrapArgs } from '../../src/sandbox/backends/bwrap-args.js';
import { chooseBackend, chooseOciRuntime, type HostFacts } from '../../src/sandbox/backends/choose.js';
import { bpfInput } from '../../src/sandbox/seccomp-bpf.js';
import { loadSeccompPolicy, toOciSeccomp } from '../../src/sandbox/seccomp.js';
import type { SandboxIntent } from '../../src/sandbox/specconv.js';

const MiB = 1024 * 1024;

const intent: SandboxIntent = {
  rootfs: '/run/polyrun/rootfs-0123456789abcdef',
  initPath: '/.polyrun/init',
  cgroupsPath: '/polyrun/1-abc/1-abc-0',
  hostIdBase: 200_000,
  idRange: 65_536,
  sandboxUid: 1000,
  readOnlyMounts: [{ path: '/opt/runtime' }, { path: '/usr' }],
  workDir: '/box',
  workDirBytes: 64 * MiB,
  tmpBytes: 32 * MiB,
  memoryBytes: 256 * MiB,
  processes: 64,
  cpuShares: 1024,
  openFilesHard: 256,
  fileSizeHardBytes: 16 * MiB,
  stackBytes: 64 * MiB,
  hostname: 'sandbox',
  seccomp: toOciSeccomp(loadSeccompPolicy(), false),
};

const procEntries = [
  { path: '/proc/acpi', directory: true },
  { path: '/proc/keys', directory: false },
  { path: '/proc/fs', directory: true },
  { path: '/proc/sys', directory: true },
];

/** The options of an argv as [option, ...its values] groups, for lookups. */
function has(args: string[], ...seq: string[]): boolean {
  for (let i = 0; i + seq.length <= args.length; i++) if (seq.every((s, j) => args[i + j] === s)) return true;
  return false;
}

describe('bwrapArgs', () => {
  const args = bwrapArgs(intent, { seccompFd: 3, procEntries });

  it('creates every namespace, maps only the sandbox uid and allows no further user namespace', () => {
    for (const ns of ['user', 'pid', 'net', 'ipc', 'uts', 'cgroup']) expect(args, ns).toContain(`--unshare-${ns}`);
    expect(has(args, '--uid', '1000', '--gid', '1000')).toBe(true);
    expect(args).toContain('--disable-userns');
    expect(has(args, '--hostname', 'sandbox')).toBe(true);
  });

  it('runs init as pid 1 with no capabilities, in its own session, dying with its parent, with the seccomp fd', () => {
    for (const flag of ['--as-pid-1', '--new-session', '--die-with-parent', '--clearenv']) expect(args).toContain(flag);
    expect(has(args, '--cap-drop', 'ALL')).toBe(true);
    expect(has(args, '--seccomp', '3')).toBe(true);
    expect(args.slice(-2)).toEqual(['--', '/.polyrun/init']);
    expect(has(args, '--chdir', '/box')).toBe(true);
  });

  it('binds the prepared root and the same read-only mounts, each once', () => {
    expect(has(args, '--ro-bind', intent.rootfs, '/')).toBe(true);
    for (const path of ['/usr', '/etc/alternatives', '/etc/ld.so.cache', '/opt/runtime']) expect(has(args, '--ro-bind', path, path), path).toBe(true);
    expect(args.filter((a) => a === '/usr')).toHaveLength(2); // one --ro-bind /usr /usr
    expect(args).not.toContain('--bind');
    expect(args).not.toContain('--dev-bind');
  });

  it('gives /box, /tmp and /dev/shm the sizes and modes of the OCI spec, and a read-only /dev', () => {
    expect(has(args, '--size', String(64 * MiB), '--perms', '0755', '--tmpfs', '/box')).toBe(true);
    expect(has(args, '--size', String(32 * MiB), '--perms', '1777', '--tmpfs', '/tmp')).toBe(true);
    expect(has(args, '--size', String(32 * MiB), '--perms', '1777', '--tmpfs', '/dev/shm')).toBe(true);
    expect(has(args, '--remount-ro', '/dev')).toBe(true);
    expect(args.indexOf('--remount-ro')).toBeGreaterThan(args.indexOf('/dev/shm'));
  });

  it('masks the /proc paths that exist (directories: read-only empty tmpfs; files: /dev/null)', () => {
    expect(has(args, '--perms', '0555', '--tmpfs', '/proc/acpi', '--remount-ro', '/proc/acpi')).toBe(true);
    expect(has(args, '--ro-bind', '/dev/null', '/proc/keys')).toBe(true);
    expect(has(args, '--tmpfs', '/proc/fs', '--remount-ro', '/proc/fs')).toBe(true);
    // bwrap makes /proc/sys read-only itself; a path the kernel does not have is left alone.
    expect(args).not.toContain('/proc/sys');
    expect(args).not.toContain('/proc/kcore');
    expect(args.indexOf('/proc/acpi')).toBeGreaterThan(args.indexOf('--proc'));
  });
});

describe('bpfInput', () => {
  it('flattens the OCI seccomp object: default, arch, one line per syscall with its conditions', () => {
    const seccomp = toOciSeccomp(loadSeccompPolicy(), false);
    const lines = bpfInput(seccomp).trim().split('\n');
    expect(lines[0]).toBe('default ERRNO 1');
    expect(lines[1]).toBe('arch x86_64');
    expect(lines).toContain('rule ALLOW 1 read 0');
    expect(lines).toContain('rule ERRNO 38 clone3 0');
    expect(lines).toContain('rule KILL_PROCESS 1 kexec_load 0');
    expect(lines).toContain('rule ALLOW 1 socket 2 0 EQ 16 0 2 EQ 0 0');
    expect(lines.some((l) => /^rule ALLOW 1 clone 1 0 MASKED_EQ \d+ 0$/.test(l))).toBe(true);
    expect(lines.filter((l) => / socket /.test(l))).toHaveLength(2); // AF_UNIX and NETLINK_ROUTE, no inet
    const network = bpfInput(toOciSeccomp(loadSeccompPolicy(), true)).split('\n').filter((l) => / socket /.test(l));
    expect(network).toHaveLength(4);
  });
});

describe('choosing the backend', () => {
  const facts = (over: Partial<HostFacts> = {}): HostFacts => ({
    have: { runc: true, crun: true, runsc: true, bwrap: true, launcher: true, seccompCompiler: true },
    cgroupMode: 'v2',
    hybridV2Controllers: [],
    userNamespaces: true,
    appArmorRestrictsUserns: false,
    ...over,
  });

  it('auto: bwrap where it works, else oci with the reason', () => {
    expect(chooseBackend('auto', 'auto', facts(), null).backend).toBe('bwrap');
    const noUserns = chooseBackend('auto', 'auto', facts({ userNamespaces: false }));
    expect(noUserns.backend).toBe('oci');
    expect(noUserns.reason).toMatch(/user namespaces are disabled/);
    const apparmor = chooseBackend('auto', 'auto', facts({ appArmorRestrictsUserns: true }));
    expect(apparmor.reason).toMatch(/AppArmor/);
    const probeFailed = chooseBackend('auto', 'auto', facts(), 'bwrap could not start a sandbox here: denied');
    expect(probeFailed).toMatchObject({ backend: 'oci', runtime: 'crun' });
    expect(probeFailed.reason).toMatch(/denied/);
  });

  it('an explicit setting is taken as it is', () => {
    expect(chooseBackend('oci', 'runc', facts())).toMatchObject({ backend: 'oci', runtime: 'runc' });
    expect(chooseBackend('gvisor', 'auto', facts())).toMatchObject({ backend: 'gvisor', runtime: 'runsc' });
    expect(chooseBackend('bwrap', 'auto', facts({ userNamespaces: false }))).toMatchObject({ backend: 'bwrap' });
  });

  it('the OCI runtime: crun where it works, runc on a hybrid host whose v2 mount holds controllers', () => {
    expect(chooseOciRuntime('auto', facts()).runtime).toBe('crun');
    const hybrid = chooseOciRuntime('auto', facts({ cgroupMode: 'v1', hybridV2Controllers: ['hugetlb'] }));
    expect(hybrid.runtime).toBe('runc');
    expect(hybrid.reason).toMatch(/hybrid.*hugetlb/);
    expect(chooseOciRuntime('auto', facts({ cgroupMode: 'v1' })).runtime).toBe('crun');
    expect(chooseOciRuntime('auto', facts({ have: { crun: false } })).runtime).toBe('runc');
    expect(chooseOciRuntime('runc', facts()).runtime).toBe('runc');
  });
});
