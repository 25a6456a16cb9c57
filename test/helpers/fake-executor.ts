/**
 * A fake Executor for tests of the HTTP stages (auth, rate limit, quota, validation, queue): no sandbox.
 * It runs jobs like a worker would; the "program" is driven by the first file's content:
 *   "print:TEXT"   stdout TEXT (also as a stdout event), status ok
 *   "hold"         does not finish until release() (or the job is cancelled) - for queue and shutdown tests
 *   "signal:SIG"   killed by SIG (runtime_error)
 *   "cpu:MS"       ok, with cpuTimeMs = MS
 * Anything else echoes the content to stdout.
 * `health()` is ready unless a test calls `setHealth(false, ...)`.
 */
import type { ExecutionJob } from '../../src/contract/job.js';
import type { ExecutionResult, StageResult } from '../../src/contract/result.js';
import type { Executor, ExecutorHealth, RuntimeInfo } from '../../src/executor/types.js';
import { DEFAULT_LIMITS, MAX_LIMITS } from '../../src/limits/limits.js';
import type { JobContext } from '../../src/queue/types.js';
import { versionMatches } from '../../src/runtimes/catalogue.js';

function runtime(name: string, version: string, aliases: string[], compiled = false): RuntimeInfo {
  return { name, language: name, version, aliases, extensions: [], compiled, limits: { defaults: DEFAULT_LIMITS, maximum: MAX_LIMITS } };
}

export function stage(partial: Partial<StageResult> = {}): StageResult {
  return {
    status: 'ok',
    exitCode: 0,
    signal: null,
    stdout: '',
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    cpuTimeMs: 5,
    wallTimeMs: 10,
    memoryBytes: 1024 * 1024,
    ...partial,
  };
}

export class FakeExecutor implements Executor {
  /** Every job run, with the context's abort signal. */
  readonly calls: { job: ExecutionJob; signal: AbortSignal }[] = [];
  closed = false;
  private held: (() => void)[] = [];
  private heldListeners: (() => void)[] = [];
  private readonly list: RuntimeInfo[];
  private healthState: ExecutorHealth = { ready: true, detail: 'sandboxes start' };

  constructor(runtimes?: RuntimeInfo[]) {
    this.list = runtimes ?? [runtime('python', '3.11.2', ['py', 'python3']), runtime('bash', '5.2.15', ['sh']), runtime('c', '12.2.0', ['gcc'], true)];
  }

  /** Executions currently blocked on "hold". */
  get holding(): number {
    return this.held.length;
  }

  /** Resolves once `n` executions are holding. */
  waitHolding(n: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.held.length >= n) {
          this.heldListeners = this.heldListeners.filter((l) => l !== check);
          resolve();
        }
      };
      this.heldListeners.push(check);
      check();
    });
  }

  releaseAll(): void {
    const held = this.held;
    this.held = [];
    for (const r of held) r();
  }

  health(): ExecutorHealth {
    return { ...this.healthState };
  }

  /** What `health()` answers from now on (e.g. not ready: sandboxes do not start). */
  setHealth(ready: boolean, detail?: string): void {
    this.healthState = { ready, detail: detail ?? (ready ? 'sandboxes start' : 'sandboxes do not start (reference test)') };
  }

  runtimes(): RuntimeInfo[] {
    return this.list;
  }

  findRuntime(language: string, version?: string): RuntimeInfo | undefined {
    const l = language.toLowerCase();
    return this.list.find((r) => (r.name === l || r.aliases.includes(l)) && versionMatches(r.version, version));
  }

  async run(job: ExecutionJob, context: JobContext): Promise<ExecutionResult> {
    this.calls.push({ job, signal: context.signal });
    const source = Buffer.from(job.files[0]?.content ?? '', 'base64').toString('utf8');
    const base = { language: job.runtime.name, version: job.runtime.version, compile: null };
    const stdout = (text: string): ExecutionResult => {
      context.emit({ type: 'stage', stage: 'run' });
      context.emit({ type: 'stdout', stage: 'run', data: text });
      const run = stage({ stdout: text, output: text });
      context.emit({ type: 'exit', stage: 'run', result: run });
      return { ...base, status: 'ok', run };
    };
    if (source === 'hold') {
      const { signal } = context;
      const aborted = await new Promise<boolean>((resolve) => {
        if (signal.aborted) return resolve(true);
        signal.addEventListener('abort', () => resolve(true), { once: true });
        this.held.push(() => resolve(false));
        for (const l of [...this.heldListeners]) l();
      });
      if (aborted) return { ...base, status: 'internal_error', run: stage({ status: 'internal_error', exitCode: null, stderr: 'cancelled' }) };
      return stdout('released\n');
    }
    if (source.startsWith('print:')) return stdout(source.slice(6));
    if (source.startsWith('signal:')) {
      return { ...base, status: 'runtime_error', run: stage({ status: 'runtime_error', exitCode: null, signal: source.slice(7) }) };
    }
    if (source.startsWith('cpu:')) return { ...base, status: 'ok', run: stage({ cpuTimeMs: Number(source.slice(4)) }) };
    return stdout(source);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.releaseAll();
  }
}
