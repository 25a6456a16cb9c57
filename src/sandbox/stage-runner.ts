/**
 * One stage in one sandbox: apply the stage's limits to the cgroup, start it (polyrun-init's 'R'), feed its
 * stdin ('I', 'C'), relay signals ('S'), deliver its output as it arrives, enforce CPU time (cgroup
 * accounting, polled), wall time and the output caps by killing the container, react to an abort, and
 * report a StageOutcome. What the program does is never an exception: it is in the outcome.
 *
 * The pieces: OutputCollector (the caps and what is delivered), LimitWatchdog (timers, CPU poll, abort),
 * StageAccounting (the cgroup's limits and counters), StageInput (stdin frames, bounded backlog), and
 * StageRun, which ties them to the frame channel.
 */
import { constants as osConstants } from 'node:os';
import type { StageSignal } from '../contract/events.js';
import type { StageLimits } from '../limits/limits.js';
import type { KillReason } from '../limits/status.js';
import type { PeakMeter, SandboxCgroup } from './cgroups.js';
import type { FrameChannel, StageListener } from './channel.js';
import { FRAME, decodeExit, encodeCloseStdin, encodeRun, encodeSignal, encodeStdin, type Frame } from './protocol.js';

export const WORK_DIR = '/box';
/** RLIMIT_STACK of every stage (and the sandbox's hard limit). */
export const STACK_BYTES = 64 * 1024 * 1024;
const CPU_POLL_MS = 20;
/**
 * Bound on the stdin a running stage may have queued on the host: bytes handed to the runtime's stdin pipe
 * that polyrun-init has not read yet (it stops reading while 1 MiB waits for a program that does not read).
 * A `write()` that finds more than this queued is dropped, and so is every later one: a gap in the middle
 * of a stream would hand the program input that was never sent, so the stage's input stops at the last
 * whole write instead (endInput() still closes it) and `inputOverflowed` says so.
 */
export const STDIN_BACKLOG_MAX = 4 * 1024 * 1024;

export type OutputStream = 'stdout' | 'stderr';

export interface StageCommand {
  argv: string[];
  env: Record<string, string>;
  limits: StageLimits;
  /** Stdin sent when the stage starts. */
  stdin?: Buffer;
  /** Keep stdin open after `stdin` until endInput(); otherwise it ends right after `stdin`. */
  interactive?: boolean;
}

export interface StageOptions {
  /** Aborting kills the container; the outcome says killedFor 'aborted'. */
  signal?: AbortSignal;
  /**
   * Each chunk as it arrives, only bytes within the stream's cap, in arrival order. Called from the frame
   * decoder: it must not throw (an exception is dropped so the stage's accounting holds).
   */
  onOutput?: (stream: OutputStream, chunk: Buffer) => void;
  /**
   * Keep the output for the outcome (default true). A long-lived stage (a session's kernel) delivers its
   * output through `onOutput` only: kept, it would grow for the stage's whole life.
   */
  retainOutput?: boolean;
}

export interface RunningStage {
  /** Bytes for the program's stdin. False when dropped: the stage ended, its input ended, or overflowed. */
  write(data: Buffer): boolean;
  /** End of the program's stdin (after everything written reached it). */
  endInput(): void;
  /** A signal for the stage's process group. */
  sendSignal(signal: StageSignal): void;
  /** True once a write was dropped for the backlog bound (STDIN_BACKLOG_MAX). */
  readonly inputOverflowed: boolean;
  readonly done: Promise<StageOutcome>;
}

export interface StageOutcome {
  exitCode: number | null;
  signal: string | null;
  /** Each stream up to the cap. */
  stdout: Buffer;
  stderr: Buffer;
  /** Both streams interleaved in arrival order: exactly the chunks delivered to onOutput. */
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

/** What a stage needs of its sandbox. */
export interface StageSandbox {
  readonly channel: FrameChannel;
  readonly cgroup: SandboxCgroup;
  /** The sandbox's upper bounds: a stage's memory and pids limits never exceed them. */
  readonly shape: { memoryBytes: number; processes: number };
  /** Kill the whole container (how a crossed limit ends a stage). */
  killContainer(): void;
  /** How the backend's sandbox takes the stage limits polyrun-init sets (backend.ts: StageRlimits). */
  readonly rlimits?: { processes: boolean; cpuBackstop: boolean };
}

const SIGNAL_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(osConstants.signals).map(([name, num]) => [num, name]),
);

