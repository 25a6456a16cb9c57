/**
 * The sandboxed executor: composes what runs executions on this host. One SandboxHost (OCI runtime,
 * prepared root, cgroup layout), the runtime catalogue (detected by self-tests in real sandboxes), the warm
 * pool and the compile cache, and the runner that turns a job into a result.
 *
 * As a queue worker's processor it runs jobs (`run`). As a library (CLI, tests, benchmarks) it also takes a
 * request directly: `execute` and `start` prepare it with the same `prepareExecution` as the HTTP API and
 * run it in this process. Sandboxes are destroyed after every execution, off the caller's path; `settle()`
 * waits for those removals and `close()` waits and removes everything the instance made.
 *
 * Readiness (`health()`) is proven, not assumed: the self-test cache may skip the self-tests, but after
 * detection one real sandbox starts and runs a trivial stage. When that fails the executor stays up, not
 * ready, and proves again on a timer (backing off) until it passes; a sandbox failure during an execution
 * makes it prove again too, so a runtime that breaks after start-up makes the service not ready.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { CompileCache } from '../cache/compile-cache.js';
import { errors } from '../contract/errors.js';
import type { ExecutionControl, ExecutionEvent, StageSignal } from '../contract/events.js';
import type { ExecutionJob } from '../contract/job.js';
import { DEFAULT_PROFILE } from '../contract/profile.js';
import { requestToBody, type ExecutionRequest } from '../contract/request.js';
import type { ExecutionResult } from '../contract/result.js';
import { loadConfig } from '../config/load.js';
import { BUILTIN_POLICY, type TenantPolicy } from '../config/policy.js';
import type { PolyrunConfig } from '../config/schema.js';
import { DEFAULT_BOUNDS, DEFAULT_LIMITS, MAX_LIMITS, resolveLimits, type LimitTable, type RequestBounds } from '../limits/limits.js';
import { prepareExecution, toJob } from '../pipeline/prepare.js';
import { projectPath } from '../project.js';
import type { JobContext } from '../queue/types.js';
import { RuntimeCatalogue, type RuntimeInfo } from '../runtimes/catalogue.js';
import type { RuntimeManifest } from '../runtimes/manifest.js';
import { loadManifests } from '../runtimes/registry.js';
import { SandboxNetworks } from '../network/netns.js';
import { SANDBOX_IDS, SandboxHost } from '../sandbox/host.js';
import { POOL_SHRINK_AFTER_MS, SandboxPool, type PoolOptions } from '../sandbox/pool.js';
import { Sandbox, type SandboxShape } from '../sandbox/sandbox.js';
import { LocalJobContext } from './local-context.js';
import { ExecutionRunner, type ExecutorLog } from './runner.js';
import { shapeFor } from './shape.js';
import type { Executor, ExecutorHealth, ReloadResult, SandboxInfo } from './types.js';

export interface ExecutorOptions {
  /** The service configuration (sandbox settings, data dir, slots); default: loadConfig with no flags. */
  config?: PolyrunConfig;
  /** Overrides of the configuration's sandbox.stateDir and dataDir (tests give each run its own). */
  stateDir?: string;
  dataDir?: string;
  initBinary?: string;
  manifestsDir?: string;
  /** Only consider these runtimes (names); default all manifests. */
  languages?: string[];
  bounds?: Partial<RequestBounds>;
  defaults?: LimitTable;
  maxLimits?: LimitTable;
  /** Skip the self-test cache (always re-run self-tests). */
  freshDetection?: boolean;
  /**
   * Warm pool of pre-started sandboxes (sized from the configuration's slots and sandbox.poolMax, which an
   * object may override); false (default) starts a sandbox per execution.
   */
  pool?: Partial<PoolOptions> | boolean;
  /** Execution slots run at once (the queue's concurrency); the pool refills only below it. */
  slots?: number;
  /** Compile cache in <dataDir>/compile-cache; default from the configuration; false disables it. */
  compileCache?: { maxBytes: number } | false;
  /** While sandboxes do not start, prove again after minMs, doubling up to maxMs (tests shorten them). */
  reprobe?: Partial<ReprobeOptions>;
  log?: ExecutorLog;
}

