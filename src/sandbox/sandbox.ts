/**
 * Sandbox: one isolated container, used for exactly one execution and then destroyed.
 *
 * Life: `Sandbox.start` describes the sandbox (specconv's intent, with the seccomp policy of its profile)
 * and has the host's backend (backend.ts: an OCI runtime, bwrap or gVisor) start it; its first process is
 * polyrun-init, which says hello and waits. The caller then hands over
 * files and runs stages, one at a time (stage-runner.ts: limits, streaming, stdin, signals); files travel
 * between stages and while one runs. `destroy` removes the container, its cgroup and its bundle, whatever state it is in.
 * The frames themselves go through a FrameChannel (channel.ts).
 */
import { join } from 'node:path';
import { setPriority } from 'node:os';
import { DEFAULT_PROFILE, type SandboxProfile } from '../contract/profile.js';
import { SandboxCgroup } from './cgroups.js';
import { FrameChannel } from './channel.js';
import type { SandboxHost } from './host.js';
import { FRAME, decodeFileData, encodeFile, encodeFrame, encodeSignal, encodeUnlink } from './protocol.js';
import type { SandboxBackend } from './backend.js';
import type { SandboxIntent } from './specconv.js';
import type { SandboxNetwork } from '../network/netns.js';
import type { NetworkStats } from '../contract/result.js';
import {
  STACK_BYTES,
  WORK_DIR,
  endedStage,
  startStage,
  type OutputStream,
  type RunningStage,
  type StageCommand,
  type StageOptions,
  type StageOutcome,
} from './stage-runner.js';

export { WORK_DIR };
export type { OutputStream, RunningStage, StageCommand, StageOptions, StageOutcome };

export interface SandboxShape {
  /** Upper bounds for every stage of this sandbox. */
  memoryBytes: number;
  processes: number;
  openFiles: number;
  fileSizeBytes: number;
  workDirBytes: number;
  tmpBytes: number;
}

export interface SandboxStartOptions {
  /**
   * Started ahead of time for the warm pool: the runtime then runs at a low CPU priority and the sandbox's
   * cgroup gets the smallest CPU share until `promote()`, so preparing sandboxes never takes CPU from
   * programs that are running.
   */
  background?: boolean;
  /** Security profile (seccomp policy, network mode); fixed for the sandbox's life. Default DEFAULT_PROFILE. */
  profile?: SandboxProfile;
}

const INIT_PATH = '/.polyrun/init';
const HELLO_TIMEOUT_MS = 15_000;
const DESTROY_GRACE_MS = 2_000;
const STAGE_KILL_GRACE_MS = 2_000;
const FOREGROUND_CPU_SHARES = 1024;
const BACKGROUND_CPU_SHARES = 2;
const BACKGROUND_NICENESS = 10;

let sequence = 0;

export class Sandbox {
  readonly id: string;
  readonly cgroup: SandboxCgroup;
  readonly profile: SandboxProfile;
  /** What starts and tears down this sandbox (the host's backend for its profile). */
  readonly backend: SandboxBackend;
  private channel?: FrameChannel;
  /** Stages started so far (tells a late kill which stage it was meant for). */
  private stages = 0;
  /** Resolves when the runtime process has exited (tests wait on it). */
  private exited?: Promise<void>;
  private destroyed?: Promise<void>;
  /** The network of a profile with network "egress" (netns, link, firewall, DNS filter). */
  private network?: SandboxNetwork;

  private constructor(
    private readonly host: SandboxHost,
    readonly shape: SandboxShape,
    profile: SandboxProfile,
  ) {
    this.id = `${host.instanceId}-${(sequence++).toString(36)}`;
    this.profile = { ...profile };
    this.backend = host.backendFor(this.profile);
    this.cgroup = new SandboxCgroup(host.layout, join(host.cgroupParent, this.id), this.backend.helperProcesses);
  }

  /** Start a sandbox: write the bundle, start the container, wait for polyrun-init's hello. */
  static async start(host: SandboxHost, shape: SandboxShape, options: SandboxStartOptions = {}): Promise<Sandbox> {
    const sandbox = new Sandbox(host, shape, options.profile ?? DEFAULT_PROFILE);
    try {
      await sandbox.boot(options.background ?? false);
      return sandbox;
    } catch (err) {
      await sandbox.destroy();
      throw err;
    }
  }

  private async boot(background: boolean): Promise<void> {
    if (this.profile.network === 'egress') {
      if (!this.host.config.network || !this.profile.egress) throw new Error('this sandbox host has no network provider for egress');
      this.network = await this.host.config.network.attach(this.id, this.profile.egress);
    }
    const intent: SandboxIntent = {
      rootfs: this.host.rootfs,
      initPath: INIT_PATH,
      cgroupsPath: `/${this.cgroup.relativePath}`,
      hostIdBase: this.host.config.hostIdBase,
      idRange: this.host.config.idRange,
      sandboxUid: this.host.config.sandboxUid,
      readOnlyMounts: this.host.readOnlyMounts.map((path) => ({ path })),
      workDir: WORK_DIR,
      workDirBytes: this.shape.workDirBytes,
      tmpBytes: this.shape.tmpBytes,
      memoryBytes: this.shape.memoryBytes,
      processes: this.shape.processes,
      cpuShares: background ? BACKGROUND_CPU_SHARES : FOREGROUND_CPU_SHARES,
      openFilesHard: this.shape.openFiles,
      fileSizeHardBytes: this.shape.fileSizeBytes,
      stackBytes: STACK_BYTES,
      hostname: 'sandbox',
      seccomp: this.host.seccompFor(this.profile),
      ...(this.network ? { network: { netnsPath: this.network.netnsPath, etcFiles: this.network.etcFiles } } : {}),
    };
    const proc = await this.backend.start({
      id: this.id,
      intent,
      cgroup: this.cgroup,
      niceness: background ? BACKGROUND_NICENESS : 0,
    });
    this.channel = new FrameChannel(proc, this.backend.binary);
    this.exited = this.channel.exited;
    await this.channel.hello(HELLO_TIMEOUT_MS);
  }

