/**
 * SandboxHost: what every sandbox of one service process shares: the OCI runtime and its state dir, the
 * prepared read-only root, the cgroup layout, the seccomp object of each profile (built once per profile),
 * and the instance's own dirs.
 *
 * Layout under the state dir (default /run/polyrun, root-only except the rootfs, which the sandbox's
 * mapped uids must be able to traverse):
 *   rootfs-<hash>/            prepared root, shared by all instances with the same content
 *   instances/<pid>-<rand>/   one service process: runc/ (OCI runtime state), bundles/<id>/config.json,
 *                             seccomp/<hash>.bpf (compiled policies of the bwrap backend), backend (its name)
 * cgroups: /polyrun/<instance>/<sandbox id> from the root of every hierarchy.
 *
 * Sandboxes are started and torn down by the host's backend (backend.ts: oci, bwrap or gvisor), chosen
 * from the configuration and the host (backends/choose.ts). A profile with `isolation: "gvisor"` runs on
 * the gVisor backend whatever the default is, when the host has one.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import type { BackendChoice, SandboxBackend } from './backend.js';
import { BwrapBackend } from './backends/bwrap.js';
import { chooseBackend, gvisorBlocker, hostFacts, which, type BackendSetting, type HostFacts } from './backends/choose.js';
import { gvisorBackend } from './backends/gvisor.js';
import { OciBackend } from './backends/oci.js';
import { detectCgroupLayout, hierarchyBases, killAndRemoveCgroupDir, type CgroupLayout } from './cgroups.js';
import type { OciRuntime } from './oci.js';
import { prepareRootfs } from './rootfs.js';
import { DEFAULT_PROFILE, profileKey, type SandboxProfile } from '../contract/profile.js';
import { projectPath } from '../project.js';
import { SeccompBpfCache } from './seccomp-bpf.js';
import { loadSeccompPolicy, seccompPolicyPath, toOciSeccomp, type OciSeccomp } from './seccomp.js';
import { SandboxNetworks, type NetworkProvider } from '../network/netns.js';

export interface SandboxHostConfig {
  stateDir: string;
  /** oci, bwrap, gvisor, or auto (backends/choose.ts); default auto. */
  backend?: BackendSetting;
  /** The `oci` backend's runtime binary: runc, crun, or auto (crun where it works). */
  ociRuntime: string;
  initBinary: string;
  /** Host uid/gid that container root maps to; the range must not hold real users. */
  hostIdBase: number;
  idRange: number;
  sandboxUid: number;
  /** Extra read-only mounts (the union of the runtimes' declared mounts). */
  mounts: string[];
  /** The bwrap backend's helpers (built by scripts/setup); default build/polyrun-launch, build/polyrun-seccomp-bpf. */
  launcher?: string;
  seccompCompiler?: string;
  /** Prepares the network of sandboxes with profile network "egress"; without it they cannot start. */
  network?: NetworkProvider;
}

/** The name of the file in an instance dir that names its backend's runtime (for the sweep). */
const BACKEND_MARKER = 'backend';

/**
 * The uid mapping of every sandbox: fixed by design, not a setting (the service's settings, state dir and
 * OCI runtime among them, come from src/config).
 */
export const SANDBOX_IDS: Pick<SandboxHostConfig, 'hostIdBase' | 'idRange' | 'sandboxUid'> = {
  hostIdBase: 200_000,
  idRange: 65_536,
  sandboxUid: 1000,
};

export class SandboxHost {
  readonly instanceId: string;
  readonly instanceDir: string;
  readonly bundlesDir: string;
  readonly cgroupParent: string;
  /** Starts and tears down this host's sandboxes. */
  readonly backend: SandboxBackend;
  /** The hardened tier (gVisor) for profiles that ask for it; undefined when the host has none. */
  readonly gvisor?: SandboxBackend;
  /** Why the host has no gVisor tier (null when it has one). */
  readonly gvisorUnavailable: string | null;
  /**
   * Sandboxes with an egress network join the netns src/network prepared for them: an OCI runtime does
   * that from the spec; bwrap cannot join an existing netns, so on a bwrap host they run on the OCI runtime.
   */
  readonly egress: SandboxBackend;
  private readonly seccompByProfile = new Map<string, OciSeccomp>();

