/**
 * Judging in a worker: the submission's sandbox (already compiled by the execution runner) runs every case
 * as a fresh stage with the case's own limits and accounting; a crossed limit ends the case's processes,
 * never the sandbox, so a judge pays one sandbox start, not one per case. A custom checker gets a sandbox
 * of its own (compiled once, then run per case with the input, expected and actual outputs as files), so a
 * submission can never touch the checker or the expected outputs.
 */
import type { ExecutionEvent, StageName } from '../contract/events.js';
import { DEFAULT_PROFILE } from '../contract/profile.js';
import type { StageResult } from '../contract/result.js';
import { runStageWithEvents } from '../executor/stage-events.js';
import { shapeFor } from '../executor/shape.js';
import { toStageResult } from '../executor/stage-result.js';
import type { RequestBounds } from '../limits/limits.js';
import type { RuntimeCatalogue } from '../runtimes/catalogue.js';
import { planExecution, type ExecutionPlan } from '../runtimes/plan.js';
import type { SandboxHost } from '../sandbox/host.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { judgeCases, type CaseIO } from './cases.js';
import { CHECKER_ARGS, CHECKER_FILES } from './checker-files.js';
import { checkOutput, type CheckOutcome } from './checkers.js';
import type { CheckerSpec, JudgeReport, JudgeSpec } from './schema.js';
import { customCheck, sumStages } from './verdict.js';

export interface JudgeDeps {
  host: SandboxHost;
  catalogue: RuntimeCatalogue;
  bounds: RequestBounds;
  track: (cleanup: Promise<void>) => void;
}

export interface JudgeRun {
  sandbox: Sandbox;
  plan: ExecutionPlan;
  spec: JudgeSpec;
  signal: AbortSignal;
  emit: (event: ExecutionEvent) => void;
  /** Reports a sandbox failure (logged with the job's reference) and returns the tenant's notice. */
  fail: (error: string, stage?: StageName) => string;
}

export async function runJudge(deps: JudgeDeps, r: JudgeRun): Promise<{ report: JudgeReport; run: StageResult }> {
  const needsChecker = r.spec.checker.type === 'custom' && r.spec.cases.some((c) => c.expected !== null);
  const checker = needsChecker ? await CustomChecker.start(deps, r.spec.checker as CustomSpec, r) : null;
  // The working dir as compiled: files a case leaves there are removed before the next case runs.
  const compiled = new Set(await r.sandbox.listFiles().catch(() => []));
  try {
    const io: CaseIO = {
      run: async (c, _index, limits) => {
        const run = await runStageWithEvents(
          r.sandbox,
          'run',
          { ...r.plan.run, limits, stdin: Buffer.from(c.stdin, 'base64') },
          // Only verdicts are streamed: a hundred cases' output would drown them.
          { signal: r.signal, emit: () => undefined, onSandboxFailure: r.fail, keepSandbox: true },
        );
        await removeLeftovers(r.sandbox, compiled);
        return run;
      },
      check: async (c, _index, actual) => {
        const expected = Buffer.from(c.expected!, 'base64');
        if (checker === null) return { outcome: checkOutput(r.spec.checker as Exclude<CheckerSpec, CustomSpec>, actual, expected.toString('utf8')) };
        return checker.check(Buffer.from(c.stdin, 'base64'), expected, Buffer.from(actual, 'utf8'));
      },
    };
    const judged = await judgeCases(r.spec, io, (result) => r.emit({ type: 'case', case: result }), r.signal);
    const stages = checker ? [...judged.stages, ...checker.compileStages] : judged.stages;
    return { report: judged.report, run: sumStages(stages) };
  } finally {
    checker?.destroy();
  }
}

type CustomSpec = Extract<CheckerSpec, { type: 'custom' }>;

