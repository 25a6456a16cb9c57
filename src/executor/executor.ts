/**
 * The executor: request -> validated plan -> sandbox stages -> result contract.
 *
 * It owns one SandboxHost (the OCI runtime, the prepared root, the cgroup layout), the detected runtimes,
 * and the sandbox source (cold start per execution, or the warm pool when enabled). Sandboxes are destroyed
 * after every execution, off the caller's path; `settle()` waits for those removals (tests use it to check
 * the host is clean) and `close()` waits and removes everything the instance made.
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { CompileCache, compileKey } from '../cache/compile-cache.js';
import { PolyrunError } from '../contract/errors.js';
import type { ExecutionRequest } from '../contract/request.js';
import type { ExecutionResult, StageResult } from '../contract/result.js';
import {
  DEFAULT_BOUNDS,
  DEFAULT_LIMITS,
  MAX_LIMITS,
  describeViolation,
  overlay,
  resolveLimits,
  type LimitTable,
  type RequestBounds,
  type StageLimits,
} from '../limits/limits.js';
import { executionStatus, stageStatus } from '../limits/status.js';
import { detectRuntimes, type AvailableRuntime, type UnavailableRuntime } from '../runtimes/detect.js';
import type { RuntimeManifest } from '../runtimes/manifest.js';
import { matchOutputs, planExecution, type ExecutionPlan } from '../runtimes/plan.js';
import { findManifest, loadManifests } from '../runtimes/registry.js';
import { projectPath } from '../project.js';
import { DEFAULT_HOST_CONFIG, SandboxHost, type SandboxHostConfig } from '../sandbox/host.js';
import { DEFAULT_POOL_OPTIONS, SandboxPool, type PoolOptions } from '../sandbox/pool.js';
import { Sandbox, type SandboxShape, type StageOutcome } from '../sandbox/sandbox.js';
import type { ExecuteOptions, Executor, RuntimeInfo } from './types.js';
import { validateRequestShape } from './validate.js';


export interface ExecutorOptions {
  /** Sandbox state (runtime state, bundles, prepared root). Default /run/polyrun. */
  stateDir?: string;
  /** Persistent data (runtime detection cache, compile cache). Default ./data. */
  dataDir?: string;
  ociRuntime?: string;
  initBinary?: string;
  manifestsDir?: string;
  /** Only consider these runtimes (names); default all manifests. */
  languages?: string[];
  bounds?: Partial<RequestBounds>;
  defaults?: LimitTable;
  maxLimits?: LimitTable;
  network?: boolean;
  /** Skip the self-test cache (always re-run self-tests). */
  freshDetection?: boolean;
  /** Warm pool of pre-started sandboxes; false (default) starts a sandbox per execution. */
  pool?: Partial<PoolOptions> | boolean;
  /** Execution slots the caller runs at once (the queue's concurrency); the pool refills only below it. */
  slots?: number;
  /** Compile cache in <dataDir>/compile-cache; false disables it. */
  compileCache?: { maxBytes: number } | false;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

interface LoadedRuntime {
  manifest: RuntimeManifest;
  info: RuntimeInfo;
}

export class SandboxExecutor implements Executor {
  private loaded: LoadedRuntime[] = [];
  unavailable: UnavailableRuntime[] = [];
  private readonly pendingCleanups = new Set<Promise<void>>();
  private closed = false;
  private active = 0;
  pool?: SandboxPool;
  compileCache?: CompileCache;

  private constructor(
    readonly host: SandboxHost,
    private readonly manifests: RuntimeManifest[],
    private readonly bounds: RequestBounds,
    private readonly defaults: LimitTable,
    readonly maxLimits: LimitTable,
    private readonly log: NonNullable<ExecutorOptions['log']>,
  ) {}

