/**
 * Session: one sandbox that lives across calls. It runs one exec at a time (a command, or a runtime's
 * compile and run stages), and reads, writes and removes files of its working dir between execs. Stages
 * run with `keep.sandbox`: a crossed limit ends the stage, not the sandbox, so the session stays usable.
 */
import { randomUUID } from 'node:crypto';
import { errors } from '../contract/errors.js';
import type { ExecutionEvent, StageName } from '../contract/events.js';
import type { ExecutionResult, StageResult } from '../contract/result.js';
import { executionStatus } from '../limits/status.js';
import { runStageWithEvents } from '../executor/stage-events.js';
import type { StageControls } from '../executor/stage-controls.js';
import { sandboxFailureNotice } from '../executor/stage-result.js';
import type { Sandbox, StageCommand } from '../sandbox/sandbox.js';
import type { ExecutionPlan, PlannedFile } from '../runtimes/plan.js';
import { expiry, type SessionSettings, type SessionView } from './requests.js';
import { Kernel } from '../kernels/kernel.js';
import type { KernelSpec } from '../kernels/kernels.js';
import type { CellResult, KernelView } from '../kernels/contract.js';
import type { StageLimits } from '../limits/limits.js';

/** What one exec runs: a command (one stage), or a planned program (files, compile, run). */
export type SessionExec =
  | { kind: 'command'; command: StageCommand }
  | { kind: 'program'; language: string; version: string; plan: ExecutionPlan; compile: StageCommand | null; run: StageCommand };

export class Session {
  readonly id = randomUUID();
  readonly createdAt: number;
  lastUsedAt: number;
  private running: AbortController | null = null;
  private ending: Promise<void> | null = null;
  /** The live interpreter, if a cell started one; it holds the sandbox's stage slot while it lives. */
  private kernel: Kernel | null = null;
  /** Kernels of this session that died (not stopped): the next cell says it restarted. */
  private kernelDeaths = 0;

  constructor(
    readonly tenantId: string,
    readonly settings: SessionSettings,
    private readonly sandbox: Sandbox,
    now: number,
    /** Detail of a sandbox failure, for the operator's log (the tenant gets a notice with the reference). */
    private readonly onFailure: (reference: string, error: string) => void,
  ) {
    this.createdAt = now;
    this.lastUsedAt = now;
  }

  get busy(): boolean {
    return this.running !== null;
  }

  get ended(): boolean {
    return this.ending !== null || !this.sandbox.running;
  }

  touch(now: number): void {
    this.lastUsedAt = now;
  }

  view(): SessionView {
    const s = this.settings;
    return {
      id: this.id,
      createdAt: new Date(this.createdAt).toISOString(),
      lastUsedAt: new Date(this.lastUsedAt).toISOString(),
      expiresAt: new Date(expiry(this.timing())).toISOString(),
      endsAt: new Date(this.createdAt + s.lifetimeMs).toISOString(),
      idleTimeoutMs: s.idleTimeoutMs,
      maxLifetimeMs: s.lifetimeMs,
      network: s.network,
      runtimes: s.runtimes,
      limits: s.limits,
      memoryBytes: s.shape.memoryBytes,
      diskBytes: s.shape.workDirBytes,
      busy: this.busy,
      kernel: this.kernelView(),
    };
  }

  kernelView(): KernelView | null {
    return this.kernel && this.kernel.state !== 'dead' ? this.kernel.view() : null;
  }

  timing() {
    return { createdAt: this.createdAt, lastUsedAt: this.lastUsedAt, idleTimeoutMs: this.settings.idleTimeoutMs, lifetimeMs: this.settings.lifetimeMs, busy: this.busy };
  }

  /**
   * Run an exec; its events go to `onEvent` as they happen. One at a time: SESSION_BUSY otherwise. With
   * `controls` (a WebSocket), the run stage's stdin stays open for the client's stdin messages until
   * `stdin_end`, and signals reach the running stage.
   */
  async exec(
    exec: SessionExec,
    onEvent: (e: ExecutionEvent) => void = () => undefined,
    signal?: AbortSignal,
    controls?: StageControls,
  ): Promise<ExecutionResult> {
    if (this.kernel && this.kernel.state !== 'dead') throw errors.kernelRunning(this.id, this.kernel.spec.language, 'exec');
    const abort = this.claim();
    const onAbort = () => abort.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const reference = `session-${this.id}-${randomUUID().slice(0, 8)}`;
    try {
      const io = { signal: abort.signal, onEvent, reference, controls };
      const interactive = controls !== undefined;
      if (exec.kind === 'command') {
        const run = await this.stage('run', { ...exec.command, interactive }, io);
        return { language: 'command', version: '', status: executionStatus(null, run), compile: null, run };
      }
      await this.sandbox.putFiles(exec.plan.files, { overwrite: true });
      let compile: StageResult | null = null;
      if (exec.compile) {
        compile = await this.stage('compile', exec.compile, io);
        if (compile.status !== 'ok') return { language: exec.language, version: exec.version, status: executionStatus(compile, null), compile, run: null };
      }
      const run = await this.stage('run', { ...exec.run, interactive }, io);
      return { language: exec.language, version: exec.version, status: executionStatus(compile, run), compile, run };
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.release();
    }
  }

