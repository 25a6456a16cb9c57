/**
 * The judge's pure parts: the built-in checkers, verdicts and scores, the case loop (stop at the first
 * failure, the total time budget, checker failures) with a fake CaseIO, and the validation of a request.
 */
import { describe, expect, it } from 'vitest';
import { PolyrunError } from '../../src/contract/errors.js';
import type { StageResult } from '../../src/contract/result.js';
import { BUILTIN_POLICY } from '../../src/config/policy.js';
import { judgeCases, type CaseIO } from '../../src/judge/cases.js';
import { checkOutput, floatsEqual, normalizedLines } from '../../src/judge/checkers.js';
import { prepareJudge } from '../../src/judge/prepare.js';
import type { JudgeBody, JudgeCaseSpec, JudgeSpec } from '../../src/judge/schema.js';
import { customCheck, judgeReport, preview, runVerdict, sumStages } from '../../src/judge/verdict.js';
import { DEFAULT_LIMITS, MAX_LIMITS } from '../../src/limits/limits.js';
import { FakeExecutor, stage } from '../helpers/fake-executor.js';

const check = (type: 'exact' | 'trailing_whitespace' | 'tokens' | 'case_insensitive', a: string, e: string) => checkOutput({ type }, a, e).accepted;

describe('built-in checkers', () => {
  it('exact compares byte for byte and names the first difference', () => {
    expect(check('exact', '3\n', '3\n')).toBe(true);
    expect(check('exact', '3', '3\n')).toBe(false);
    expect(checkOutput({ type: 'exact' }, '1 2 4\n', '1 2 3\n').message).toMatch(/byte 4 \(line 1\): expected "3\\n", got "4\\n"/);
  });

  it('trailing_whitespace ignores trailing spaces, CRs and blank lines at the end, nothing else', () => {
    expect(check('trailing_whitespace', '1 \r\n2\t\n\n\n', '1\n2')).toBe(true);
    expect(check('trailing_whitespace', '', '\n\n')).toBe(true);
    expect(check('trailing_whitespace', ' 1\n', '1\n')).toBe(false); // leading space matters
    expect(check('trailing_whitespace', '1\n\n2\n', '1\n2\n')).toBe(false); // inner blank line matters
    expect(check('trailing_whitespace', 'Yes\n', 'YES\n')).toBe(false);
    expect(checkOutput({ type: 'trailing_whitespace' }, '1\n3\n', '1\n2\n').message).toBe('line 2: expected "2", got "3"');
    expect(checkOutput({ type: 'trailing_whitespace' }, '1\n', '1\n2\n').message).toBe('line 2: expected "2", got end of output');
    expect(normalizedLines('a  \nb\r\n\n')).toEqual(['a', 'b']);
  });

  it('tokens ignores all whitespace layout', () => {
    expect(check('tokens', '1   2\n\n3', '1 2 3\n')).toBe(true);
    expect(check('tokens', '1 2', '1 2 3')).toBe(false);
    expect(checkOutput({ type: 'tokens' }, '1 2', '1 2 3').message).toBe('expected 3 tokens, got 2');
  });

  it('case_insensitive compares tokens ignoring case', () => {
    expect(check('case_insensitive', 'yes\nNO', 'YES no')).toBe(true);
    expect(check('case_insensitive', 'yes', 'yess')).toBe(false);
  });

  it('float accepts within the absolute or the relative tolerance', () => {
    expect(checkOutput({ type: 'float' }, '0.3333333', '0.33333333333').accepted).toBe(true);
    expect(checkOutput({ type: 'float' }, '0.3334', '0.3333').accepted).toBe(false);
    expect(checkOutput({ type: 'float', absTolerance: 1e-3 }, '0.3334', '0.3333').accepted).toBe(true);
    expect(checkOutput({ type: 'float', absTolerance: 0, relTolerance: 1e-3 }, '1000.5', '1000').accepted).toBe(true);
    expect(checkOutput({ type: 'float', absTolerance: 0, relTolerance: 1e-4 }, '1000.5', '1000').accepted).toBe(false);
    expect(checkOutput({ type: 'float' }, '1e3 x', '1000 x').accepted).toBe(true);
    expect(checkOutput({ type: 'float' }, '1000 y', '1000 x').accepted).toBe(false); // words stay exact
    expect(floatsEqual('nan', 'NaN', 0, 0)).toBe(true);
    expect(floatsEqual('inf', 'Infinity', 0, 0)).toBe(true);
    expect(floatsEqual('-inf', 'inf', 1, 1)).toBe(false);
    expect(floatsEqual('0.1', '0.1000001', 1e-6, 0)).toBe(true); // the tolerance itself is inclusive
    expect(checkOutput({ type: 'float' }, '1 2', '1 2.5').message).toMatch(/token 2: expected "2.5" \(within abs 0.000001 \/ rel 0.000001\), got "2"/);
  });
});

