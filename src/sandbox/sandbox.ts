/**
 * Sandbox: one OCI container, used for exactly one execution and then destroyed.
 *
 * Life: `Sandbox.start` writes the bundle and starts the container (its first process is polyrun-init,
 * which says hello and waits). The caller then hands over files and runs stages; each stage's limits are
 * applied to the cgroup and to the stage's rlimits before it starts, CPU time is enforced from the
 * cgroup's accounting, wall time and output caps by the host. `destroy` removes the container, its cgroup
 * and its bundle, whatever state it is in.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants as osConstants, setPriority } from 'node:os';
import type { StageLimits } from '../limits/limits.js';
import type { KillReason } from '../limits/status.js';
import { SandboxCgroup } from './cgroups.js';
import type { SandboxHost } from './host.js';
import type { SandboxProcess } from './oci.js';
import { buildSpec } from './specconv.js';
import {
  FRAME,
  FrameDecoder,
  decodeExit,
  decodeFileData,
  encodeFile,
  encodeFrame,
  encodeRun,
  type Frame,
} from './protocol.js';

export interface SandboxShape {
  /** Upper bounds for every stage of this sandbox. */
  memoryBytes: number;
  processes: number;
  openFiles: number;
  fileSizeBytes: number;
  workDirBytes: number;
  tmpBytes: number;
}

export interface StageCommand {
  argv: string[];
  env: Record<string, string>;
  limits: StageLimits;
  stdin?: Buffer;
}

export interface StageOutcome {
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
  output: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  cpuTimeMs: number;
  wallTimeMs: number;
  memoryBytes: number;
  killedFor: KillReason | null;
  oomKilled: boolean;
  sandboxError: string | null;
}

export const WORK_DIR = '/box';
const INIT_PATH = '/.polyrun/init';
const STACK_BYTES = 64 * 1024 * 1024;
const HELLO_TIMEOUT_MS = 15_000;
const CPU_POLL_MS = 20;
const DESTROY_GRACE_MS = 2_000;
const FOREGROUND_CPU_SHARES = 1024;
const BACKGROUND_CPU_SHARES = 2;
const BACKGROUND_NICENESS = 10;

const SIGNAL_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(osConstants.signals).map(([name, num]) => [num, name]),
);

let sequence = 0;

function readOr(read: () => number, fallback: number): number {
  try {
    return read();
  } catch {
    return fallback;
  }
}

type Waiter = { resolve: (f: Frame) => void; reject: (e: Error) => void };

export class Sandbox {
  readonly id: string;
  private readonly bundle: string;
  readonly cgroup: SandboxCgroup;
  private proc?: SandboxProcess;
  private readonly decoder = new FrameDecoder();
  private readonly replies: Waiter[] = [];
  private stageHandler?: (f: Frame) => void;
  private closedHandler?: () => void;
  private helloWaiter?: Waiter;
  private runtimeStderr = '';
  private alive = false;
  private destroyed?: Promise<void>;
  private exited?: Promise<void>;

  private constructor(
    private readonly host: SandboxHost,
    readonly shape: SandboxShape,
  ) {
    this.id = `${host.instanceId}-${(sequence++).toString(36)}`;
    this.bundle = join(host.bundlesDir, this.id);
    this.cgroup = new SandboxCgroup(host.layout, join(host.cgroupParent, this.id));
  }

  /**
   * Start a sandbox: write the bundle, start the container, wait for polyrun-init's hello.
   * `background`: started ahead of time for the warm pool. The runtime then runs at a low CPU priority and
   * the sandbox's cgroup gets the smallest CPU share until `promote()`, so preparing sandboxes never takes
   * CPU from programs that are running.
   */
  static async start(host: SandboxHost, shape: SandboxShape, options: { background?: boolean } = {}): Promise<Sandbox> {
    const sandbox = new Sandbox(host, shape);
    try {
      await sandbox.boot(options.background ?? false);
      return sandbox;
    } catch (err) {
      await sandbox.destroy();
      throw err;
    }
  }

