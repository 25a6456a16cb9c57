/**
 * The case loop: in order, each case run (through `io`), judged, reported as soon as it is decided; the
 * cases after a failure (stopOnFirstFailure) or after the total time budget is spent are skipped. No I/O of
 * its own (the sandbox and the checker are behind `CaseIO`), so every rule here is unit-tested with fakes.
 */
import type { StageResult } from '../contract/result.js';
import type { StageLimits } from '../limits/limits.js';
import type { CheckOutcome } from './checkers.js';
import type { CaseResult, JudgeCaseSpec, JudgeReport, JudgeSpec } from './schema.js';
import { caseResult, checkVerdict, judgeReport, runVerdict, skippedCase, type Judged } from './verdict.js';

export interface CaseIO {
  /** Run the submission on one case with these limits (a fresh process, its own accounting). */
  run(spec: JudgeCaseSpec, index: number, limits: StageLimits): Promise<StageResult>;
  /** Check a clean run's output against the case's expected output (not null). */
  check(spec: JudgeCaseSpec, index: number, actual: string): Promise<{ outcome: CheckOutcome | { failed: string }; stage?: StageResult }>;
}

export interface JudgedCases {
  report: JudgeReport;
  /** Every stage that ran (case runs and checker runs), for the accounting. */
  stages: StageResult[];
}

export async function judgeCases(
  spec: JudgeSpec,
  io: CaseIO,
  onCase: (result: CaseResult) => void,
  signal?: AbortSignal,
): Promise<JudgedCases> {
  const results: CaseResult[] = [];
  const stages: StageResult[] = [];
  let spentMs = 0;
  let stopped: string | null = null;
  for (const [index, c] of spec.cases.entries()) {
    if (stopped === null && signal?.aborted) stopped = 'the judging was cancelled';
    if (stopped === null && spec.totalTimeMs !== null && spentMs >= spec.totalTimeMs) {
      stopped = `the total time budget of ${spec.totalTimeMs} ms was spent`;
    }
    if (stopped !== null) {
      const skipped = skippedCase(index, c, stopped);
      results.push(skipped);
      onCase(skipped);
      continue;
    }
    // A case never runs past what is left of the budget.
    const limits = spec.totalTimeMs === null ? c.limits : { ...c.limits, wallTimeMs: Math.max(1, Math.min(c.limits.wallTimeMs, spec.totalTimeMs - spentMs)) };
    const run = await io.run(c, index, limits);
    stages.push(run);
    spentMs += run.wallTimeMs;
    let judged: Judged | null = runVerdict(run);
    if (judged === null) {
      if (c.expected === null) judged = checkVerdict(null);
      else {
        const { outcome, stage } = await io.check(c, index, run.stdout);
        if (stage) stages.push(stage);
        judged = 'failed' in outcome ? { verdict: 'internal_error', message: outcome.failed } : checkVerdict(outcome);
      }
    }
    const result = caseResult(index, c, run, judged, spec.previewBytes);
    results.push(result);
    onCase(result);
    if (spec.stopOnFirstFailure && judged.verdict !== 'accepted') stopped = `stopped after case ${index} failed`;
  }
  return { report: judgeReport(results, spec.cases), stages };
}