  private constructor(
    readonly config: SandboxHostConfig,
    readonly layout: CgroupLayout,
    /** The prepared root; replaced by refreshMounts when a mount appears. */
    public rootfs: string,
    /** The configured mounts that exist on this host (a missing one is left out, not an error). */
    public readOnlyMounts: string[],
    /** Which backend runs sandboxes, and why (doctor and GET /v1/system show it). */
    readonly choice: BackendChoice,
    facts: HostFacts,
  ) {
    this.instanceId = `${process.pid}-${randomBytes(3).toString('hex')}`;
    this.instanceDir = join(config.stateDir, 'instances', this.instanceId);
    this.bundlesDir = join(this.instanceDir, 'bundles');
    this.cgroupParent = join('polyrun', this.instanceId);
    this.backend = this.makeBackend(choice);
    this.gvisorUnavailable = gvisorBlocker(facts);
    if (choice.backend === 'gvisor') this.gvisor = this.backend;
    else if (this.gvisorUnavailable === null) this.gvisor = gvisorBackend(this.instanceDir, this.bundlesDir);
    this.egress =
      this.backend instanceof OciBackend
        ? this.backend
        : new OciBackend('oci', config.ociRuntime === 'auto' ? 'runc' : config.ociRuntime, this.instanceDir, this.bundlesDir);
    this.seccompFor(DEFAULT_PROFILE); // a missing or broken default policy fails here, not at the first sandbox
  }

  private makeBackend(choice: BackendChoice): SandboxBackend {
    switch (choice.backend) {
      case 'oci':
        return new OciBackend('oci', choice.runtime, this.instanceDir, this.bundlesDir);
      case 'gvisor':
        return gvisorBackend(this.instanceDir, this.bundlesDir);
      case 'bwrap':
        return new BwrapBackend({
          bwrap: which('bwrap') ?? '/usr/bin/bwrap',
          launcher: this.config.launcher ?? DEFAULT_LAUNCHER,
          hostUid: this.config.hostIdBase + this.config.sandboxUid,
          seccomp: new SeccompBpfCache(this.config.seccompCompiler ?? DEFAULT_SECCOMP_COMPILER, join(this.instanceDir, 'seccomp')),
        });
    }
  }

  /** The backend that runs sandboxes of `profile` (gVisor when it asks for that isolation; see `egress`). */
  backendFor(profile: SandboxProfile): SandboxBackend {
    if ((profile as { isolation?: string }).isolation !== 'gvisor') return profile.network === 'egress' ? this.egress : this.backend;
    if (!this.gvisor) throw new Error(`the gVisor tier is not available on this host: ${this.gvisorUnavailable}`);
    return this.gvisor;
  }

  /** The OCI runtime of the default backend, when it is an OCI one (tests and the benchmark inspect it). */
  get runtime(): OciRuntime | undefined {
    return this.backend instanceof OciBackend ? this.backend.runtime : undefined;
  }

  /**
   * The OCI seccomp object of a profile: the policy its `seccomp` names, plus the inet socket rules when its
   * network is "loopback" or "egress". The network namespace is private in every profile (loopback only,
   * or for "egress" the one src/network prepared with its link and firewall).
   */
  seccompFor(profile: SandboxProfile): OciSeccomp {
    const key = profileKey(profile);
    let seccomp = this.seccompByProfile.get(key);
    if (!seccomp) {
      seccomp = toOciSeccomp(loadSeccompPolicy(seccompPolicyPath(profile.seccomp)), profile.network !== 'none');
      this.seccompByProfile.set(key, seccomp);
    }
    return seccomp;
  }