  private async boot(background: boolean): Promise<void> {
    const spec = buildSpec({
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
      seccomp: this.host.seccomp,
    });
    await mkdir(this.bundle, { recursive: true, mode: 0o700 });
    await writeFile(join(this.bundle, 'config.json'), JSON.stringify(spec));

    const hello = new Promise<Frame>((resolve, reject) => (this.helloWaiter = { resolve, reject }));
    const proc = this.host.runtime.run(this.id, this.bundle, { niceness: background ? BACKGROUND_NICENESS : 0 });
    this.proc = proc;
    this.alive = true;
    proc.stdin.on('error', () => undefined); // EPIPE once the container is gone: the stdout side reports it
    proc.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    proc.stdout.on('close', () => this.onClosed());
    proc.stderr.on('data', (chunk: Buffer) => {
      if (this.runtimeStderr.length < 8192) this.runtimeStderr += chunk.toString('utf8');
    });
    this.exited = new Promise<void>((resolve) => proc.on('close', () => resolve()));
    const failed = new Promise<never>((_, reject) => {
      proc.on('error', reject);
      proc.on('exit', (code) =>
        reject(new Error(`${this.host.runtime.binary} could not start the sandbox (exit ${code}): ${this.runtimeStderr.trim()}`)),
      );
    });
    failed.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('sandbox did not become ready in time')), HELLO_TIMEOUT_MS);
    });
    try {
      await Promise.race([hello, failed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private onData(chunk: Buffer): void {
    for (const frame of this.decoder.push(chunk)) {
      if (frame.type === FRAME.hello && this.helloWaiter) {
        this.helloWaiter.resolve(frame);
        this.helloWaiter = undefined;
      } else if (frame.type === FRAME.data || (frame.type === FRAME.error && this.replies.length > 0)) {
        this.replies.shift()?.resolve(frame);
      } else {
        // Output, exit, and an error about the stage command itself.
        this.stageHandler?.(frame);
      }
    }
  }

  private onClosed(): void {
    this.alive = false;
    const err = new Error(`sandbox channel closed${this.runtimeStderr ? `: ${this.runtimeStderr.trim()}` : ''}`);
    this.helloWaiter?.reject(err);
    for (const w of this.replies.splice(0)) w.reject(err);
    this.closedHandler?.();
  }

  private send(buf: Buffer): void {
    if (!this.alive || !this.proc) throw new Error('sandbox is not running');
    this.proc.stdin.write(buf);
  }

  private request(buf: Buffer): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      this.replies.push({ resolve, reject });
      try {
        this.send(buf);
      } catch (err) {
        this.replies.pop();
        reject(err as Error);
      }
    });
  }

  /** A pooled sandbox taken for an execution: normal CPU share for its cgroup, normal priority for init. */
  promote(): void {
    this.cgroup.setCpuShares(FOREGROUND_CPU_SHARES);
    for (const pid of this.cgroup.processes()) setPriority(pid, 0);
  }

  /** Place files in the working dir. Names were validated by the caller; init re-checks them. */
  async putFiles(files: { name: string; content: Buffer; mode: number }[]): Promise<void> {
    const answers = await Promise.all(files.map((f) => this.request(encodeFile(f.name, f.content, f.mode))));
    const failed = answers.findIndex((a) => a.type === FRAME.error);
    if (failed >= 0) {
      throw new Error(`could not write ${files[failed]!.name}: ${answers[failed]!.payload.toString('utf8')}`);
    }
  }

  /** Read a file from the working dir (never following a symlink), or null if it is not a regular file. */
  async getFile(name: string): Promise<{ mode: number; content: Buffer } | null> {
    const answer = await this.request(encodeFrame(FRAME.get, Buffer.from(name + '\0', 'utf8')));
    return answer.type === FRAME.data ? decodeFileData(answer.payload) : null;
  }

  /** Names of the regular files directly in the working dir. */
  async listFiles(): Promise<string[]> {
    const answer = await this.request(encodeFrame(FRAME.list));
    if (answer.type !== FRAME.data) throw new Error(`cannot list the working dir: ${answer.payload.toString('utf8')}`);
    return answer.payload.toString('utf8').split('\0').filter(Boolean);
  }

  /** Run one stage to its end and report what happened; never throws for what the program did. */
  async runStage(cmd: StageCommand, signal?: AbortSignal): Promise<StageOutcome> {
    const limits = cmd.limits;
    const outcome: StageOutcome = {
      exitCode: null,
      signal: null,
      stdout: Buffer.alloc(0),
      stderr: Buffer.alloc(0),
      output: Buffer.alloc(0),
      stdoutTruncated: false,
      stderrTruncated: false,
      cpuTimeMs: 0,
      wallTimeMs: 0,
      memoryBytes: 0,
      killedFor: null,
      oomKilled: false,
      sandboxError: null,
    };
    if (!this.alive) return { ...outcome, sandboxError: 'sandbox is not running' };

    let cpuStart: number;
    let oomStart: number;
    try {
      this.cgroup.setLimits(Math.min(limits.memoryBytes, this.shape.memoryBytes), Math.min(limits.processes, this.shape.processes));
      this.cgroup.resetPeakMemory();
      cpuStart = this.cgroup.cpuUsageMicros();
      oomStart = this.cgroup.oomKills();
    } catch (err) {
      return { ...outcome, sandboxError: `cannot apply the stage's limits: ${(err as Error).message}` };
    }

    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const both: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let bothBytes = 0;
    const cap = limits.outputBytes;

    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    // The runtime removes the cgroup as soon as the container dies, so read the accounting before a kill.
    let beforeKill: [number, number] = [cpuStart, 0];
    const kill = (reason: KillReason) => {
      if (outcome.killedFor || !this.alive) return;
      outcome.killedFor = reason;
      beforeKill = [readOr(() => this.cgroup.cpuUsageMicros(), cpuStart), readOr(() => this.cgroup.peakMemoryBytes(), 0)];
      this.host.runtime.kill(this.id).catch(() => undefined);
    };
    const keep = (chunks: Buffer[], used: number, data: Buffer): number => {
      const room = Math.max(0, cap - used);
      if (room > 0) chunks.push(data.length > room ? data.subarray(0, room) : data);
      if (bothBytes < 2 * cap) {
        const slice = data.subarray(0, 2 * cap - bothBytes);
        both.push(slice);
        bothBytes += slice.length;
      }
      return used + data.length;
    };
    this.stageHandler = (frame) => {
      if (frame.type === FRAME.stdout) {
        outBytes = keep(out, outBytes, frame.payload);
        if (outBytes > cap) {
          outcome.stdoutTruncated = true;
          kill('output');
        }
      } else if (frame.type === FRAME.stderr) {
        errBytes = keep(err, errBytes, frame.payload);
        if (errBytes > cap) {
          outcome.stderrTruncated = true;
          kill('output');
        }
      } else if (frame.type === FRAME.exit) {
        const exit = decodeExit(frame.payload);
        outcome.exitCode = exit.exitCode;
        outcome.signal = exit.signal === null ? null : (SIGNAL_NAMES[exit.signal] ?? `SIG${exit.signal}`);
        finish();
      } else if (frame.type === FRAME.error) {
        outcome.sandboxError = frame.payload.toString('utf8');
        finish();
      }
    };
    this.closedHandler = () => {
      if (!outcome.killedFor) outcome.sandboxError ??= `sandbox ended unexpectedly${this.runtimeStderr ? `: ${this.runtimeStderr.trim()}` : ''}`;
      outcome.signal ??= 'SIGKILL';
      finish();
    };

    const started = performance.now();
    const wallTimer = setTimeout(() => kill('wall'), limits.wallTimeMs);
    const cpuLimitMicros = limits.cpuTimeMs * 1000;
    const cpuTimer = setInterval(() => {
      if (readOr(() => this.cgroup.cpuUsageMicros(), cpuStart) - cpuStart >= cpuLimitMicros) kill('cpu');
    }, CPU_POLL_MS);
    const onAbort = () => kill('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();

    try {
      if (cmd.stdin && cmd.stdin.length > 0) this.send(encodeFrame(FRAME.stdin, cmd.stdin));
      this.send(
        encodeRun({
          argv: cmd.argv,
          env: cmd.env,
          cwd: WORK_DIR,
          cpuSeconds: Math.ceil(limits.cpuTimeMs / 1000) + 1,
          openFiles: limits.openFiles,
          fileSizeBytes: limits.fileSizeBytes,
          stackBytes: STACK_BYTES,
        }),
      );
    } catch (e) {
      outcome.sandboxError = (e as Error).message;
      finish();
    }
    await done;
    outcome.wallTimeMs = Math.round(performance.now() - started);
    clearTimeout(wallTimer);
    clearInterval(cpuTimer);
    signal?.removeEventListener('abort', onAbort);
    this.stageHandler = undefined;
    this.closedHandler = undefined;

    // A killed container's cgroup may already be gone: fall back to what was read just before the kill.
    const cpuEnd = readOr(() => this.cgroup.cpuUsageMicros(), beforeKill[0]);
    const peak = readOr(() => this.cgroup.peakMemoryBytes(), beforeKill[1]);
    const oomEnd = readOr(() => this.cgroup.oomKills(), oomStart);
    outcome.cpuTimeMs = Math.round((cpuEnd - cpuStart) / 1000);
    // The poller saw the limit crossed; the final read can only be later, but never report less than the limit.
    if (outcome.killedFor === 'cpu') outcome.cpuTimeMs = Math.max(outcome.cpuTimeMs, limits.cpuTimeMs);
    outcome.memoryBytes = peak;
    outcome.oomKilled = oomEnd > oomStart;
    outcome.stdout = Buffer.concat(out);
    outcome.stderr = Buffer.concat(err);
    outcome.output = Buffer.concat(both);
    return outcome;
  }

  get running(): boolean {
    return this.alive;
  }

  /** Remove the container, its cgroup and its bundle. Safe to call more than once. */
  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      if (this.proc && this.exited) {
        // Closing the channel makes polyrun-init exit; the runtime then removes container and cgroup.
        this.proc.stdin.end();
        let timer: NodeJS.Timeout | undefined;
        const gaveUp = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), DESTROY_GRACE_MS)));
        const stuck = await Promise.race([this.exited.then(() => false), gaveUp]);
        clearTimeout(timer);
        if (stuck) {
          await this.host.runtime.kill(this.id).catch(() => undefined);
          await this.exited;
        }
      }
      // A foreground `run` removes its container when the container ends; a second runtime invocation
      // (~5 ms of CPU) is only needed when that did not happen (start failed half-way, runtime killed).
      if (this.host.runtime.hasState(this.id)) await this.host.runtime.delete(this.id).catch(() => undefined);
      await rm(this.bundle, { recursive: true, force: true });
    })();
    return this.destroyed;
  }
}
