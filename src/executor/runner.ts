/**
 * The execution runner: what a worker does with one job. It plans the stages from the runtime's manifest,
 * takes a sandbox (the warm pool's, for the job's profile, or a cold one), puts the files in, runs the
 * compile stage (or restores it from the compile cache) and the run stage, publishes events as they happen,
 * relays control messages (stdin, end of input, signals) to the running stage, and returns the result
 * contract. The sandbox is destroyed afterwards, off the caller's path.
 *
 * The job was validated when it was prepared (src/pipeline/prepare.ts); nothing is validated again here.
 * What the program does is always a result with a status; a failure of polyrun's own is a result with
 * status internal_error. Its detail (the OCI runtime's stderr, host paths) goes only to the log line
 * 'sandbox failure', whose `reference` is the job's id; the tenant's result carries a generic notice with
 * that reference (stage-result.ts).
 */
import { compileKey, type CompileCache } from '../cache/compile-cache.js';
import { errors } from '../contract/errors.js';
import type { StageName } from '../contract/events.js';
import type { ExecutionJob } from '../contract/job.js';
import type { SourceFile } from '../contract/request.js';
import type { ExecutionResult, NetworkStats, StageResult } from '../contract/result.js';
import type { RequestBounds } from '../limits/limits.js';
import { executionStatus } from '../limits/status.js';
import type { JobContext } from '../queue/types.js';
import type { RuntimeCatalogue } from '../runtimes/catalogue.js';
import type { RuntimeManifest } from '../runtimes/manifest.js';
import { compileErrorReport } from '../judge/verdict.js';
import { runJudge } from '../judge/run.js';
import type { JudgeReport } from '../judge/schema.js';
import { matchOutputs, planExecution, type ExecutionPlan } from '../runtimes/plan.js';
import type { SandboxHost } from '../sandbox/host.js';
import type { SandboxPool } from '../sandbox/pool.js';
import { Sandbox, type StageCommand } from '../sandbox/sandbox.js';
import { shapeFor } from './shape.js';
import { StageControls } from './stage-controls.js';
import { runStageWithEvents, withoutOutput } from './stage-events.js';
import { cachedStage, internalErrorStage, sandboxFailureNotice } from './stage-result.js';

export type ExecutorLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface RunnerDeps {
  host: SandboxHost;
  catalogue: RuntimeCatalogue;
  bounds: RequestBounds;
  pool?: SandboxPool;
  compileCache?: CompileCache;
  log: ExecutorLog;
  /** Receives every sandbox removal, so the owner can wait for them (settle, close). */
  track: (cleanup: Promise<void>) => void;
  /** Told of every sandbox failure after it was logged (the executor re-checks its health). */
  onSandboxFailure?: () => void;
}

/** A judge job's result also carries the judge's report (src/judge; the API's JudgeResult). */
type StageOutcomes = Pick<ExecutionResult, 'status' | 'compile' | 'run'> & { judge?: JudgeReport };

/** Reports a sandbox failure's detail (logs it) and returns the notice the tenant gets instead. */
type FailureReporter = (error: string, stage?: StageName) => string;

export class ExecutionRunner {
  private running = 0;

  constructor(private readonly deps: RunnerDeps) {}

  /** Executions running now (the pool refills only while this is below the slots). */
  get active(): number {
    return this.running;
  }

  /** Run a job on the runtime it names (a queue worker's processor). */
  async run(job: ExecutionJob, context: JobContext): Promise<ExecutionResult> {
    const manifest = this.deps.catalogue.manifestFor(job.runtime.name, job.runtime.version);
    if (!manifest) {
      const known = this.deps.catalogue.runtimes().map((r) => `${r.name}-${r.version}`);
      throw errors.unknownLanguage(job.runtime.name, job.runtime.version, known);
    }
    return this.runManifest(manifest, job, context);
  }

  /**
   * Run a job with a given manifest (self-tests run before the catalogue lists the runtime). `onFailure`
   * receives the detail of a sandbox failure, which the result does not carry (the self-test's reason).
   */
  async runManifest(
    manifest: RuntimeManifest,
    job: ExecutionJob,
    context: JobContext,
    onFailure?: (detail: string) => void,
  ): Promise<ExecutionResult> {
    const files: SourceFile[] = job.files.map((f) => ({ ...(f.name ? { name: f.name } : {}), content: Buffer.from(f.content, 'base64') }));
    const plan = planExecution(manifest, files, job.args, job.limits);
    const base = { language: manifest.name, version: job.runtime.version };
    const controls = new StageControls(this.deps.bounds.maxStdinBytes);
    context.onControl((message) => controls.handle(message));
    const fail: FailureReporter = (error, stage) => {
      this.deps.log('error', 'sandbox failure', { reference: job.id, language: manifest.name, ...(stage ? { stage } : {}), error });
      onFailure?.(error);
      this.deps.onSandboxFailure?.();
      return sandboxFailureNotice(job.id);
    };
    let sandbox: Sandbox | undefined;
    this.running++;
    try {
      const shape = shapeFor(job.limits, this.deps.bounds);
      // A networked sandbox is never pooled: its network is the request's allowlist.
      const pooled = job.profile.network === 'egress' ? undefined : this.deps.pool?.take(shape, job.profile);
      sandbox = pooled ?? (await Sandbox.start(this.deps.host, shape, { profile: job.profile }));
      await sandbox.putFiles(plan.files);
      const outcomes = await this.runStages(sandbox, plan, job, context, controls, fail);
      return { ...base, ...outcomes, ...(await this.networkResult(sandbox, job)) };
    } catch (err) {
      fail((err as Error).message);
      return { ...base, status: 'internal_error', compile: null, run: internalErrorStage(job.id) };
    } finally {
      this.running--;
      this.deps.pool?.executionFinished();
      if (sandbox) this.deps.track(sandbox.destroy());
    }
  }

