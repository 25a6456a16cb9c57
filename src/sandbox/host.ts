/**
 * SandboxHost: what every sandbox of one service process shares: the OCI runtime and its state dir, the
 * prepared read-only root, the cgroup layout, the seccomp object of each profile (built once per profile),
 * and the instance's own dirs.
 *
 * Layout under the state dir (default /run/polyrun, root-only except the rootfs, which the sandbox's
 * mapped uids must be able to traverse):
 *   rootfs-<hash>/            prepared root, shared by all instances with the same content
 *   instances/<pid>-<rand>/   one service process: runc/ (runtime state), bundles/<id>/config.json
 * cgroups: /polyrun/<instance>/<sandbox id> from the root of every hierarchy.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { detectCgroupLayout, hierarchyBases, type CgroupLayout } from './cgroups.js';
import { OciRuntime } from './oci.js';
import { prepareRootfs } from './rootfs.js';
import { DEFAULT_PROFILE, profileKey, type SandboxProfile } from '../contract/profile.js';
import { loadSeccompPolicy, seccompPolicyPath, toOciSeccomp, type OciSeccomp } from './seccomp.js';

export interface SandboxHostConfig {
  stateDir: string;
  ociRuntime: string;
  initBinary: string;
  /** Host uid/gid that container root maps to; the range must not hold real users. */
  hostIdBase: number;
  idRange: number;
  sandboxUid: number;
  /** Extra read-only mounts (the union of the runtimes' declared mounts). */
  mounts: string[];
}

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
  readonly runtime: OciRuntime;
  private readonly seccompByProfile = new Map<string, OciSeccomp>();

  private constructor(
    readonly config: SandboxHostConfig,
    readonly layout: CgroupLayout,
    /** The prepared root; replaced by refreshMounts when a mount appears. */
    public rootfs: string,
    /** The configured mounts that exist on this host (a missing one is left out, not an error). */
    public readOnlyMounts: string[],
  ) {
    this.instanceId = `${process.pid}-${randomBytes(3).toString('hex')}`;
    this.instanceDir = join(config.stateDir, 'instances', this.instanceId);
    this.bundlesDir = join(this.instanceDir, 'bundles');
    this.cgroupParent = join('polyrun', this.instanceId);
    this.runtime = new OciRuntime(config.ociRuntime, join(this.instanceDir, 'runc'));
    this.seccompFor(DEFAULT_PROFILE); // a missing or broken default policy fails here, not at the first sandbox
  }

  /**
   * The OCI seccomp object of a profile: the policy its `seccomp` names, plus the inet socket rules when its
   * network is "loopback". The network namespace is private (loopback only) in every profile.
   */
  seccompFor(profile: SandboxProfile): OciSeccomp {
    const key = profileKey(profile);
    let seccomp = this.seccompByProfile.get(key);
    if (!seccomp) {
      seccomp = toOciSeccomp(loadSeccompPolicy(seccompPolicyPath(profile.seccomp)), profile.network === 'loopback');
      this.seccompByProfile.set(key, seccomp);
    }
    return seccomp;
  }

  static async create(config: SandboxHostConfig): Promise<SandboxHost> {
    if (!existsSync(config.initBinary)) {
      throw new Error(`sandbox init agent not built at ${config.initBinary}: run scripts/setup`);
    }
    await new OciRuntime(config.ociRuntime, config.stateDir).version().catch((err: Error) => {
      throw new Error(`OCI runtime "${config.ociRuntime}" is not usable (${err.message}); install it or run \`polyrun doctor\``);
    });
    await mkdir(config.stateDir, { recursive: true });
    // The sandbox's mapped uids must traverse the state dir to reach the rootfs.
    await chmod(config.stateDir, 0o711);
    await mkdir(join(config.stateDir, 'instances'), { recursive: true, mode: 0o700 });
    const layout = detectCgroupLayout();
    const mounts = config.mounts.filter((m) => existsSync(m));
    const rootfs = await prepareRootfs(config.stateDir, {
      initBinary: config.initBinary,
      mounts,
      sandboxUid: config.sandboxUid,
    });
    const host = new SandboxHost(config, layout, rootfs, mounts);
    await mkdir(host.bundlesDir, { recursive: true, mode: 0o700 });
    await writeFile(join(host.instanceDir, ROOTFS_MARKER), basename(rootfs));
    await sweepStaleInstances(config);
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
  const runtime = new OciRuntime(config.ociRuntime, join(instanceDir, 'runc'));
  if (existsSync(join(instanceDir, 'runc'))) {
    const ids = await runtime.list().catch(() => [] as string[]);
    await Promise.all(ids.map((id) => runtime.delete(id).catch(() => undefined)));
  }
  await rm(instanceDir, { recursive: true, force: true });
  for (const base of hierarchyBases()) {
    const parent = join(base, 'polyrun', instanceId);
    if (!isDir(parent)) continue;
    // Container cgroups the runtime could not remove (it was killed mid-way) are empty dirs by now.
    for (const child of await readdir(parent).catch(() => [] as string[])) {
      if (isDir(join(parent, child))) await rmdir(join(parent, child)).catch(() => undefined);
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