/** Delete the regular files of the working dir that were not there after the compile (best effort). */
async function removeLeftovers(sandbox: Sandbox, compiled: ReadonlySet<string>): Promise<void> {
  if (!sandbox.running) return;
  const now = await sandbox.listFiles().catch(() => [] as string[]);
  for (const name of now) if (!compiled.has(name)) await sandbox.deleteFile(name).catch(() => undefined);
}

/** A custom checker in its own sandbox: compiled once, run once per case. */
class CustomChecker {
  readonly compileStages: StageResult[] = [];
  private failure: string | null = null;

  private constructor(
    private readonly deps: JudgeDeps,
    private readonly spec: CustomSpec,
    private readonly plan: ExecutionPlan | null,
    private readonly sandbox: Sandbox | null,
    private readonly r: JudgeRun,
  ) {}

  static async start(deps: JudgeDeps, spec: CustomSpec, r: JudgeRun): Promise<CustomChecker> {
    const manifest = deps.catalogue.manifestFor(spec.runtime.name, spec.runtime.version);
    if (!manifest) {
      const c = new CustomChecker(deps, spec, null, null, r);
      c.failure = `the checker's runtime ${spec.runtime.name}-${spec.runtime.version} is not available`;
      return c;
    }
    const files = spec.files.map((f) => ({ ...(f.name ? { name: f.name } : {}), content: Buffer.from(f.content, 'base64') }));
    const limits = { compile: spec.compileLimits, run: spec.limits };
    const plan = planExecution(manifest, files, CHECKER_ARGS, limits);
    let sandbox: Sandbox;
    try {
      sandbox = await Sandbox.start(deps.host, shapeFor(limits, deps.bounds), { profile: DEFAULT_PROFILE });
    } catch (err) {
      const c = new CustomChecker(deps, spec, plan, null, r);
      c.failure = `the checker's sandbox did not start (${r.fail((err as Error).message)})`.trim();
      return c;
    }
    const checker = new CustomChecker(deps, spec, plan, sandbox, r);
    await checker.compile();
    return checker;
  }

  private async compile(): Promise<void> {
    try {
      await this.sandbox!.putFiles(this.plan!.files);
    } catch (err) {
      this.failure = `the checker's files could not be written: ${this.r.fail((err as Error).message)}`;
      return;
    }
    if (!this.plan!.compile) return;
    const outcome = await this.sandbox!.startStage({ ...this.plan!.compile, limits: this.spec.compileLimits }, { signal: this.r.signal }).done;
    const stage = toStageResult(outcome);
    this.compileStages.push(stage);
    if (stage.status !== 'ok') {
      const line = (stage.stderr || stage.stdout).split('\n').find((l) => l.trim() !== '') ?? stage.status;
      this.failure = `the checker did not compile: ${line.trim().slice(0, 300)}`;
    }
  }

  async check(input: Buffer, expected: Buffer, actual: Buffer): Promise<{ outcome: CheckOutcome | { failed: string }; stage?: StageResult }> {
    if (this.failure !== null || !this.sandbox || !this.plan) return { outcome: { failed: this.failure ?? 'the checker is not running' } };
    try {
      const mode = 0o644;
      await this.sandbox.putFiles(
        [
          { name: CHECKER_FILES.input, content: input, mode },
          { name: CHECKER_FILES.expected, content: expected, mode },
          { name: CHECKER_FILES.actual, content: actual, mode },
        ],
        { overwrite: true },
      );
    } catch (err) {
      return { outcome: { failed: `the checker's inputs could not be written (${this.r.fail((err as Error).message).trim()})` } };
    }
    const outcome = await this.sandbox.startStage({ ...this.plan.run, limits: this.spec.limits }, { signal: this.r.signal }, { sandbox: true }).done;
    const stage = toStageResult(outcome);
    if (stage.status === 'internal_error' && outcome.sandboxError !== null && outcome.killedFor !== 'aborted') this.r.fail(outcome.sandboxError);
    return { outcome: customCheck(stage), stage };
  }

  destroy(): void {
    if (this.sandbox) this.deps.track(this.sandbox.destroy());
  }
}