describe('verdicts', () => {
  it('what the run did comes before the output', () => {
    expect(runVerdict(stage())).toBeNull();
    expect(runVerdict(stage({ status: 'time_limit' }))?.verdict).toBe('time_limit');
    expect(runVerdict(stage({ status: 'memory_limit' }))?.verdict).toBe('memory_limit');
    expect(runVerdict(stage({ status: 'output_limit' }))?.verdict).toBe('output_limit');
    expect(runVerdict(stage({ status: 'runtime_error', exitCode: 3 }))).toEqual({ verdict: 'runtime_error', message: 'exited with status 3' });
    expect(runVerdict(stage({ status: 'runtime_error', exitCode: null, signal: 'SIGSEGV' }))).toEqual({ verdict: 'runtime_error', message: 'killed by SIGSEGV' });
    expect(runVerdict(stage({ status: 'internal_error' }))?.verdict).toBe('internal_error');
  });

  it("a custom checker's exit: 0 accepts, 1 and 2 reject with its message, anything else is its own failure", () => {
    expect(customCheck(stage())).toEqual({ accepted: true, message: null });
    expect(customCheck(stage({ status: 'runtime_error', exitCode: 1, stderr: '\nwrong answer 1st numbers differ\nmore' }))).toEqual({
      accepted: false,
      message: 'wrong answer 1st numbers differ',
    });
    expect(customCheck(stage({ status: 'runtime_error', exitCode: 2, stdout: 'presentation' }))).toEqual({ accepted: false, message: 'presentation' });
    expect(customCheck(stage({ status: 'runtime_error', exitCode: 3, stderr: 'FAIL bad answer file' }))).toEqual({
      failed: 'the checker failed (exit 3): FAIL bad answer file',
    });
    expect(customCheck(stage({ status: 'time_limit' }))).toEqual({ failed: 'the checker failed (time_limit)' });
  });

  it('previews never split a character', () => {
    expect(preview('héllo', 2)).toEqual({ text: 'h', cut: true });
    expect(preview('héllo', 3)).toEqual({ text: 'hé', cut: true });
    expect(preview('hi', 2)).toEqual({ text: 'hi', cut: false });
  });

  it('sums the stages: CPU and wall time added, memory the peak', () => {
    const sum = sumStages([stage({ cpuTimeMs: 3, wallTimeMs: 4, memoryBytes: 10 }), stage({ cpuTimeMs: 5, wallTimeMs: 6, memoryBytes: 7 })]);
    expect(sum).toMatchObject({ status: 'ok', cpuTimeMs: 8, wallTimeMs: 10, memoryBytes: 10 });
    expect(sumStages([stage(), stage({ status: 'internal_error' })]).status).toBe('internal_error');
  });

  it('the report: weights make the score, the first failure the verdict', () => {
    const specs = [spec({ weight: 0.1 }), spec({ weight: 0.2 }), spec({ weight: 3 })];
    const r = judgeReport(
      [
        { ...caseOf(0, 'accepted', 0.1) },
        { ...caseOf(1, 'accepted', 0.2) },
        { ...caseOf(2, 'wrong_answer', 0) },
      ],
      specs,
    );
    expect(r).toMatchObject({ verdict: 'wrong_answer', score: 0.3, maxScore: 3.3, passed: 2, total: 3 });
  });
});