  /** The network counters of a networked sandbox for the result; its denied destinations go to the log. */
  private async networkResult(sandbox: Sandbox, job: ExecutionJob): Promise<{ network?: NetworkStats }> {
    if (job.profile.network !== 'egress') return {};
    const read = await sandbox.networkStats().catch((err: Error) => {
      this.deps.log('warn', 'network counters unreadable', { reference: job.id, error: err.message });
      return undefined;
    });
    if (!read) return {};
    if (read.denied.length || read.stats.denied) {
      this.deps.log('info', 'network denied', { reference: job.id, tenant: job.tenantId, denied: read.stats.denied, names: read.denied });
    }
    return { network: read.stats };
  }

  private async runStages(
    sandbox: Sandbox,
    plan: ExecutionPlan,
    job: ExecutionJob,
    context: JobContext,
    controls: StageControls,
    fail: FailureReporter,
  ): Promise<StageOutcomes> {
    let compile: StageResult | null = null;
    if (plan.compile) {
      compile = await this.compileStage(sandbox, plan, job, context, controls, fail);
      if (compile.status !== 'ok') {
        return { status: executionStatus(compile, null), compile, run: null, ...(job.judge ? { judge: compileErrorReport(job.judge.cases) } : {}) };
      }
    }
    if (job.judge) {
      // Compiled once; every case runs in this sandbox (src/judge/run.ts).
      const { host, catalogue, bounds, track } = this.deps;
      const { report, run } = await runJudge(
        { host, catalogue, bounds, track },
        { sandbox, plan, spec: job.judge, signal: context.signal, emit: (e) => context.emit(e), fail },
      );
      return { status: run.status === 'internal_error' ? 'internal_error' : 'ok', compile, run, judge: report };
    }
    const stdin = Buffer.from(job.stdin, 'base64');
    const command = { ...plan.run, limits: job.limits.run, stdin, interactive: job.interactive };
    const run = await runStage(sandbox, 'run', command, context, controls, fail);
    return { status: executionStatus(compile, run), compile, run };
  }

  /** The compile stage, or its outputs from the compile cache (then the stage is reported as cached). */
  private async compileStage(
    sandbox: Sandbox,
    plan: ExecutionPlan,
    job: ExecutionJob,
    context: JobContext,
    controls: StageControls,
    fail: FailureReporter,
  ): Promise<StageResult> {
    const compilePlan = plan.compile!;
    const cache = this.deps.compileCache;
    const key = cache
      ? compileKey({ scope: job.cacheScope, runtime: job.runtime.name, version: job.runtime.version, argv: compilePlan.argv, files: plan.files })
      : undefined;
    const found = key ? await cache!.get(key) : undefined;
    // A hit must not bypass the compile limits of this request: an entry whose compile cost more than they
    // allow is not used (the compile runs, and meets its limit).
    const limits = job.limits.compile;
    const hit =
      found?.figures &&
      (found.figures.cpuTimeMs > limits.cpuTimeMs || found.figures.wallTimeMs > limits.wallTimeMs || found.figures.memoryBytes > limits.memoryBytes)
        ? undefined
        : found;
    if (hit) {
      const sources = new Set(plan.files.map((f) => f.name));
      await sandbox.putFiles(hit.files.filter((f) => !sources.has(f.name)));
      const cached = cachedStage(hit.stdout, hit.stderr, hit.figures);
      context.emit({ type: 'stage', stage: 'compile' });
      context.emit({ type: 'exit', stage: 'compile', result: withoutOutput(cached) });
      return cached;
    }
    const command = { ...compilePlan, limits: job.limits.compile };
    const compile = await runStage(sandbox, 'compile', command, context, controls, fail);
    if (compile.status === 'ok') {
      if (key) await this.storeCompileOutputs(sandbox, plan, key, compile);
      compile.cached = false;
    }
    return compile;
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
      const { cpuTimeMs, wallTimeMs, memoryBytes } = compile;
      await this.deps.compileCache!.put(key, { files, stdout: compile.stdout, stderr: compile.stderr, figures: { cpuTimeMs, wallTimeMs, memoryBytes } });
    } catch (err) {
      this.deps.log('warn', 'compile cache store failed', { error: (err as Error).message });
    }
  }
}

/** One stage with its events; control messages reach the stage while it runs. */
function runStage(
  sandbox: Sandbox,
  stage: StageName,
  command: StageCommand,
  context: JobContext,
  controls: StageControls,
  fail: FailureReporter,
): Promise<StageResult> {
  return runStageWithEvents(sandbox, stage, command, {
    signal: context.signal,
    emit: (event) => context.emit(event),
    onSandboxFailure: fail,
    onRunning: (running) => controls.attach(running, stage),
    onEnded: () => controls.detach(),
  });
}
