/**
 * Which backend runs sandboxes on this host, and which OCI runtime the `oci` backend uses. The decision is
 * pure (`chooseBackend`, `chooseOciRuntime`: unit-tested); `hostFacts` gathers what it depends on.
 *
 * `auto` takes the cheapest backend that passes the whole security suite on the host (the order below,
 * backed by test/sandbox/abuse.test.ts run against each backend and bench/ measuring each):
 *   bwrap - when bubblewrap is installed and unprivileged user namespaces work (it runs unprivileged);
 *   oci   - otherwise. gVisor is never chosen by `auto`: it is the hardened tier, slower by design.
 * The OCI runtime `auto` is crun where it works (faster container start than runc), else runc: crun 1.8
 * refuses a cgroup v1 "hybrid" host whose v2 mount holds controllers.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendChoice, BackendName } from '../backend.js';
import { detectCgroupLayout } from '../cgroups.js';
import { projectPath } from '../../project.js';

export type BackendSetting = BackendName | 'auto';

export interface HostFacts {
  /** Programs found on the PATH (runc, crun, runsc, bwrap) and polyrun's helpers that were built. */
  have: Record<string, boolean>;
  cgroupMode: 'v1' | 'v2';
  /** Controllers on the v2 mount of a v1 "hybrid" host (what makes crun 1.8 refuse it). */
  hybridV2Controllers: string[];
  /** user.max_user_namespaces > 0. */
  userNamespaces: boolean;
  /** Ubuntu 23.10+: kernel.apparmor_restrict_unprivileged_userns = 1 (bwrap then needs an AppArmor profile). */
  appArmorRestrictsUserns: boolean;
}

/** Why bwrap cannot run here, or null when nothing stops it (pure). */
export function bwrapBlocker(facts: HostFacts): string | null {
  if (!facts.have.bwrap) return 'bubblewrap is not installed (apt-get install bubblewrap, or run scripts/setup)';
  if (!facts.have.launcher || !facts.have.seccompCompiler) return "polyrun's bwrap helpers are not built (run scripts/setup)";
  if (!facts.userNamespaces) return 'unprivileged user namespaces are disabled (sysctl -w user.max_user_namespaces=15000)';
  if (facts.appArmorRestrictsUserns) {
    return 'AppArmor restricts unprivileged user namespaces (sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for bwrap with "userns,")';
  }
  return null;
}

/** Why crun cannot run here, or null (pure). */
export function crunBlocker(facts: HostFacts): string | null {
  if (!facts.have.crun) return 'crun is not installed';
  if (facts.cgroupMode === 'v1' && facts.hybridV2Controllers.length > 0) {
    return `crun refuses this cgroup v1 hybrid host (its cgroup v2 mount holds controllers: ${facts.hybridV2Controllers.join(', ')})`;
  }
  return null;
}

/** The OCI runtime binary for a setting ("auto" or a binary name) (pure). */
export function chooseOciRuntime(setting: string, facts: HostFacts): { runtime: string; reason: string } {
  if (setting !== 'auto') return { runtime: setting, reason: `sandbox.ociRuntime is ${setting}` };
  const crun = crunBlocker(facts);
  if (crun === null) return { runtime: 'crun', reason: 'crun works on this host and starts containers faster than runc' };
  return { runtime: 'runc', reason: `runc: ${crun}` };
}

/** The backend for a setting (pure). `bwrapWorks` is the result of a real bwrap start when one was tried. */
export function chooseBackend(setting: BackendSetting, ociRuntime: string, facts: HostFacts, bwrapWorks?: string | null): BackendChoice {
  const oci = chooseOciRuntime(ociRuntime, facts);
  switch (setting) {
    case 'oci':
      return { backend: 'oci', runtime: oci.runtime, reason: `sandbox.backend is oci; ${oci.reason}` };
    case 'bwrap':
      return { backend: 'bwrap', runtime: 'bwrap', reason: 'sandbox.backend is bwrap' };
    case 'gvisor':
      return { backend: 'gvisor', runtime: 'runsc', reason: 'sandbox.backend is gvisor' };
    case 'auto': {
      const blocker = bwrapBlocker(facts) ?? bwrapWorks ?? null;
      if (blocker === null) {
        return { backend: 'bwrap', runtime: 'bwrap', reason: 'auto: bwrap passes the security suite at the lowest cost, and it works on this host' };
      }
      return { backend: 'oci', runtime: oci.runtime, reason: `auto: not bwrap (${blocker}); ${oci.reason}` };
    }
  }
}

/** Whether gVisor can be used here, or why not (pure). */
export function gvisorBlocker(facts: HostFacts): string | null {
  return facts.have.runsc ? null : 'runsc (gVisor) is not installed (apt-get install runsc; Debian 12 packages it)';
}

/** The absolute path of a program on the PATH, or null. */
export function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return null;
}

function onPath(name: string): boolean {
  return which(name) !== null;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** What the decision depends on, read from this host. */
export function hostFacts(
  helpers: { launcher: string; seccompCompiler: string } = {
    launcher: projectPath('build', 'polyrun-launch'),
    seccompCompiler: projectPath('build', 'polyrun-seccomp-bpf'),
  },
): HostFacts {
  const layout = detectCgroupLayout();
  return {
    have: {
      runc: onPath('runc'),
      crun: onPath('crun'),
      runsc: onPath('runsc'),
      bwrap: onPath('bwrap'),
      launcher: executable(helpers.launcher),
      seccompCompiler: executable(helpers.seccompCompiler),
    },
    cgroupMode: layout.mode,
    hybridV2Controllers:
      layout.mode === 'v1' ? readOr('/sys/fs/cgroup/unified/cgroup.controllers', '').split(' ').filter(Boolean) : [],
    userNamespaces: Number(readOr('/proc/sys/user/max_user_namespaces', '0')) > 0,
    appArmorRestrictsUserns: readOr('/proc/sys/kernel/apparmor_restrict_unprivileged_userns', '0') === '1',
  };
}