export interface ReprobeOptions {
  minMs: number;
  maxMs: number;
}

const DEFAULT_REPROBE: ReprobeOptions = { minMs: 1_000, maxMs: 60_000 };
/**
 * The proof's stage. Not a runtime's self-test: /usr/bin/true needs nothing but what every sandbox has (the
 * OCI runtime, the cgroups, polyrun-init, /usr), so a failure means "sandboxes do not start", never "one
 * toolchain is broken" (the self-tests' business, per runtime); and it costs one sandbox start, where the
 * first runtime's self-test could be a compile or a JVM.
 */
const PROOF_ARGV = ['/usr/bin/true'];
const PROOF_TIME_MS = 5_000;

export interface LocalExecuteOptions {
  /** The ceiling for this caller; default the service maximum (BUILTIN_POLICY with this executor's maximum). */
  policy?: TenantPolicy;
  signal?: AbortSignal;
  cacheScope?: string;
  onEvent?: (event: ExecutionEvent) => void;
  /** Keep the run stage's stdin open for `write` until `end` (interactive programs). */
  interactive?: boolean;
}

/** An execution running in this process: stdin, end of input and signals while it runs. */
export interface LocalExecution {
  write(data: Buffer | string): void;
  end(): void;
  signal(signal: StageSignal): void;
  readonly result: Promise<ExecutionResult>;
}

export class SandboxExecutor implements Executor {
  private readonly pendingCleanups = new Set<Promise<void>>();
  private closed = false;
  readonly runner: ExecutionRunner;
  /**
   * Self-tests start a fresh sandbox, never a warm one: after refreshMounts (a runtime installed while
   * serving) a pooled sandbox may predate the mount its self-test needs.
   */
  private readonly selfTestRunner: ExecutionRunner;
  /** Where passing self-tests are remembered (undefined: fresh detection); reloads use it too. */
  private detectionCache: string | undefined;
  private reloading?: Promise<ReloadResult>;
  private healthState: ExecutorHealth = { ready: false, detail: 'sandboxes have not been proven to start yet' };
  private cause: string | null = null;
  private proving?: Promise<void>;
  /** Date.now() of the last finished proof; 0 before the first. */
  private provenAt = 0;
  private retryTimer?: NodeJS.Timeout;
  private retryDelayMs: number;

  private constructor(
    readonly host: SandboxHost,
    readonly catalogue: RuntimeCatalogue,
    readonly bounds: RequestBounds,
    readonly maxLimits: LimitTable,
    private readonly log: ExecutorLog,
    readonly compileCache: CompileCache | undefined,
    readonly pool: SandboxPool | undefined,
    private readonly reprobe: ReprobeOptions,
  ) {
    this.retryDelayMs = reprobe.minMs;
    this.runner = new ExecutionRunner({
      host,
      catalogue,
      bounds,
      log,
      track: (cleanup) => this.track(cleanup),
      onSandboxFailure: () => this.sandboxFailed(),
      ...(pool ? { pool } : {}),
      ...(compileCache ? { compileCache } : {}),
    });
    this.selfTestRunner = new ExecutionRunner({
      host,
      catalogue,
      bounds,
      log,
      track: (cleanup) => this.track(cleanup),
      onSandboxFailure: () => this.sandboxFailed(),
      ...(compileCache ? { compileCache } : {}),
    });
  }

