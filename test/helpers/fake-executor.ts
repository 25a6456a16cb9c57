/**
 * A fake Executor for tests of the HTTP stages (auth, rate limit, quota, validation, queue): no sandbox.
 * The "program" is driven by the first file's content:
 *   "print:TEXT"   stdout TEXT, status ok
 *   "hold"         does not finish until release() (or the abort signal) - for queue and shutdown tests
 *   "signal:SIG"   killed by SIG (runtime_error)
 *   "cpu:MS"       ok, with cpuTimeMs = MS
 * Anything else echoes the content to stdout.
 */
import type { ExecutionRequest } from '../../src/contract/request.js';
import type { ExecutionResult, StageResult } from '../../src/contract/result.js';
import type { ExecuteOptions, Executor, RuntimeInfo } from '../../src/executor/types.js';
import { DEFAULT_LIMITS, MAX_LIMITS } from '../../src/limits/limits.js';

function runtime(name: string, version: string, aliases: string[], compiled = false): RuntimeInfo {
  return { name, version, aliases, extensions: [], compiled, limits: { defaults: DEFAULT_LIMITS, maximum: MAX_LIMITS } };
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
  readonly calls: { request: ExecutionRequest; options: ExecuteOptions }[] = [];
  closed = false;
  private held: (() => void)[] = [];
  private heldListeners: (() => void)[] = [];
  private readonly list: RuntimeInfo[];

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

  runtimes(): RuntimeInfo[] {
    return this.list;
  }

  findRuntime(language: string, version?: string): RuntimeInfo | undefined {
    const l = language.toLowerCase();
    return this.list.find(
      (r) => (r.name === l || r.aliases.includes(l)) && (!version || version === '*' || r.version.startsWith(version.replace(/\.?x$/, ''))),
    );
  }

  async execute(request: ExecutionRequest, options: ExecuteOptions = {}): Promise<ExecutionResult> {
    this.calls.push({ request, options });
    options.onStart?.();
    const source = request.files[0]?.content.toString('utf8') ?? '';
    const base = { language: request.language, version: request.version ?? '0', compile: null };
    if (source === 'hold') {
      const aborted = await new Promise<boolean>((resolve) => {
        if (options.signal?.aborted) return resolve(true);
        options.signal?.addEventListener('abort', () => resolve(true), { once: true });
        this.held.push(() => resolve(false));
        for (const l of [...this.heldListeners]) l();
      });
      if (aborted) return { ...base, status: 'internal_error', run: stage({ status: 'internal_error', exitCode: null, stderr: 'cancelled' }) };
      return { ...base, status: 'ok', run: stage({ stdout: 'released\n', output: 'released\n' }) };
    }
    if (source.startsWith('print:')) {
      const text = source.slice(6);
      return { ...base, status: 'ok', run: stage({ stdout: text, output: text }) };
    }
    if (source.startsWith('signal:')) {
      return { ...base, status: 'runtime_error', run: stage({ status: 'runtime_error', exitCode: null, signal: source.slice(7) }) };
    }
    if (source.startsWith('cpu:')) {
      return { ...base, status: 'ok', run: stage({ cpuTimeMs: Number(source.slice(4)) }) };
    }
    return { ...base, status: 'ok', run: stage({ stdout: source, output: source }) };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.releaseAll();
  }
}
