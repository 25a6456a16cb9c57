/**
 * How the gvisor backend adapts specconv's spec for runsc (backends/gvisor.ts): the seccomp policy's own
 * gvisor section (data in seccomp/default.json) and an empty read-only /sys.
 */
import { describe, expect, it } from 'vitest';
import { adaptSpecForGvisor, seccompForGvisor } from '../../src/sandbox/backends/gvisor.js';
import { loadSeccompPolicy, toOciSeccomp } from '../../src/sandbox/seccomp.js';
import { buildSpec, type SandboxIntent } from '../../src/sandbox/specconv.js';

const policy = loadSeccompPolicy();
const seccomp = toOciSeccomp(policy, false);

describe('seccompForGvisor', () => {
  const adapted = seccompForGvisor(seccomp);

  it("puts the policy's gvisor rules first, so that they win over the allow list", () => {
    expect(adapted.syscalls.slice(0, policy.gvisor!.rules!.length).map((r) => r.names)).toEqual(policy.gvisor!.rules!.map((r) => r.names));
    const first = (name: string) => adapted.syscalls.find((r) => r.names.includes(name));
    expect(first('clone3')?.action).toBe('SCMP_ACT_TRACE'); // ENOSYS with no tracer: libc falls back to clone
    expect(first('close_range')?.action).toBe('SCMP_ACT_TRACE');
    expect(first('kill')).toMatchObject({ action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] });
  });

  it("renames what runsc knows by another name, and leaves no KILL_PROCESS (this runsc has no such action)", () => {
    const names = adapted.syscalls.flatMap((r) => r.names);
    expect(names).toContain('pselect');
    expect(names).not.toContain('pselect6');
    expect(adapted.syscalls.map((r) => r.action)).not.toContain('SCMP_ACT_KILL_PROCESS');
    expect(adapted.syscalls.find((r) => r.names.includes('reboot'))?.action).toBe('SCMP_ACT_KILL');
    expect(adapted).not.toHaveProperty('gvisor');
  });

  it('leaves a policy without a gvisor section as it is', () => {
    const { gvisor: _g, ...plain } = seccomp;
    expect(seccompForGvisor(plain).syscalls).toHaveLength(plain.syscalls.length);
  });
});

describe('adaptSpecForGvisor', () => {
  const intent: SandboxIntent = {
    rootfs: '/var/lib/polyrun/rootfs',
    initPath: '/.polyrun/init',
    cgroupsPath: '/polyrun/i/s',
    hostIdBase: 200000,
    idRange: 65536,
    sandboxUid: 1000,
    readOnlyMounts: [],
    workDir: '/box',
    workDirBytes: 1 << 20,
    tmpBytes: 1 << 20,
    memoryBytes: 64 << 20,
    processes: 16,
    cpuShares: 1024,
    openFilesHard: 64,
    fileSizeHardBytes: 1 << 20,
    stackBytes: 8 << 20,
    hostname: 'sandbox',
    seccomp,
  };
  const spec = adaptSpecForGvisor(buildSpec(intent), intent) as { mounts: { destination: string; type: string; options: string[] }[]; linux: { seccomp: unknown } };

  it('mounts an empty read-only /sys in place of the sysfs runsc would add', () => {
    const sys = spec.mounts.filter((m) => m.destination === '/sys');
    expect(sys).toHaveLength(1);
    expect(sys[0]).toMatchObject({ type: 'tmpfs' });
    expect(sys[0]!.options).toContain('ro');
  });

  it('carries the adapted seccomp object', () => {
    expect(spec.linux.seccomp).toEqual(seccompForGvisor(seccomp));
  });
});