function spec(over: Partial<JudgeCaseSpec> = {}): JudgeCaseSpec {
  return { stdin: Buffer.from('1 2\n').toString('base64'), expected: Buffer.from('3\n').toString('base64'), limits: DEFAULT_LIMITS.run, weight: 1, ...over };
}

function caseOf(index: number, verdict: 'accepted' | 'wrong_answer', score: number) {
  return {
    index,
    name: null,
    verdict,
    weight: score,
    score,
    exitCode: 0,
    signal: null,
    cpuTimeMs: 1,
    wallTimeMs: 1,
    memoryBytes: 1,
    stdout: '',
    stdoutTruncated: false,
    stderr: '',
    stderrTruncated: false,
    checkerMessage: null,
  };
}

function judgeSpec(over: Partial<JudgeSpec> = {}): JudgeSpec {
  return { cases: [spec(), spec(), spec()], checker: { type: 'trailing_whitespace' }, stopOnFirstFailure: false, totalTimeMs: null, previewBytes: 1024, ...over };
}

/** A CaseIO whose runs answer from a list (output and wall time), recording the limits each case got. */
function fakeIO(runs: Partial<StageResult>[], checkFails = false) {
  const limits: number[] = [];
  const io: CaseIO = {
    run: async (_c, i, l) => {
      limits.push(l.wallTimeMs);
      return stage(runs[i]);
    },
    check: async (c, _i, actual) =>
      checkFails
        ? { outcome: { failed: 'the checker failed (exit 3)' }, stage: stage({ cpuTimeMs: 1 }) }
        : { outcome: checkOutput({ type: 'trailing_whitespace' }, actual, Buffer.from(c.expected!, 'base64').toString()) },
  };
  return { io, limits };
}

describe('the case loop', () => {
  it('judges every case in order and reports each as decided', async () => {
    const { io } = fakeIO([{ stdout: '3\n' }, { stdout: '4\n' }, { status: 'runtime_error', exitCode: 1, stdout: '3\n' }]);
    const seen: string[] = [];
    const { report, stages } = await judgeCases(judgeSpec(), io, (c) => seen.push(c.verdict));
    expect(seen).toEqual(['accepted', 'wrong_answer', 'runtime_error']);
    expect(report).toMatchObject({ verdict: 'wrong_answer', score: 1, maxScore: 3, passed: 1 });
    expect(report.cases[1]!.checkerMessage).toBe('line 1: expected "3", got "4"');
    expect(stages).toHaveLength(3);
  });

  it('a case without expected output is accepted on a clean exit', async () => {
    const { io } = fakeIO([{ stdout: 'anything' }]);
    const { report } = await judgeCases(judgeSpec({ cases: [spec({ expected: null })] }), io, () => undefined);
    expect(report.verdict).toBe('accepted');
  });

  it('stopOnFirstFailure skips the cases after the first failure', async () => {
    const { io } = fakeIO([{ stdout: '9\n' }, { stdout: '3\n' }, { stdout: '3\n' }]);
    const { report, stages } = await judgeCases(judgeSpec({ stopOnFirstFailure: true }), io, () => undefined);
    expect(report.cases.map((c) => c.verdict)).toEqual(['wrong_answer', 'skipped', 'skipped']);
    expect(report.cases[1]!.checkerMessage).toBe('stopped after case 0 failed');
    expect(stages).toHaveLength(1);
  });

  it('the total time budget caps each case and skips the rest once spent', async () => {
    const { io, limits } = fakeIO([{ stdout: '3\n', wallTimeMs: 700 }, { stdout: '3\n', wallTimeMs: 300 }, { stdout: '3\n' }]);
    const { report } = await judgeCases(judgeSpec({ totalTimeMs: 1000 }), io, () => undefined);
    expect(limits).toEqual([1000, 300]);
    expect(report.cases.map((c) => c.verdict)).toEqual(['accepted', 'accepted', 'skipped']);
    expect(report.verdict).toBe('time_limit');
  });

  it("a checker's failure is the case's internal_error, never the submission's wrong answer", async () => {
    const { io } = fakeIO([{ stdout: '3\n' }], true);
    const { report, stages } = await judgeCases(judgeSpec({ cases: [spec()] }), io, () => undefined);
    expect(report.cases[0]).toMatchObject({ verdict: 'internal_error', checkerMessage: 'the checker failed (exit 3)' });
    expect(stages).toHaveLength(2); // the checker's run is accounted too
  });
});

