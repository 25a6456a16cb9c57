/**
 * Verdicts and scores, pure: a case's run stage and its check -> the case's verdict; a custom checker's
 * exit -> a check; the cases -> the report (verdict, score); the case stages -> one summed stage (what the
 * quota, metrics and audit count).
 *
 * Precedence, as in every judge: what the run did comes first (a limit, a crash), the output only counts
 * after a clean exit, so a crash with the right output is still a crash.
 */
import type { StageResult } from '../contract/result.js';
import type { CheckOutcome } from './checkers.js';
import type { CaseResult, CaseVerdict, JudgeCaseSpec, JudgeReport } from './schema.js';

export interface Judged {
  verdict: CaseVerdict;
  message: string | null;
}

export function runVerdict(run: StageResult): Judged | null {
  switch (run.status) {
    case 'ok':
      return null;
    case 'time_limit':
      return { verdict: 'time_limit', message: 'time limit exceeded' };
    case 'memory_limit':
      return { verdict: 'memory_limit', message: 'memory limit exceeded' };
    case 'output_limit':
      return { verdict: 'output_limit', message: 'output limit exceeded' };
    case 'runtime_error':
      return {
        verdict: 'runtime_error',
        message: run.signal !== null ? `killed by ${run.signal}` : `exited with status ${run.exitCode}`,
      };
    case 'internal_error':
      return { verdict: 'internal_error', message: 'polyrun failed to run this case' };
  }
}

/** The verdict of a case whose run ended cleanly, from its check (null: no expected output, accepted). */
export function checkVerdict(check: CheckOutcome | null): Judged {
  if (!check || check.accepted) return { verdict: 'accepted', message: null };
  return { verdict: 'wrong_answer', message: check.message };
}

/**
 * A custom checker's run as a check: exit 0 accepts, 1 or 2 (testlib's wrong answer and presentation
 * error) rejects; anything else (a crash, a limit, exit 3 = testlib's "fail") is a checker failure, which
 * makes the case internal_error rather than blaming the submission.
 */
export function customCheck(run: StageResult): CheckOutcome | { failed: string } {
  const message = firstLine(run.stderr) ?? firstLine(run.stdout);
  if (run.status === 'ok') return { accepted: true, message: null };
  if (run.status === 'runtime_error' && (run.exitCode === 1 || run.exitCode === 2)) {
    return { accepted: false, message: message ?? 'the checker rejected the output' };
  }
  const why = run.status === 'runtime_error' ? (run.signal ?? `exit ${run.exitCode}`) : run.status;
  return { failed: `the checker failed (${why})${message ? `: ${message}` : ''}` };
}

function firstLine(s: string): string | null {
  const line = s.split('\n').find((l) => l.trim() !== '');
  return line === undefined ? null : line.trim().slice(0, 500);
}

/** The first `bytes` bytes of a text (never splitting a character). */
export function preview(text: string, bytes: number): { text: string; cut: boolean } {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= bytes) return { text, cut: false };
  let end = bytes;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--; // back to the start of a character
  return { text: buf.subarray(0, end).toString('utf8'), cut: true };
}

export function caseResult(index: number, spec: JudgeCaseSpec, run: StageResult, judged: Judged, previewBytes: number): CaseResult {
  const stdout = preview(run.stdout, previewBytes);
  const stderr = preview(run.stderr, previewBytes);
  return {
    index,
    name: spec.name ?? null,
    verdict: judged.verdict,
    weight: spec.weight,
    score: judged.verdict === 'accepted' ? spec.weight : 0,
    exitCode: run.exitCode,
    signal: run.signal,
    cpuTimeMs: run.cpuTimeMs,
    wallTimeMs: run.wallTimeMs,
    memoryBytes: run.memoryBytes,
    stdout: stdout.text,
    stdoutTruncated: stdout.cut || run.stdoutTruncated,
    stderr: stderr.text,
    stderrTruncated: stderr.cut || run.stderrTruncated,
    checkerMessage: judged.message,
  };
}

export function skippedCase(index: number, spec: JudgeCaseSpec, reason: string): CaseResult {
  return {
    index,
    name: spec.name ?? null,
    verdict: 'skipped',
    weight: spec.weight,
    score: 0,
    exitCode: null,
    signal: null,
    cpuTimeMs: 0,
    wallTimeMs: 0,
    memoryBytes: 0,
    stdout: '',
    stdoutTruncated: false,
    stderr: '',
    stderrTruncated: false,
    checkerMessage: reason,
  };
}

/** The report: the first case not accepted (in order, skipped ones aside) decides the verdict. */
export function judgeReport(cases: CaseResult[], allSpecs: JudgeCaseSpec[]): JudgeReport {
  const failed = cases.find((c) => c.verdict !== 'accepted' && c.verdict !== 'skipped');
  const anySkipped = cases.some((c) => c.verdict === 'skipped');
  return {
    verdict: failed ? (failed.verdict as Exclude<CaseVerdict, 'skipped'>) : anySkipped ? 'time_limit' : 'accepted',
    score: roundScore(cases.reduce((s, c) => s + c.score, 0)),
    maxScore: roundScore(allSpecs.reduce((s, c) => s + c.weight, 0)),
    passed: cases.filter((c) => c.verdict === 'accepted').length,
    total: allSpecs.length,
    cases,
  };
}

/** The report of a submission that did not compile: every case skipped, score 0. */
export function compileErrorReport(specs: JudgeCaseSpec[]): JudgeReport {
  return {
    ...judgeReport(specs.map((s, i) => skippedCase(i, s, 'the submission did not compile')), specs),
    verdict: 'compile_error',
  };
}

/** Floating sums of weights such as 0.1 + 0.2 are shown as people write them. */
function roundScore(x: number): number {
  return Math.round(x * 1e9) / 1e9;
}

/**
 * Every case's run (and checker run) as one stage: CPU and wall time summed, memory the peak, no output.
 * Its status is internal_error if any run was, else ok (the verdicts say the rest).
 */
export function sumStages(stages: StageResult[]): StageResult {
  return {
    status: stages.some((s) => s.status === 'internal_error') ? 'internal_error' : 'ok',
    exitCode: 0,
    signal: null,
    stdout: '',
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    cpuTimeMs: stages.reduce((t, s) => t + s.cpuTimeMs, 0),
    wallTimeMs: stages.reduce((t, s) => t + s.wallTimeMs, 0),
    memoryBytes: stages.reduce((m, s) => Math.max(m, s.memoryBytes), 0),
  };
}