  static async create(opts: ExecutorOptions = {}): Promise<SandboxExecutor> {
    const config = opts.config ?? loadConfig([]).config;
    const dataDir = opts.dataDir ?? config.dataDir;
    const all = await loadManifests(opts.manifestsDir);
    const manifests = opts.languages ? all.filter((m) => opts.languages!.includes(m.name)) : all;
    const host = await SandboxHost.create({
      ...SANDBOX_IDS,
      stateDir: opts.stateDir ?? config.sandbox.stateDir,
      backend: config.sandbox.backend,
      ociRuntime: config.sandbox.ociRuntime,
      initBinary: opts.initBinary ?? projectPath('build', 'polyrun-init'),
      mounts: [...new Set(manifests.flatMap((m) => m.mounts ?? []))],
      network: new SandboxNetworks({ ...config.network, stateDir: opts.stateDir ?? config.sandbox.stateDir }),
    });
    const bounds = { ...DEFAULT_BOUNDS, ...opts.bounds };
    const maxLimits = opts.maxLimits ?? MAX_LIMITS;
    const catalogue = new RuntimeCatalogue(manifests, opts.defaults ?? DEFAULT_LIMITS, maxLimits);
    const cacheBytes = opts.compileCache === undefined ? config.sandbox.compileCacheBytes : opts.compileCache ? opts.compileCache.maxBytes : 0;
    const compileCache = cacheBytes > 0 ? await CompileCache.open(join(dataDir, 'compile-cache'), cacheBytes) : undefined;
    const slots = opts.slots ?? config.slots;
    let executor!: SandboxExecutor;
    const pool = opts.pool
      ? new SandboxPool(
          host,
          shapeFor(maxLimits, bounds),
          {
            minSize: Math.min(slots, config.sandbox.poolMax),
            maxSize: config.sandbox.poolMax,
            shrinkAfterMs: POOL_SHRINK_AFTER_MS,
            ...(opts.pool === true ? {} : opts.pool),
          },
          () => executor.runner.active >= slots,
          (err) => executor.log('error', 'warm pool could not start a sandbox', { error: err.message }),
          (cleanup) => executor.track(cleanup),
        )
      : undefined;
    const log = opts.log ?? (() => undefined);
    const reprobe = { ...DEFAULT_REPROBE, ...opts.reprobe };
    executor = new SandboxExecutor(host, catalogue, bounds, maxLimits, log, compileCache, pool, reprobe);
    executor.detectionCache = opts.freshDetection ? undefined : join(dataDir, 'runtimes-cache.json');
    await catalogue.detect((manifest, version) => executor.selfTest(manifest, version), executor.detectionCache);
    for (const u of catalogue.unavailable) log('warn', `runtime ${u.name} unavailable: ${u.reason}`);
    // The cache vouches for the toolchains, never for the OCI runtime: prove that sandboxes start.
    await executor.prove();
    return executor;
  }

  /** The backend that starts this host's sandboxes, why it was chosen, and the isolation levels offered. */
  sandboxInfo(): SandboxInfo {
    const { backend, runtime, reason } = this.host.choice;
    const gvisor = this.host.gvisorUnavailable;
    return {
      backend,
      runtime,
      reason,
      isolations: gvisor === null ? ['default', 'gvisor'] : ['default'],
      unavailable: gvisor === null ? {} : { gvisor },
    };
  }

  /** Whether sandboxes start (the last proof); the detail names no host path (it is shown on /readyz). */
  health(): ExecutorHealth {
    return { ...this.healthState };
  }

  /**
   * Why the last proof failed, in full (the runtime's own message, host paths included), or null: for
   * in-process operator tools (doctor) and logs, never for an HTTP response.
   */
  get healthCause(): string | null {
    return this.cause;
  }

  /** Prove that sandboxes start, once at a time; a failure schedules the next proof. */
  private prove(): Promise<void> {
    this.proving ??= this.proveOnce().finally(() => (this.proving = undefined));
    return this.proving;
  }