  static async create(opts: ExecutorOptions = {}): Promise<SandboxExecutor> {
    const all = await loadManifests(opts.manifestsDir);
    const manifests = opts.languages ? all.filter((m) => opts.languages!.includes(m.name)) : all;
    const hostConfig: SandboxHostConfig = {
      ...DEFAULT_HOST_CONFIG,
      stateDir: opts.stateDir ?? process.env.POLYRUN_STATE_DIR ?? DEFAULT_HOST_CONFIG.stateDir,
      ociRuntime: opts.ociRuntime ?? process.env.POLYRUN_OCI_RUNTIME ?? DEFAULT_HOST_CONFIG.ociRuntime,
      initBinary: opts.initBinary ?? projectPath('build', 'polyrun-init'),
      network: opts.network ?? false,
      mounts: [...new Set(manifests.flatMap((m) => m.mounts ?? []))],
    };
    const host = await SandboxHost.create(hostConfig);
    const executor = new SandboxExecutor(
      host,
      manifests,
      { ...DEFAULT_BOUNDS, ...opts.bounds },
      opts.defaults ?? DEFAULT_LIMITS,
      opts.maxLimits ?? MAX_LIMITS,
      opts.log ?? (() => undefined),
    );
    const dataDir = opts.dataDir ?? process.env.POLYRUN_DATA_DIR ?? 'data';
    await executor.detect(opts.freshDetection ? undefined : join(dataDir, 'runtimes-cache.json'));
    if (opts.compileCache !== false) {
      const maxBytes = opts.compileCache?.maxBytes ?? 256 * 1024 * 1024;
      executor.compileCache = await CompileCache.open(join(dataDir, 'compile-cache'), maxBytes);
    }
    if (opts.pool) {
      const slots = opts.slots ?? cpus().length;
      const poolOptions = { ...DEFAULT_POOL_OPTIONS, minSize: slots, ...(opts.pool === true ? {} : opts.pool) };
      executor.pool = new SandboxPool(
        host,
        executor.shapeFor(executor.maxLimits),
        poolOptions,
        () => executor.active >= slots,
        (err) => executor.log('error', 'warm pool could not start a sandbox', { error: err.message }),
        (cleanup) => executor.track(cleanup),
      );
    }
    return executor;
  }

  private async detect(cacheFile?: string): Promise<void> {
    const result = await detectRuntimes({
      manifests: this.manifests,
      cacheFile,
      selfTest: async (manifest, version) => {
        const result = await this.executeManifest(manifest, version, {
          language: manifest.name,
          files: selfTestFiles(manifest),
          stdin: manifest.selfTest.stdin,
        });
        const stdout = result.run?.stdout ?? '';
        const ok = result.status === 'ok' && stdout === manifest.selfTest.expectStdout;
        return {
          ok,
          detail: ok
            ? 'ok'
            : `status ${result.status}; stdout ${JSON.stringify(stdout.slice(0, 200))}; stderr ${JSON.stringify(
                (result.compile?.stderr || result.run?.stderr || '').slice(0, 300),
              )}`,
        };
      },
    });
    this.loaded = result.available.map((a) => ({ manifest: a.manifest, info: this.describe(a) }));
    this.unavailable = result.unavailable;
    for (const u of result.unavailable) this.log('warn', `runtime ${u.name} unavailable: ${u.reason}`);
  }

  private describe(a: AvailableRuntime): RuntimeInfo {
    const defaults = overlay(this.defaults, a.manifest.limits);
    return {
      name: a.manifest.name,
      version: a.version,
      aliases: a.manifest.aliases,
      extensions: a.manifest.extensions,
      compiled: a.manifest.compile !== undefined,
      limits: { defaults, maximum: this.maxLimits },
    };
  }

  runtimes(): RuntimeInfo[] {
    return this.loaded.map((r) => r.info);
  }

  findRuntime(language: string, version?: string): RuntimeInfo | undefined {
    return this.findLoaded(language, version)?.info;
  }

  /** The self-test program of a runtime, as request files (doctor runs it). */
  selfTestFiles(language: string): { name: string; content: Buffer }[] {
    const runtime = this.findLoaded(language);
    if (!runtime) return [];
    return selfTestFiles(runtime.manifest);
  }

