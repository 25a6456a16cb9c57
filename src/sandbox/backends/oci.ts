/**
 * The `oci` and `gvisor` backends: an OCI runtime (runc, crun, or gVisor's runsc) starts the sandbox from a
 * bundle whose config.json specconv builds. The runtime creates the namespaces and the cgroup, and removes
 * both when the container's first process (polyrun-init) exits.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackendLaunch, BackendName, SandboxBackend } from '../backend.js';
import type { SandboxCgroup } from '../cgroups.js';
import { OciRuntime, type SandboxProcess } from '../oci.js';
import { buildSpec, type SandboxIntent } from '../specconv.js';

/** The runtime's state dir inside an instance dir. */
export const OCI_STATE_DIR = 'runc';

export class OciBackend implements SandboxBackend {
  readonly runtime: OciRuntime;
  readonly stageRlimits: { processes: boolean; cpuBackstop: boolean } = { processes: false, cpuBackstop: true };

  constructor(
    readonly name: Extract<BackendName, 'oci' | 'gvisor'>,
    binary: string,
    instanceDir: string,
    /** Where bundles go (<dir>/<sandbox id>/config.json). */
    private readonly bundlesDir: string,
    globalArgs: readonly string[] = [],
    /** Changes the spec needs for this runtime (gVisor: see gvisor.ts). */
    private readonly adaptSpec: (spec: Record<string, unknown>, intent: SandboxIntent) => Record<string, unknown> = (spec) => spec,
    /** Threads of the runtime itself inside the sandbox's cgroup (gVisor's Sentry); runc and crun: none. */
    readonly helperProcesses = 0,
  ) {
    this.runtime = new OciRuntime(binary, join(instanceDir, OCI_STATE_DIR), globalArgs);
  }

  get binary(): string {
    return this.runtime.binary;
  }

  async start(launch: BackendLaunch): Promise<SandboxProcess> {
    const bundle = join(this.bundlesDir, launch.id);
    await mkdir(bundle, { recursive: true, mode: 0o700 });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(this.adaptSpec(buildSpec(launch.intent), launch.intent)));
    return this.runtime.run(launch.id, bundle, { niceness: launch.niceness });
  }

  kill(id: string): Promise<void> {
    return this.runtime.kill(id);
  }

  async remove(id: string, _cgroup?: SandboxCgroup): Promise<void> {
    // A foreground `run` removes its container when the container ends; a second runtime invocation
    // (~5 ms of CPU) is only needed when that did not happen (start failed half-way, runtime killed).
    if (this.runtime.hasState(id)) await this.runtime.delete(id).catch(() => undefined);
    await rm(join(this.bundlesDir, id), { recursive: true, force: true });
  }

  async sweepInstance(instanceDir: string): Promise<void> {
    if (!existsSync(join(instanceDir, OCI_STATE_DIR))) return;
    const runtime = new OciRuntime(this.runtime.binary, join(instanceDir, OCI_STATE_DIR), this.runtime.globalArgs);
    const ids = await runtime.list().catch(() => [] as string[]);
    await Promise.all(ids.map((id) => runtime.delete(id).catch(() => undefined)));
  }

  version(): Promise<string> {
    return this.runtime.version().then((v) => `${this.runtime.binary}: ${v}`);
  }
}