  static async create(config: SandboxHostConfig): Promise<SandboxHost> {
    if (!existsSync(config.initBinary)) {
      throw new Error(`sandbox init agent not built at ${config.initBinary}: run scripts/setup`);
    }
    const helpers = { launcher: config.launcher ?? DEFAULT_LAUNCHER, seccompCompiler: config.seccompCompiler ?? DEFAULT_SECCOMP_COMPILER };
    const facts = hostFacts(helpers);
    const setting = config.backend ?? 'auto';
    const probe = setting === 'auto' ? await probeBwrap(helpers.launcher) : undefined;
    const choice = chooseBackend(setting, config.ociRuntime, facts, probe);
    await versionOf(choice.runtime).catch((err: Error) => {
      const what = choice.backend === 'bwrap' ? 'bubblewrap' : 'OCI runtime';
      throw new Error(`${what} "${choice.runtime}" is not usable (${err.message}); install it or run \`polyrun doctor\``);
    });
    await mkdir(config.stateDir, { recursive: true });
    // The sandbox's mapped uids must traverse the state dir to reach the rootfs: the dir itself, and
    // every dir above it (a state dir under a mode-700 temp dir fails only at the first sandbox start).
    await chmod(config.stateDir, 0o711);
    const closed = await closedAncestor(config.stateDir);
    if (closed) {
      throw new Error(
        `the state dir ${config.stateDir} is not reachable by the sandbox's unprivileged uid: ${closed} has no execute bit for others; ` +
          `choose a state dir under a traversable path (the default is fine) or chmod o+x ${closed}`,
      );
    }
    await mkdir(join(config.stateDir, 'instances'), { recursive: true, mode: 0o700 });
    const layout = detectCgroupLayout();
    const mounts = config.mounts.filter((m) => existsSync(m));
    const rootfs = await prepareRootfs(config.stateDir, {
      initBinary: config.initBinary,
      mounts,
      sandboxUid: config.sandboxUid,
    });
    const host = new SandboxHost(config, layout, rootfs, mounts, choice, facts);
    await mkdir(host.bundlesDir, { recursive: true, mode: 0o700 });
    await writeFile(join(host.instanceDir, ROOTFS_MARKER), basename(rootfs));
    await writeFile(join(host.instanceDir, BACKEND_MARKER), host.backend.binary);
    await sweepStaleInstances(config);
    if (config.network) await SandboxNetworks.sweep(config.stateDir).catch(() => undefined);
    return host;
  }

  /**
   * Configured mounts that did not exist at start and do now (a runtime installed while serving: R's /etc/R):
   * prepare a root with their mount points and use it for sandboxes started from now on. Returns the added
   * paths (none: nothing changes).
   */
  async refreshMounts(): Promise<string[]> {
    const mounts = this.config.mounts.filter((m) => existsSync(m));
    const added = mounts.filter((m) => !this.readOnlyMounts.includes(m));
    if (added.length === 0) return [];
    this.rootfs = await prepareRootfs(this.config.stateDir, {
      initBinary: this.config.initBinary,
      mounts,
      sandboxUid: this.config.sandboxUid,
    });
    this.readOnlyMounts = mounts;
    await writeFile(join(this.instanceDir, ROOTFS_MARKER), basename(this.rootfs));
    return added;
  }

  /** Remove everything this instance left: containers, cgroups, bundles. */
  async cleanup(): Promise<void> {
    await removeInstance(this.config, this.instanceId);
  }
}

const DEFAULT_LAUNCHER = projectPath('build', 'polyrun-launch');
const DEFAULT_SECCOMP_COMPILER = projectPath('build', 'polyrun-seccomp-bpf');

function versionOf(binary: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(binary, ['--version'], { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(String(stdout).split('\n')[0] ?? ''))),
  );
}

/**
 * The uid of the probe below: any unprivileged uid answers the question, and this one is outside the
 * sandboxes' range, so a probe running at that moment is never mistaken for a sandbox's process (it runs
 * in no sandbox cgroup).
 */
const PROBE_UID = 65534;

/**
 * Whether bwrap really starts a user namespace here as an unprivileged uid (a kernel or LSM may refuse
 * what the sysctls allow): null when it does, else why not. About 5 ms, once per service start.
 */
