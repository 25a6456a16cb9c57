/**
 * Kernel: a live interpreter in a session's sandbox. It is one long interactive stage (its driver) whose
 * stdin carries cells and whose output carries each cell's output and, after the end markers, its reply.
 * One cell at a time. Each cell has its own limits, enforced here: wall and CPU time (the sandbox's cgroup,
 * polled) and output; a crossed limit sends SIGINT (the cell raises, the kernel lives on), and a kernel
 * that has not answered INTERRUPT_GRACE_MS later is killed. A kernel that dies is reported as dead in the
 * cell's answer; the session starts a fresh one for the next cell.
 */
import { randomBytes } from 'node:crypto';
import type { StageLimits } from '../limits/limits.js';
import { BASE_ENV } from '../runtimes/plan.js';
import type { PeakMeter } from '../sandbox/cgroups.js';
import type { RunningStage, Sandbox, StageOutcome } from '../sandbox/sandbox.js';
import { cellStatus, parseReply, type CellError, type CellResult, type Interruption, type KernelState, type KernelView } from './contract.js';
import { kernelArgv, type KernelSpec } from './kernels.js';
import { MarkerScanner } from './marker.js';

/** How long an interrupted cell has to answer before its kernel is killed. */
export const INTERRUPT_GRACE_MS = 2_000;
/** Everything a kernel may print in its life (each cell has its own, lower cap). */
const KERNEL_OUTPUT_BYTES = 1024 * 1024 * 1024;
const CPU_POLL_MS = 20;

type CellLimits = Pick<StageLimits, 'cpuTimeMs' | 'wallTimeMs' | 'outputBytes'>;

/** The kernel stage's own limits: the session's lifetime as its time, the sandbox's memory and pids. */
export interface KernelStageLimits {
  lifetimeMs: number;
  memoryBytes: number;
  processes: number;
  openFiles: number;
  fileSizeBytes: number;
}

export class Kernel {
  readonly startedAt = Date.now();
  private count = 0;
  private cell: CellRun | null = null;
  private outcome: StageOutcome | null = null;
  private readonly stage: RunningStage;

  private constructor(
    readonly spec: KernelSpec,
    private readonly sandbox: Sandbox,
    limits: KernelStageLimits,
    readonly restarts: number,
  ) {
    this.stage = sandbox.startStage(
      {
        argv: kernelArgv(spec),
        env: { ...BASE_ENV },
        interactive: true,
        limits: {
          cpuTimeMs: limits.lifetimeMs,
          wallTimeMs: limits.lifetimeMs,
          memoryBytes: limits.memoryBytes,
          processes: limits.processes,
          openFiles: limits.openFiles,
          fileSizeBytes: limits.fileSizeBytes,
          outputBytes: KERNEL_OUTPUT_BYTES,
        },
      },
      { onOutput: (stream, chunk) => this.cell?.output(stream, chunk), retainOutput: false },
      { sandbox: true },
    );
    void this.stage.done.then((outcome) => {
      this.outcome = outcome;
      this.cell?.kernelDied(outcome);
    });
  }

  /** Start the kernel's driver in `sandbox` (whose stage slot it holds until it dies or is stopped). */
  static start(spec: KernelSpec, sandbox: Sandbox, limits: KernelStageLimits, restarts = 0): Kernel {
    return new Kernel(spec, sandbox, limits, restarts);
  }

  get state(): KernelState {
    if (this.outcome) return 'dead';
    return this.cell ? 'busy' : 'idle';
  }

  view(): KernelView {
    return {
      language: this.spec.language,
      state: this.state,
      executionCount: this.count,
      startedAt: new Date(this.startedAt).toISOString(),
      restarts: this.restarts,
    };
  }

  /** Run one cell; never throws for what the code did. `restarted` goes into the answer as is. */
  async run(code: string, limits: CellLimits, restarted: boolean, signal?: AbortSignal): Promise<CellResult> {
    if (this.cell) throw new Error('a cell is already running in this kernel');
    this.count += 1;
    const cell = new CellRun(this, limits, this.count, restarted, signal);
    this.cell = cell;
    try {
      if (this.outcome) cell.kernelDied(this.outcome);
      else if (!this.stage.write(Buffer.from(JSON.stringify({ id: cell.id, code }) + '\n', 'utf8'))) {
        cell.kernelDied(this.outcome ?? (await this.stop()));
      }
      return await cell.result;
    } finally {
      this.cell = null;
    }
  }

  /** End the kernel process (SIGKILL to its process group); resolves when its stage has ended. */
  stop(): Promise<StageOutcome> {
    this.stage.sendSignal('SIGKILL');
    return this.stage.done;
  }

  /** For the running cell: the sandbox's counters and the kernel's signals. */
  get counters() {
    const cgroup = this.sandbox.cgroup;
    return {
      cpuMicros: () => read(() => cgroup.cpuUsageMicros()),
      /** The cell's peak memory meter (cgroups.ts startPeakMeter); a dead cgroup's meter reads 0. */
      peakMeter: (): PeakMeter => {
        try {
          return cgroup.startPeakMeter();
        } catch {
          return { sample: () => undefined, read: () => 0, close: () => undefined };
        }
      },
      oomKills: () => read(() => cgroup.oomKills()),
    };
  }