  private async proveOnce(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const started = performance.now();
    const error = await this.startTrivialSandbox();
    this.provenAt = Date.now();
    if (this.closed) return;
    const ms = Math.round(performance.now() - started);
    if (error === null) {
      if (!this.healthState.ready) this.log('info', 'sandboxes start: ready', { proofMs: ms });
      this.healthState = { ready: true, detail: 'sandboxes start' };
      this.cause = null;
      this.retryDelayMs = this.reprobe.minMs;
      return;
    }
    const reference = `readiness-${randomBytes(4).toString('hex')}`;
    this.log('error', 'sandbox failure', { reference, check: 'readiness', error, retryInMs: this.retryDelayMs });
    this.healthState = { ready: false, detail: `sandboxes do not start (reference ${reference}; the log has the details); retrying` };
    this.cause = error;
    this.retryTimer = setTimeout(() => void this.prove(), this.retryDelayMs);
    this.retryTimer.unref();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.reprobe.maxMs);
  }

  /** One real sandbox (the pool's shape) running PROOF_ARGV: null when it worked, else what failed. */
  private async startTrivialSandbox(): Promise<string | null> {
    const limits = {
      ...this.maxLimits.run,
      cpuTimeMs: Math.min(this.maxLimits.run.cpuTimeMs, PROOF_TIME_MS),
      wallTimeMs: Math.min(this.maxLimits.run.wallTimeMs, PROOF_TIME_MS),
    };
    let sandbox: Sandbox | undefined;
    try {
      sandbox = await Sandbox.start(this.host, shapeFor(this.maxLimits, this.bounds));
      const outcome = await sandbox.runStage({ argv: PROOF_ARGV, env: {}, limits });
      if (outcome.sandboxError !== null) return outcome.sandboxError;
      if (outcome.exitCode !== 0) return `${PROOF_ARGV.join(' ')} in a sandbox ended with ${outcome.signal ?? `exit ${outcome.exitCode}`}`;
      return null;
    } catch (err) {
      return (err as Error).message;
    } finally {
      if (sandbox) this.track(sandbox.destroy());
    }
  }

  /**
   * An execution met a sandbox failure: prove again (no sooner than reprobe.minMs after the last proof), so
   * a runtime that broke after start-up makes the service not ready. A proof already running or scheduled
   * (the retry timer, while not ready) covers it; before the first proof (self-tests) there is nothing to do.
   */
  private sandboxFailed(): void {
    if (this.closed || this.provenAt === 0 || this.proving || this.retryTimer) return;
    const waitMs = this.provenAt + this.reprobe.minMs - Date.now();
    if (waitMs <= 0) {
      void this.prove();
      return;
    }
    this.retryTimer = setTimeout(() => void this.prove(), waitMs);
    this.retryTimer.unref();
  }

  private async selfTest(manifest: RuntimeManifest, version: string): Promise<{ ok: boolean; detail: string }> {
    if (this.host.backend.name === 'gvisor' && manifest.gvisorUnsupported) {
      return { ok: false, detail: `does not run under gVisor (this host's sandbox backend): ${manifest.gvisorUnsupported}` };
    }
    const resolution = resolveLimits({ defaults: this.catalogue.defaultLimits(manifest), maximum: this.maxLimits });
    if (!resolution.ok) return { ok: false, detail: 'the manifest asks for limits above the maximum' };
    const job: ExecutionJob = {
      id: `self-test-${manifest.name}`,
      tenantId: 'polyrun',
      runtime: { name: manifest.name, version },
      files: manifest.selfTest.files.map((f) => ({ name: f.name, content: Buffer.from(f.content, 'utf8').toString('base64') })),
      stdin: Buffer.from(manifest.selfTest.stdin ?? '', 'utf8').toString('base64'),
      interactive: false,
      args: [],
      limits: resolution.limits,
      cacheScope: 'self-test',
      profile: DEFAULT_PROFILE,
    };
    let failure: string | undefined;
    const result = await this.selfTestRunner.runManifest(manifest, job, new LocalJobContext(), (detail) => (failure ??= detail));
    const stdout = result.run?.stdout ?? '';
    const ok = result.status === 'ok' && stdout === manifest.selfTest.expectStdout;
    if (ok) return { ok, detail: 'ok' };
    // The result only has the tenant's notice; the self-test's reason (for the operator) gets the detail.
    if (failure !== undefined) return { ok, detail: `sandbox failure: ${failure.slice(0, 300)}` };
    const stderr = (result.compile?.stderr || result.run?.stderr || '').slice(0, 300);
    return { ok, detail: `status ${result.status}; stdout ${JSON.stringify(stdout.slice(0, 200))}; stderr ${JSON.stringify(stderr)}` };
  }

  get unavailable() {
    return this.catalogue.unavailable;
  }

  /**
   * Detect the runtimes again, e.g. after `polyrun install` (serve does it on SIGHUP): mounts that appeared
   * since start are added, every manifest is probed, new or changed toolchains are self-tested (unchanged ones
   * are answered by the cache), and the catalogue switches to the result at once. Requests meanwhile see the
   * previous catalogue. Calls during a reload share it.
   */
  reloadRuntimes(): Promise<ReloadResult> {
    this.reloading ??= (async () => {
      const before = new Set(this.catalogue.runtimes().map((r) => `${r.name}@${r.version}`));
      const mounts = await this.host.refreshMounts();
      await this.catalogue.detect((manifest, version) => this.selfTest(manifest, version), this.detectionCache);
      const now = this.catalogue.runtimes().map((r) => `${r.name}@${r.version}`);
      const after = new Set(now);
      return {
        added: now.filter((r) => !before.has(r)),
        removed: [...before].filter((r) => !after.has(r)),
        mounts,
        unavailable: this.catalogue.unavailable,
      };
    })().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  runtimes(): RuntimeInfo[] {
    return this.catalogue.runtimes();
  }

  findRuntime(language: string, version?: string): RuntimeInfo | undefined {
    return this.catalogue.findRuntime(language, version);
  }

  /** The self-test program of a runtime, as request files (doctor runs it). */
  selfTestFiles(language: string): { name: string; content: Buffer }[] {
    const info = this.findRuntime(language);
    const manifest = info && this.catalogue.manifestFor(info.name, info.version);
    return manifest ? manifest.selfTest.files.map((f) => ({ name: f.name, content: Buffer.from(f.content, 'utf8') })) : [];
  }

  run(job: ExecutionJob, context: JobContext): Promise<ExecutionResult> {
    if (this.closed) return Promise.reject(errors.shuttingDown());
    return this.runner.run(job, context);
  }

  /** Prepare a request (the same validation as the HTTP API) and run it here; throws PolyrunError for bad input. */
  execute(request: ExecutionRequest, options: LocalExecuteOptions = {}): Promise<ExecutionResult> {
    try {
      return this.start(request, options).result;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Like `execute`, with stdin, end of input and signals while it runs. */
  start(request: ExecutionRequest, options: LocalExecuteOptions = {}): LocalExecution {
    if (this.closed) throw errors.shuttingDown();
    const policy = options.policy ?? { ...BUILTIN_POLICY, maxLimits: this.maxLimits };
    const prepared = prepareExecution(requestToBody(request), { runtimes: this.catalogue, policy, bounds: this.bounds });
    const job = toJob(prepared, {
      id: randomUUID(),
      tenantId: 'local',
      cacheScope: options.cacheScope ?? 'default',
      interactive: options.interactive ?? false,
    });
    const context = new LocalJobContext(options.signal, options.onEvent);
    const control = (message: ExecutionControl) => context.control(message);
    return {
      write: (data) => control({ type: 'stdin', data: Buffer.from(data).toString('base64') }),
      end: () => control({ type: 'stdin_end' }),
      signal: (signal) => control({ type: 'signal', signal }),
      result: this.runner.run(job, context),
    };
  }

  /** The sandbox shape of an execution with these limits. */
  shapeFor(limits: LimitTable): SandboxShape {
    return shapeFor(limits, this.bounds);
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
    clearTimeout(this.retryTimer);
    await this.proving;
    await this.pool?.close();
    await this.settle();
    await this.host.cleanup();
  }
}

export async function createExecutor(opts: ExecutorOptions = {}): Promise<SandboxExecutor> {
  return SandboxExecutor.create(opts);
}