  private get ready(): FrameChannel {
    if (!this.channel?.open) throw new Error('sandbox is not running');
    return this.channel;
  }

  /** A pooled sandbox taken for an execution: normal CPU share for its cgroup, normal priority for each of its threads. */
  promote(): void {
    this.cgroup.setCpuShares(FOREGROUND_CPU_SHARES);
    // Every thread: gVisor's Sentry runs the program on threads it started at the pool's niceness.
    for (const tid of this.cgroup.threads()) {
      try {
        setPriority(tid, 0);
      } catch {
        // the thread ended meanwhile
      }
    }
  }

  /**
   * Place files in the working dir. Names were validated by the caller; init re-checks them and follows no
   * symlink on the way. An existing file fails, unless `overwrite` (then it is replaced, not written through).
   */
  async putFiles(files: { name: string; content: Buffer; mode: number }[], options: { overwrite?: boolean } = {}): Promise<void> {
    const channel = this.ready;
    const answers = await Promise.all(files.map((f) => channel.request(encodeFile(f.name, f.content, f.mode, options.overwrite))));
    const failed = answers.findIndex((a) => a.type === FRAME.error);
    if (failed >= 0) {
      throw new Error(`could not write ${files[failed]!.name}: ${answers[failed]!.payload.toString('utf8')}`);
    }
  }

  /** Read a file from the working dir (never following a symlink), or null if it is not a regular file. */
  async getFile(name: string): Promise<{ mode: number; content: Buffer } | null> {
    const answer = await this.ready.request(encodeFrame(FRAME.get, Buffer.from(name + '\0', 'utf8')));
    return answer.type === FRAME.data ? decodeFileData(answer.payload) : null;
  }

  /** Remove a file (or an empty directory) of the working dir; null when done, else why not. */
  async deleteFile(name: string): Promise<string | null> {
    const answer = await this.ready.request(encodeUnlink(name));
    return answer.type === FRAME.data ? null : answer.payload.toString('utf8');
  }

  /** Relative paths of the regular files under the working dir (symlinks neither listed nor followed). */
  async listFiles(): Promise<string[]> {
    const answer = await this.ready.request(encodeFrame(FRAME.list));
    if (answer.type !== FRAME.data) throw new Error(`cannot list the working dir: ${answer.payload.toString('utf8')}`);
    return answer.payload.toString('utf8').split('\0').filter(Boolean);
  }

  /**
   * Start one stage; its output streams through `options.onOutput` while it runs, stdin and signals go
   * through the returned handle, and `done` resolves with the outcome. Never throws for what the program
   * did; a stage that cannot start (sandbox gone, another stage running) resolves with a sandboxError.
   */
  startStage(cmd: StageCommand, options: StageOptions = {}, keep: { sandbox?: boolean } = {}): RunningStage {
    const channel = this.channel;
    if (!channel) return endedStage('sandbox is not running');
    const stage = ++this.stages;
    const killContainer = () => void this.backend.kill(this.id, this.cgroup).catch(() => undefined);
    return startStage(
      {
        channel,
        cgroup: this.cgroup,
        shape: this.shape,
        rlimits: this.backend.stageRlimits,
        killContainer: keep.sandbox ? () => this.killStageOnly(channel, stage, killContainer) : killContainer,
      },
      cmd,
      options,
    );
  }

  /**
   * A sandbox that outlives its stages (a session): a crossed limit ends the stage, not the sandbox. SIGKILL
   * goes to the stage's process group; once its main process is gone polyrun-init kills everything else in
   * the namespace and reports the exit. A stage that dodged the signal (left its group) or blocked the
   * channel is still running after STAGE_KILL_GRACE_MS: then the container goes after all.
   */
  private killStageOnly(channel: FrameChannel, stage: number, killContainer: () => void): void {
    try {
      channel.send(encodeSignal('SIGKILL'));
    } catch {
      // the channel closed: the stage is over anyway
    }
    setTimeout(() => {
      if (this.stages === stage && channel.stageRunning) killContainer();
    }, STAGE_KILL_GRACE_MS).unref();
  }

  /** Run one stage to its end (startStage(...).done); never throws for what the program did. */
  runStage(cmd: StageCommand, signal?: AbortSignal, onOutput?: StageOptions['onOutput']): Promise<StageOutcome> {
    return this.startStage(cmd, { signal, onOutput }).done;
  }

  /** What the sandbox did on the network (profile network "egress" only); read before destroy. */
  async networkStats(): Promise<{ stats: NetworkStats; denied: string[] } | undefined> {
    if (!this.network) return undefined;
    return this.network.report();
  }

  get running(): boolean {
    return this.channel?.open ?? false;
  }

  /** Remove the container, its cgroup and what its backend keeps (an OCI bundle). Safe to call more than once. */
  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      if (this.channel && this.exited) {
        // Closing the channel makes polyrun-init exit; the runtime then removes container and cgroup.
        this.channel.end();
        let timer: NodeJS.Timeout | undefined;
        const gaveUp = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), DESTROY_GRACE_MS)));
        const stuck = await Promise.race([this.exited.then(() => false), gaveUp]);
        clearTimeout(timer);
        if (stuck) {
          await this.backend.kill(this.id, this.cgroup).catch(() => undefined);
          await this.exited;
        }
      }
      await this.backend.remove(this.id, this.cgroup).catch(() => undefined);
      await this.network?.close();
    })();
    return this.destroyed;
  }
}