function probeBwrap(launcher: string): Promise<string | null> {
  if (!existsSync(launcher)) return Promise.resolve("polyrun's bwrap launcher is not built (run scripts/setup)");
  const uid = String(PROBE_UID);
  const argv = [uid, uid, '0', '64', '1048576', '8388608', '--', which('bwrap') ?? '/usr/bin/bwrap', '--unshare-all', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--', '/usr/bin/true'];
  return new Promise((resolve) =>
    execFile(launcher, argv, { timeout: 10_000, env: { PATH: '/usr/bin:/bin' } }, (err, _stdout, stderr) =>
      resolve(err ? `bwrap could not start a sandbox here: ${String(stderr).trim() || err.message}` : null),
    ),
  );
}

/** Names the prepared root an instance uses, so the sweep keeps it while the instance lives. */
const ROOTFS_MARKER = 'rootfs';
/** A root younger than this may belong to an instance that has not written its marker yet. */
const ROOTFS_GRACE_MS = 60_000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The first dir above `path` (resolved) that others cannot traverse, or null when all can. */
export async function closedAncestor(path: string): Promise<string | null> {
  let dir = dirname(resolve(path));
  for (;;) {
    const info = await stat(dir);
    if ((info.mode & 0o001) === 0) return dir;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/**
 * Start-up sweep: an instance whose process is gone (crashed, killed) leaves containers, cgroups and
 * bundles behind; remove them. Live instances (other services, parallel test workers) are left alone.
 */
export async function sweepStaleInstances(config: SandboxHostConfig): Promise<string[]> {
  const dir = join(config.stateDir, 'instances');
  const names = await readdir(dir).catch(() => [] as string[]);
  const swept: string[] = [];
  for (const name of names) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && pidAlive(pid) && pid !== process.pid) continue;
    if (pid === process.pid) continue;
    await removeInstance(config, name);
    swept.push(name);
  }
  await sweepUnusedRoots(config);
  return swept;
}

/** Prepared roots no live instance uses (older content, other runtime sets) are removed. */
async function sweepUnusedRoots(config: SandboxHostConfig): Promise<void> {
  const instancesDir = join(config.stateDir, 'instances');
  const inUse = new Set<string>();
  for (const name of await readdir(instancesDir).catch(() => [] as string[])) {
    const marker = await readFile(join(instancesDir, name, ROOTFS_MARKER), 'utf8').catch(() => '');
    if (marker) inUse.add(marker.trim());
  }
  for (const name of await readdir(config.stateDir).catch(() => [] as string[])) {
    if (!name.startsWith('rootfs-') || inUse.has(name)) continue;
    const info = await stat(join(config.stateDir, name)).catch(() => undefined);
    if (!info || Date.now() - info.mtimeMs < ROOTFS_GRACE_MS) continue;
    await rm(join(config.stateDir, name), { recursive: true, force: true });
  }
}

async function removeInstance(config: SandboxHostConfig, instanceId: string): Promise<void> {
  const instanceDir = join(config.stateDir, 'instances', instanceId);
  // The OCI runtime that made the instance's containers (its state format is its own): the marker names it.
  const marker = (await readFile(join(instanceDir, BACKEND_MARKER), 'utf8').catch(() => '')).trim();
  const ociBinary = marker && marker !== 'bwrap' ? marker : config.ociRuntime === 'auto' ? 'runc' : config.ociRuntime;
  const gvisor = ociBinary === 'runsc';
  const oci = gvisor ? gvisorBackend(instanceDir, join(instanceDir, 'bundles')) : new OciBackend('oci', ociBinary, instanceDir, join(instanceDir, 'bundles'));
  await oci.sweepInstance(instanceDir);
  await rm(instanceDir, { recursive: true, force: true });
  for (const base of hierarchyBases()) {
    const parent = join(base, 'polyrun', instanceId);
    if (!isDir(parent)) continue;
    // Sandbox cgroups: empty dirs when an OCI runtime was killed mid-way; with bwrap (no runtime to ask),
    // the dead instance's sandboxes may still run there: whatever is left is killed, then the dir removed.
    for (const child of await readdir(parent).catch(() => [] as string[])) {
      if (isDir(join(parent, child))) await killAndRemoveCgroupDir(join(parent, child));
    }
    await rmdir(parent).catch(() => undefined);
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