describe('prepareJudge', () => {
  const ctx = { runtimes: new FakeExecutor(), policy: { ...BUILTIN_POLICY, maxLimits: MAX_LIMITS } };
  const body = (over: Partial<JudgeBody> = {}): JudgeBody => ({
    language: 'python',
    files: [{ content: 'print(sum(map(int, input().split())))' }],
    cases: [{ stdin: '1 2\n', expected: '3\n' }, { stdin: 'MSAy', expected: 'Mwo=', encoding: 'base64', weight: 2, limits: { cpuTimeMs: 5000 } }],
    ...over,
  });

  it('resolves each case: decoded, its limits within the ceiling, the sandbox sized for the largest', () => {
    const prepared = prepareJudge(body(), ctx);
    const judge = prepared.judge!;
    expect(judge.cases.map((c) => Buffer.from(c.stdin, 'base64').toString())).toEqual(['1 2\n', '1 2']);
    expect(judge.cases[1]!.expected).toBe(Buffer.from('3\n').toString('base64'));
    expect(judge.cases[0]!.limits.cpuTimeMs).toBe(DEFAULT_LIMITS.run.cpuTimeMs);
    expect(judge.cases[1]!.limits.cpuTimeMs).toBe(5000);
    expect(judge.cases.map((c) => c.weight)).toEqual([1, 2]);
    expect(prepared.limits.run.cpuTimeMs).toBe(5000);
    expect(judge).toMatchObject({ checker: { type: 'trailing_whitespace' }, stopOnFirstFailure: false, totalTimeMs: null, previewBytes: 1024 });
  });

  it('refuses a case limit above the maximum, naming the case', () => {
    const err = catchError(() => prepareJudge(body({ cases: [{ stdin: '', limits: { cpuTimeMs: MAX_LIMITS.run.cpuTimeMs + 1 } }] }), ctx));
    expect(err.code).toBe('LIMIT_EXCEEDS_MAXIMUM');
    expect(err.details).toEqual({ violations: [{ field: 'cases[0].limits.cpuTimeMs', requested: MAX_LIMITS.run.cpuTimeMs + 1, maximum: MAX_LIMITS.run.cpuTimeMs }] });
  });

  it('refuses bad encodings and unknown languages the way /v1/execute does', () => {
    expect(catchError(() => prepareJudge(body({ cases: [{ stdin: '!!', encoding: 'base64' }] }), ctx)).code).toBe('INVALID_ENCODING');
    expect(catchError(() => prepareJudge(body({ language: 'cobol' }), ctx)).code).toBe('UNKNOWN_LANGUAGE');
    const checker = { type: 'custom' as const, language: 'cobol', files: [{ content: 'x' }] };
    const err = catchError(() => prepareJudge(body({ checker }), ctx));
    expect(err.code).toBe('UNKNOWN_LANGUAGE');
    expect(err.message).toMatch(/^checker: /);
  });

  it('prepares a custom checker like a submission of its own, keeping its input names free', () => {
    const checker = { type: 'custom' as const, language: 'bash', files: [{ content: 'cmp -s "$2" "$3"' }] };
    const spec = prepareJudge(body({ checker }), ctx).judge!.checker;
    expect(spec).toMatchObject({ type: 'custom', runtime: { name: 'bash', version: '5.2.15' }, limits: DEFAULT_LIMITS.run });
    const clash = { ...checker, files: [{ name: 'expected.txt', content: 'x' }] };
    expect(catchError(() => prepareJudge(body({ checker: clash }), ctx)).message).toMatch(/reserved/);
  });
});

function catchError(fn: () => unknown): PolyrunError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PolyrunError);
    return err as PolyrunError;
  }
  throw new Error('expected an error');
}