function readOr(read: () => number, fallback: number): number {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** Start one stage. Never throws; a stage that cannot start resolves `done` with a sandboxError. */
export function startStage(sandbox: StageSandbox, cmd: StageCommand, options: StageOptions = {}): RunningStage {
  if (!sandbox.channel.open) return endedStage('sandbox is not running');
  if (sandbox.channel.stageRunning) return endedStage('a stage is already running in this sandbox');
  let accounting: StageAccounting;
  try {
    accounting = StageAccounting.begin(sandbox.cgroup, cmd.limits, sandbox.shape);
  } catch (err) {
    return endedStage(`cannot apply the stage's limits: ${(err as Error).message}`);
  }
  return new StageRun(sandbox, cmd, options, accounting);
}

function emptyOutcome(): StageOutcome {
  return {
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
}

/** A stage that never started: `done` is already resolved with `sandboxError`. */
export function endedStage(sandboxError: string): RunningStage {
  return {
    write: () => false,
    endInput: () => undefined,
    sendSignal: () => undefined,
    inputOverflowed: false,
    done: Promise.resolve({ ...emptyOutcome(), sandboxError }),
  };
}

/** Output of one stage: keeps and delivers each stream up to the cap; nothing beyond it leaves here. */
export class OutputCollector {
  private readonly kept: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  /** Bytes received per stream, beyond the cap included. */
  private readonly received: Record<OutputStream, number> = { stdout: 0, stderr: 0 };
  private readonly both: Buffer[] = [];

  constructor(
    private readonly cap: number,
    private onOutput?: (stream: OutputStream, chunk: Buffer) => void,
    private readonly retain = true,
  ) {}

  /** Take a chunk; returns true when its stream is over the cap (the stage must be killed). */
  push(stream: OutputStream, data: Buffer): boolean {
    const room = Math.max(0, this.cap - this.received[stream]);
    this.received[stream] += data.length;
    const kept = data.length > room ? data.subarray(0, room) : data;
    if (kept.length > 0) {
      if (this.retain) {
        this.kept[stream].push(kept);
        this.both.push(kept);
      }
      this.deliver(stream, kept);
    }
    return this.received[stream] > this.cap;
  }

  private deliver(stream: OutputStream, chunk: Buffer): void {
    try {
      this.onOutput?.(stream, chunk);
    } catch {
      this.onOutput = undefined; // a listener that throws gets nothing more; the stage goes on
    }
  }

  result(): Pick<StageOutcome, 'stdout' | 'stderr' | 'output' | 'stdoutTruncated' | 'stderrTruncated'> {
    return {
      stdout: Buffer.concat(this.kept.stdout),
      stderr: Buffer.concat(this.kept.stderr),
      output: Buffer.concat(this.both),
      stdoutTruncated: this.received.stdout > this.cap,
      stderrTruncated: this.received.stderr > this.cap,
    };
  }
}

/** Calls `onLimit` when the wall time passes, the CPU time used reaches the limit, or the caller aborts. */
export class LimitWatchdog {
  private wallTimer?: NodeJS.Timeout;
  private cpuTimer?: NodeJS.Timeout;
  private readonly onAbort = () => this.onLimit('aborted');

  constructor(
    private readonly limits: Pick<StageLimits, 'cpuTimeMs' | 'wallTimeMs'>,
    /** CPU time the stage has used so far, in microseconds. */
    private readonly cpuUsedMicros: () => number,
    private readonly onLimit: (reason: KillReason) => void,
    private readonly signal?: AbortSignal,
  ) {}

  start(): void {
    this.wallTimer = setTimeout(() => this.onLimit('wall'), this.limits.wallTimeMs);
    const cpuLimitMicros = this.limits.cpuTimeMs * 1000;
    this.cpuTimer = setInterval(() => {
      if (this.cpuUsedMicros() >= cpuLimitMicros) this.onLimit('cpu');
    }, CPU_POLL_MS);
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (this.signal?.aborted) this.onAbort();
  }

  stop(): void {
    clearTimeout(this.wallTimer);
    clearInterval(this.cpuTimer);
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}

/** The stage's cgroup: its limits, and CPU, peak memory and OOM kills counted from the stage's start. */
export class StageAccounting {
  /** The runtime removes the cgroup as soon as the container dies: what was read just before a kill. */
  private beforeKill: { cpu: number; peak: number };

  private constructor(
    private readonly cgroup: SandboxCgroup,
    private readonly peak: PeakMeter,
    private readonly cpuStart: number,
    private readonly oomStart: number,
  ) {
    this.beforeKill = { cpu: cpuStart, peak: 0 };
  }

  /** Write the stage's memory and pids limits (never above the sandbox's), start the peak meter, read the start. */
  static begin(cgroup: SandboxCgroup, limits: StageLimits, shape: { memoryBytes: number; processes: number }): StageAccounting {
    cgroup.setLimits(Math.min(limits.memoryBytes, shape.memoryBytes), Math.min(limits.processes, shape.processes));
    const peak = cgroup.startPeakMeter();
    try {
      return new StageAccounting(cgroup, peak, cgroup.cpuUsageMicros(), cgroup.oomKills());
    } catch (err) {
      peak.close();
      throw err;
    }
  }

  /** On the CPU poll: the CPU time used so far, and a sample of the memory for the peak meter. */
  cpuUsedMicros(): number {
    this.peak.sample();
    return readOr(() => this.cgroup.cpuUsageMicros(), this.cpuStart) - this.cpuStart;
  }

  /** Read the counters while the cgroup still exists; call right before killing the container. */
  recordBeforeKill(): void {
    this.beforeKill = {
      cpu: readOr(() => this.cgroup.cpuUsageMicros(), this.cpuStart),
      peak: readOr(() => this.peak.read(), 0),
    };
  }

  finish(killedFor: KillReason | null, limits: StageLimits): Pick<StageOutcome, 'cpuTimeMs' | 'memoryBytes' | 'oomKilled'> {
    const cpuEnd = readOr(() => this.cgroup.cpuUsageMicros(), this.beforeKill.cpu);
    let cpuTimeMs = Math.round((cpuEnd - this.cpuStart) / 1000);
    // The poller saw the limit crossed; the final read can only be later, but never report less than the limit.
    if (killedFor === 'cpu') cpuTimeMs = Math.max(cpuTimeMs, limits.cpuTimeMs);
    const memoryBytes = readOr(() => this.peak.read(), this.beforeKill.peak);
    this.peak.close();
    return {
      cpuTimeMs,
      memoryBytes,
      oomKilled: readOr(() => this.cgroup.oomKills(), this.oomStart) > this.oomStart,
    };
  }
}

/** The stage's stdin on the host side: 'I' frames in order, then one 'C'. */
export class StageInput {
  private ended = false;
  private dropped = false;

  constructor(private readonly channel: FrameChannel) {}

  /** True once a write was dropped for the backlog bound; every later write is dropped too. */
  get overflowed(): boolean {
    return this.dropped;
  }

  /** The stage's initial stdin: always sent whole (its size is bounded by the request). */
  sendInitial(data: Buffer | undefined): void {
    if (data && data.length > 0) this.channel.send(...encodeStdin(data));
  }

  write(data: Buffer): boolean {
    if (this.ended || this.dropped || !this.channel.open) return false;
    if (this.channel.backlogBytes > STDIN_BACKLOG_MAX) {
      this.dropped = true;
      return false;
    }
    if (data.length > 0) this.channel.send(...encodeStdin(data));
    return true;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.channel.open) this.channel.send(encodeCloseStdin());
  }
}

/** A started stage: routes its frames, enforces its limits, and settles its outcome once. */
class StageRun implements RunningStage {
  readonly done: Promise<StageOutcome>;
  private readonly output: OutputCollector;
  private readonly watchdog: LimitWatchdog;
  private readonly input: StageInput;
  private readonly listener: StageListener = { frame: (f) => this.onFrame(f), closed: () => this.onClosed() };
  private readonly started = performance.now();
  private readonly result = emptyOutcome();
  private settled = false;
  private settle!: () => void;

  constructor(
    private readonly sandbox: StageSandbox,
    private readonly cmd: StageCommand,
    options: StageOptions,
    private readonly accounting: StageAccounting,
  ) {
    this.output = new OutputCollector(cmd.limits.outputBytes, options.onOutput, options.retainOutput ?? true);
    this.watchdog = new LimitWatchdog(cmd.limits, () => accounting.cpuUsedMicros(), (reason) => this.kill(reason), options.signal);
    this.input = new StageInput(sandbox.channel);
    this.done = new Promise<void>((resolve) => (this.settle = resolve)).then(() => this.outcome());
    sandbox.channel.beginStage(this.listener);
    this.watchdog.start();
    this.launch();
  }

  get inputOverflowed(): boolean {
    return this.input.overflowed;
  }

  write(data: Buffer): boolean {
    return !this.settled && this.guard(() => this.input.write(data), false);
  }

  endInput(): void {
    if (!this.settled) this.guard(() => this.input.end(), undefined);
  }

  sendSignal(signal: StageSignal): void {
    const frame = encodeSignal(signal); // throws for a name that is not a stage signal
    if (!this.settled && this.sandbox.channel.open) this.guard(() => this.sandbox.channel.send(frame), undefined);
  }

  /** 'R', the initial stdin, and 'C' unless the stage is interactive. */
  private launch(): void {
    const { cmd } = this;
    try {
      this.sandbox.channel.send(
        encodeRun({
          argv: cmd.argv,
          env: cmd.env,
          cwd: WORK_DIR,
          cpuSeconds: (this.sandbox.rlimits?.cpuBackstop ?? true) ? Math.ceil(cmd.limits.cpuTimeMs / 1000) + 1 : 0,
          openFiles: cmd.limits.openFiles,
          fileSizeBytes: cmd.limits.fileSizeBytes,
          stackBytes: STACK_BYTES,
          processes: this.sandbox.rlimits?.processes ? Math.min(cmd.limits.processes, this.sandbox.shape.processes) : 0,
        }),
      );
      this.input.sendInitial(cmd.stdin);
      if (!cmd.interactive) this.input.end();
    } catch (err) {
      this.result.sandboxError = (err as Error).message;
      this.finish();
    }
  }

  /** A send that fails because the channel closed meanwhile: the outcome reports the closing. */
  private guard<T>(action: () => T, fallback: T): T {
    try {
      return action();
    } catch {
      return fallback;
    }
  }

  private onFrame(frame: Frame): void {
    if (frame.type === FRAME.stdout || frame.type === FRAME.stderr) {
      if (this.output.push(frame.type === FRAME.stdout ? 'stdout' : 'stderr', frame.payload)) this.kill('output');
    } else if (frame.type === FRAME.exit) {
      const exit = decodeExit(frame.payload);
      this.result.exitCode = exit.exitCode;
      this.result.signal = exit.signal === null ? null : (SIGNAL_NAMES[exit.signal] ?? `SIG${exit.signal}`);
      this.finish();
    } else if (frame.type === FRAME.error) {
      this.result.sandboxError = frame.payload.toString('utf8');
      this.finish();
    }
  }

  private onClosed(): void {
    if (!this.result.killedFor) {
      const stderr = this.sandbox.channel.runtimeStderr;
      this.result.sandboxError ??= `sandbox ended unexpectedly${stderr ? `: ${stderr}` : ''}`;
    }
    this.result.signal ??= 'SIGKILL';
    this.finish();
  }

  private kill(reason: KillReason): void {
    if (this.result.killedFor || this.settled || !this.sandbox.channel.open) return;
    this.result.killedFor = reason;
    this.accounting.recordBeforeKill();
    this.sandbox.killContainer();
  }

  /** The stage is over: stop the limits and the frame routing; `done` resolves with the outcome. */
  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.result.wallTimeMs = Math.round(performance.now() - this.started);
    this.watchdog.stop();
    this.sandbox.channel.endStage(this.listener);
    this.settle();
  }

  private outcome(): StageOutcome {
    return {
      ...this.result,
      ...this.output.result(),
      ...this.accounting.finish(this.result.killedFor, this.cmd.limits),
    };
  }
}