  private findLoaded(language: string, version?: string): LoadedRuntime | undefined {
    const manifest = findManifest(
      this.loaded.map((r) => r.manifest),
      language,
    );
    const runtime = this.loaded.find((r) => r.manifest === manifest);
    if (!runtime) return undefined;
    return versionMatches(runtime.info.version, version) ? runtime : undefined;
  }

  async execute(request: ExecutionRequest, options: ExecuteOptions = {}): Promise<ExecutionResult> {
    if (this.closed) throw new PolyrunError('SHUTTING_DOWN', 'the executor is shutting down');
    const runtime = this.findLoaded(request.language, request.version);
    if (!runtime) {
      const known = this.loaded.map((r) => `${r.info.name} ${r.info.version}`).join(', ');
      const what = request.version ? `${request.language} ${request.version}` : request.language;
      throw new PolyrunError('UNKNOWN_LANGUAGE', `unknown language "${what}"; known: ${known}`, {
        known: this.loaded.map((r) => ({ language: r.info.name, version: r.info.version, aliases: r.info.aliases })),
      });
    }
    return this.executeManifest(runtime.manifest, runtime.info.version, request, options);
  }

  private async executeManifest(
    manifest: RuntimeManifest,
    version: string,
    request: ExecutionRequest,
    options: ExecuteOptions = {},
  ): Promise<ExecutionResult> {
    validateRequestShape(request, this.bounds);
    const resolution = resolveLimits({
      defaults: this.defaults,
      runtime: manifest.limits,
      request: { compile: request.compileLimits, run: request.limits },
      maximum: options.maxLimits ?? this.maxLimits,
    });
    if (!resolution.ok) {
      throw new PolyrunError('LIMIT_EXCEEDS_MAXIMUM', resolution.violations.map(describeViolation).join('; '), {
        violations: resolution.violations,
      });
    }
    const limits = resolution.limits;
    const plan = planExecution(manifest, request.files, request.args ?? [], limits);
    const stdin = typeof request.stdin === 'string' ? Buffer.from(request.stdin, 'utf8') : (request.stdin ?? Buffer.alloc(0));
    options.onStart?.();

    const base = { language: manifest.name, version };
    let sandbox: Sandbox | undefined;
    this.active++;
    try {
      const shape = this.shapeFor(limits);
      sandbox = this.pool?.take(shape) ?? (await Sandbox.start(this.host, shape));
      await sandbox.putFiles(plan.files);
      const cacheKey =
        this.compileCache && plan.compile
          ? compileKey({ scope: options.cacheScope ?? 'default', runtime: manifest.name, version, argv: plan.compile.argv, files: plan.files })
          : undefined;
      return { ...base, ...(await this.runStages(sandbox, plan, limits, stdin, options.signal, cacheKey)) };
    } catch (err) {
      this.log('error', 'sandbox failure', { language: manifest.name, error: (err as Error).message });
      return { ...base, status: 'internal_error', compile: null, run: internalErrorStage((err as Error).message) };
    } finally {
      this.active--;
      this.pool?.executionFinished();
      if (sandbox) this.track(sandbox.destroy());
    }
  }

  private async runStages(
    sandbox: Sandbox,
    plan: ExecutionPlan,
    limits: LimitTable,
    stdin: Buffer,
    signal?: AbortSignal,
    cacheKey?: string,
  ): Promise<Pick<ExecutionResult, 'status' | 'compile' | 'run'>> {
    let compile: StageResult | null = null;
    if (plan.compile) {
      const hit = cacheKey ? await this.compileCache?.get(cacheKey) : undefined;
      if (hit) {
        const sources = new Set(plan.files.map((f) => f.name));
        await sandbox.putFiles(hit.files.filter((f) => !sources.has(f.name)));
        compile = cachedStage(hit.stdout, hit.stderr);
      } else {
        compile = toStageResult(await sandbox.runStage({ ...plan.compile, limits: limits.compile }, signal));
        if (compile.status !== 'ok') return { status: executionStatus(compile, null), compile, run: null };
        if (cacheKey) await this.storeCompileOutputs(sandbox, plan, cacheKey, compile);
        compile.cached = false;
      }
    }
    const run = toStageResult(await sandbox.runStage({ ...plan.run, limits: limits.run, stdin }, signal));
    return { status: executionStatus(compile, run), compile, run };
  }