  /**
   * Run a cell in the session's kernel of that language, starting the kernel if there is none (or it
   * died). One at a time, like execs (SESSION_BUSY); a live kernel of another language is KERNEL_RUNNING.
   */
  async runCell(spec: KernelSpec, code: string, limits: StageLimits, now: number, signal?: AbortSignal): Promise<CellResult> {
    const live = this.kernel && this.kernel.state !== 'dead' ? this.kernel : null;
    if (live && live.spec.language !== spec.language) throw errors.kernelRunning(this.id, live.spec.language, spec.language);
    this.claim();
    try {
      let restarted = false;
      if (!live) {
        if (this.kernel) this.kernelDeaths += 1;
        restarted = this.kernel !== null;
        this.kernel = Kernel.start(spec, this.sandbox, this.kernelLimits(limits, now), this.kernelDeaths);
      }
      return await this.kernel!.run(code, limits, restarted, signal);
    } finally {
      this.release();
    }
  }

  /** Stop the live kernel (its state is lost); false when there was none. */
  async stopKernel(): Promise<boolean> {
    const kernel = this.kernel;
    if (!kernel || kernel.state === 'dead') return false;
    if (this.busy) throw errors.sessionBusy(this.id);
    this.kernel = null;
    await kernel.stop();
    return true;
  }

  private kernelLimits(limits: StageLimits, now: number) {
    return {
      lifetimeMs: Math.max(1, this.createdAt + this.settings.lifetimeMs - now),
      memoryBytes: this.settings.shape.memoryBytes,
      processes: this.settings.shape.processes,
      openFiles: limits.openFiles,
      fileSizeBytes: limits.fileSizeBytes,
    };
  }

  /** One stage with its events, as the runner publishes them; a limit ends the stage, not the sandbox. */
  private stage(
    stage: StageName,
    command: StageCommand,
    { signal, onEvent, reference, controls }: { signal: AbortSignal; onEvent: (e: ExecutionEvent) => void; reference: string; controls?: StageControls },
  ): Promise<StageResult> {
    return runStageWithEvents(this.sandbox, stage, command, {
      signal,
      emit: onEvent,
      keepSandbox: true,
      ...(controls ? { onRunning: (running) => controls.attach(running, stage), onEnded: () => controls.detach() } : {}),
      onSandboxFailure: (error) => {
        this.onFailure(reference, error);
        return sandboxFailureNotice(reference);
      },
    });
  }

  /** Files between execs (refused with SESSION_BUSY while an exec runs). */
  async putFile(name: string, content: Buffer, mode: number): Promise<void> {
    await this.withSandbox(() => this.sandbox.putFiles([{ name, content, mode }], { overwrite: true }));
  }

  getFile(name: string): Promise<{ mode: number; content: Buffer } | null> {
    return this.withSandbox(() => this.sandbox.getFile(name));
  }

  deleteFile(name: string): Promise<string | null> {
    return this.withSandbox(() => this.sandbox.deleteFile(name));
  }

  listFiles(): Promise<string[]> {
    return this.withSandbox(() => this.sandbox.listFiles());
  }

  private async withSandbox<T>(action: () => Promise<T>): Promise<T> {
    this.claim();
    try {
      return await action();
    } finally {
      this.release();
    }
  }

  private claim(): AbortController {
    if (this.ended) throw errors.sessionNotFound(this.id);
    if (this.running) throw errors.sessionBusy(this.id);
    this.running = new AbortController();
    return this.running;
  }

  private release(): void {
    this.running = null;
  }

  /** End the session: stop what runs, remove the sandbox. Safe to call more than once. */
  end(): Promise<void> {
    this.ending ??= (async () => {
      this.running?.abort(errors.shuttingDown());
      await this.sandbox.destroy();
    })();
    return this.ending;
  }
}

export type { PlannedFile };