  interrupt(): void {
    this.stage.sendSignal('SIGINT');
  }

  kill(): void {
    this.stage.sendSignal('SIGKILL');
  }
}

function read(f: () => number): number {
  try {
    return f();
  } catch {
    return 0;
  }
}

/** One cell: its output, its limits, its end (the driver's reply, or the kernel's death). */
class CellRun {
  readonly id = randomBytes(16).toString('hex');
  readonly result: Promise<CellResult>;
  private settle!: (r: CellResult) => void;
  private readonly scanners = { stdout: new MarkerScanner(this.id), stderr: new MarkerScanner(this.id) };
  private readonly kept = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  private readonly received = { stdout: 0, stderr: 0 };
  private readonly started = performance.now();
  private readonly cpuStart: number;
  private readonly oomStart: number;
  private readonly peak: PeakMeter;
  private interrupted: Interruption = null;
  private timers: NodeJS.Timeout[] = [];
  private done = false;
  private readonly onAbort = () => this.interrupt('aborted');

  constructor(
    private readonly kernel: Kernel,
    private readonly limits: CellLimits,
    private readonly count: number,
    private readonly restarted: boolean,
    private readonly signal?: AbortSignal,
  ) {
    this.result = new Promise((resolve) => (this.settle = resolve));
    const c = kernel.counters;
    this.peak = c.peakMeter();
    this.cpuStart = c.cpuMicros();
    this.oomStart = c.oomKills();
    this.timers.push(setTimeout(() => this.interrupt('time'), limits.wallTimeMs));
    this.timers.push(
      setInterval(() => {
        this.peak.sample();
        if (c.cpuMicros() - this.cpuStart >= limits.cpuTimeMs * 1000) this.interrupt('time');
      }, CPU_POLL_MS),
    );
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  output(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const mine = this.scanners[stream].push(chunk);
    if (mine.length > 0) {
      const room = Math.max(0, this.limits.outputBytes - this.received[stream]);
      this.received[stream] += mine.length;
      if (room > 0) this.kept[stream].push(mine.subarray(0, room));
      if (this.received[stream] > this.limits.outputBytes) this.interrupt('output');
    }
    if (this.scanners.stdout.complete && this.scanners.stderr.complete) this.replied(this.scanners.stdout.reply ?? '');
  }

  /** A limit was crossed: SIGINT now, SIGKILL to the kernel if it has not answered within the grace. */
  private interrupt(reason: Exclude<Interruption, null>): void {
    if (this.interrupted || this.done) return;
    this.interrupted = reason;
    this.kernel.interrupt();
    this.timers.push(setTimeout(() => this.kernel.kill(), INTERRUPT_GRACE_MS));
  }

  private replied(line: string): void {
    const reply = parseReply(line);
    if (!reply) {
      this.kernel.kill(); // a driver that answers garbage is broken: the next cell gets a fresh one
      return;
    }
    // An interrupt that arrived after the code had finished changed nothing.
    const interrupted = reply.error ? this.interrupted : null;
    this.finish(cellStatus({ interrupted, kernelDied: false, oomKilled: this.oomKilled(), raised: reply.error !== null }), reply.value, reply.error, 'idle');
  }

  kernelDied(outcome: StageOutcome): void {
    const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.exitCode}`;
    const oomKilled = outcome.oomKilled || this.oomKilled();
    const message =
      outcome.sandboxError && !this.interrupted ? `the kernel failed: ${outcome.sandboxError}` : `the kernel process ${how}${oomKilled ? ' (out of memory)' : ''}`;
    const error: CellError = { name: 'KernelDied', message: `${message}; the next cell starts a new kernel`, traceback: '' };
    this.finish(cellStatus({ interrupted: this.interrupted, kernelDied: true, oomKilled, raised: false }), null, error, 'dead');
  }

  private oomKilled(): boolean {
    return this.kernel.counters.oomKills() > this.oomStart;
  }

  private finish(status: CellResult['status'], value: string | null, error: CellError | null, state: KernelState): void {
    if (this.done) return;
    this.done = true;
    for (const t of this.timers) clearTimeout(t);
    this.signal?.removeEventListener('abort', this.onAbort);
    const c = this.kernel.counters;
    const memoryBytes = read(() => this.peak.read());
    this.peak.close();
    this.settle({
      status,
      language: this.kernel.spec.language,
      executionCount: this.count,
      stdout: Buffer.concat(this.kept.stdout).toString('utf8'),
      stderr: Buffer.concat(this.kept.stderr).toString('utf8'),
      stdoutTruncated: this.received.stdout > this.limits.outputBytes,
      stderrTruncated: this.received.stderr > this.limits.outputBytes,
      value,
      error,
      cpuTimeMs: Math.max(0, Math.round((c.cpuMicros() - this.cpuStart) / 1000)),
      wallTimeMs: Math.round(performance.now() - this.started),
      memoryBytes,
      kernel: { state, restarted: this.restarted },
    });
  }
}