  /** Copy a successful compile's outputs out of the sandbox into the cache, before the run can touch them. */
  private async storeCompileOutputs(sandbox: Sandbox, plan: ExecutionPlan, key: string, compile: StageResult): Promise<void> {
    try {
      const sources = new Set(plan.files.map((f) => f.name));
      const names = matchOutputs(plan.compileOutputs, await sandbox.listFiles()).filter((n) => !sources.has(n));
      if (names.length === 0) return;
      const files = [];
      for (const name of names) {
        const file = await sandbox.getFile(name);
        if (!file) return; // vanished or not a regular file: cache nothing rather than something partial
        files.push({ name, ...file });
      }
      await this.compileCache!.put(key, { files, stdout: compile.stdout, stderr: compile.stderr });
    } catch (err) {
      this.log('warn', 'compile cache store failed', { error: (err as Error).message });
    }
  }

  /** One sandbox serves both stages, so it is sized for the larger of each bound. */
  shapeFor(limits: LimitTable): SandboxShape {
    const max = (f: keyof StageLimits) => Math.max(limits.compile[f], limits.run[f]);
    return {
      memoryBytes: max('memoryBytes'),
      processes: max('processes'),
      openFiles: max('openFiles'),
      fileSizeBytes: max('fileSizeBytes'),
      workDirBytes: this.bounds.boxBytes,
      tmpBytes: this.bounds.tmpBytes,
    };
  }

  private track(cleanup: Promise<void>): void {
    const tracked = cleanup.catch((err: Error) => this.log('error', 'sandbox cleanup failed', { error: err.message }));
    this.pendingCleanups.add(tracked);
    void tracked.finally(() => this.pendingCleanups.delete(tracked));
  }

  /** Wait until every finished sandbox has been removed. */
  async settle(): Promise<void> {
    while (this.pendingCleanups.size > 0) await Promise.all([...this.pendingCleanups]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.close();
    await this.settle();
    await this.host.cleanup();
  }
}

export async function createExecutor(opts: ExecutorOptions = {}): Promise<SandboxExecutor> {
  return SandboxExecutor.create(opts);
}

/** "*", undefined, an exact version, or a prefix selector like "3", "3.x", "3.11.x". */
export function versionMatches(version: string, selector?: string): boolean {
  if (!selector || selector === '*' || selector === 'latest') return true;
  const wanted = selector.replace(/(\.(x|\*))+$/i, '').split('.');
  const have = version.split('.');
  return wanted.every((part, i) => have[i] === part);
}

export function toStageResult(o: StageOutcome): StageResult {
  return {
    status: stageStatus(o),
    exitCode: o.exitCode,
    signal: o.signal,
    stdout: o.stdout.toString('utf8'),
    stderr: o.stderr.toString('utf8'),
    stdoutTruncated: o.stdoutTruncated,
    stderrTruncated: o.stderrTruncated,
    cpuTimeMs: o.cpuTimeMs,
    wallTimeMs: o.wallTimeMs,
    memoryBytes: o.memoryBytes,
    output: o.output.toString('utf8'),
  };
}

function selfTestFiles(manifest: RuntimeManifest): { name: string; content: Buffer }[] {
  return manifest.selfTest.files.map((f) => ({ name: f.name, content: Buffer.from(f.content, 'utf8') }));
}

function cachedStage(stdout: string, stderr: string): StageResult {
  return {
    status: 'ok',
    exitCode: 0,
    signal: null,
    stdout,
    stderr,
    stdoutTruncated: false,
    stderrTruncated: false,
    cpuTimeMs: 0,
    wallTimeMs: 0,
    memoryBytes: 0,
    cached: true,
  };
}

function internalErrorStage(message: string): StageResult {
  return {
    status: 'internal_error',
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: `polyrun: ${message}`,
    stdoutTruncated: false,
    stderrTruncated: false,
    cpuTimeMs: 0,
    wallTimeMs: 0,
    memoryBytes: 0,
  };
}
