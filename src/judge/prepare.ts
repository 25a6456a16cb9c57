/**
 * Validation of a judge request, done once like every request's: the submission goes through
 * prepareExecution (runtime, files, limits, network), then each case is decoded and its limits resolved
 * against the same ceiling, and a custom checker is prepared like a submission of its own. The result is a
 * PreparedExecution carrying the judge spec, so it becomes a job like any other. Pure; throws PolyrunErrors.
 */
import { errors, type LimitViolationDetail } from '../contract/errors.js';
import type { ExecuteBody } from '../contract/request.js';
import { LIMIT_FIELDS, resolveLimits, type LimitTable, type StageLimits } from '../limits/limits.js';
import { decodeContent, minLimits, prepareExecution, type PrepareContext, type PreparedExecution } from '../pipeline/prepare.js';
import { DEFAULT_BOUNDS } from '../limits/limits.js';
import { CHECKER_FILES } from './checker-files.js';
import { JUDGE_BOUNDS, type CheckerSpec, type JudgeBody, type JudgeCaseSpec } from './schema.js';

export const DEFAULT_CHECKER: CheckerSpec = { type: 'trailing_whitespace' };

export function prepareJudge(body: JudgeBody, ctx: PrepareContext): PreparedExecution {
  const { cases, checker, stopOnFirstFailure, totalTimeMs, previewBytes, ...solution } = body;
  const prepared = prepareExecution(solution as ExecuteBody, ctx);
  if (!Array.isArray(cases) || cases.length === 0) throw errors.validationFailed('cases: at least one test case is required');
  if (cases.length > JUDGE_BOUNDS.maxCases) throw errors.validationFailed(`cases: at most ${JUDGE_BOUNDS.maxCases} test cases (got ${cases.length})`);

  const maximum = minLimits(ctx.policy.maxLimits, prepared.runtime.limits.maximum);
  const bounds = ctx.bounds ?? DEFAULT_BOUNDS;
  let caseBytes = 0;
  const specs: JudgeCaseSpec[] = cases.map((c, i) => {
    const encoding = c.encoding ?? 'utf8';
    const stdin = decodeContent(c.stdin ?? '', encoding, `cases[${i}].stdin`);
    const expected = c.expected === undefined ? null : decodeContent(c.expected, encoding, `cases[${i}].expected`);
    if (stdin.length > bounds.maxStdinBytes) throw errors.stdinTooLarge(stdin.length, bounds.maxStdinBytes);
    caseBytes += stdin.length + (expected?.length ?? 0);
    const resolution = resolveLimits({ defaults: prepared.limits, request: c.limits ? { run: c.limits } : {}, maximum });
    if (!resolution.ok) {
      const details: LimitViolationDetail[] = resolution.violations.map((v) => ({ field: `cases[${i}].limits.${v.field}`, requested: v.requested, maximum: v.maximum }));
      throw errors.limitExceedsMaximum(
        details.map((d) => `${d.field} = ${d.requested} exceeds the allowed maximum of ${d.maximum}`).join('; '),
        details,
      );
    }
    return {
      ...(c.name !== undefined ? { name: c.name } : {}),
      stdin: stdin.toString('base64'),
      expected: expected === null ? null : expected.toString('base64'),
      limits: resolution.limits.run,
      weight: c.weight ?? 1,
    };
  });
  if (caseBytes > JUDGE_BOUNDS.maxCaseBytes) {
    throw errors.validationFailed(`cases: stdin and expected outputs total ${caseBytes} bytes, more than the ${JUDGE_BOUNDS.maxCaseBytes} allowed`);
  }

  return {
    ...prepared,
    // The sandbox is sized for the largest case; each case's stage gets its own limits.
    limits: { compile: prepared.limits.compile, run: largest(specs.map((s) => s.limits)) },
    judge: {
      cases: specs,
      checker: prepareChecker(checker, ctx),
      stopOnFirstFailure: stopOnFirstFailure ?? false,
      totalTimeMs: totalTimeMs ?? null,
      previewBytes: previewBytes ?? JUDGE_BOUNDS.defaultPreviewBytes,
    },
  };
}

function largest(all: StageLimits[]): StageLimits {
  return Object.fromEntries(LIMIT_FIELDS.map((f) => [f, Math.max(...all.map((l) => l[f]))])) as unknown as StageLimits;
}

function prepareChecker(checker: JudgeBody['checker'], ctx: PrepareContext): CheckerSpec {
  if (!checker) return DEFAULT_CHECKER;
  if (checker.type !== 'custom') return checker;
  const reserved = new Set<string>(Object.values(CHECKER_FILES));
  checker.files.forEach((f, i) => {
    if (f.name !== undefined && reserved.has(f.name)) {
      throw errors.validationFailed(`checker.files[${i}].name: "${f.name}" is reserved for the checker's inputs`);
    }
  });
  let prepared: PreparedExecution;
  try {
    prepared = prepareExecution(
      { language: checker.language, ...(checker.version ? { version: checker.version } : {}), files: checker.files, ...(checker.limits ? { limits: checker.limits } : {}) },
      ctx,
    );
  } catch (err) {
    // Say which program of the request the problem is in.
    if (err instanceof Error) err.message = `checker: ${err.message}`;
    throw err;
  }
  const limits: LimitTable = prepared.limits;
  return {
    type: 'custom',
    runtime: { name: prepared.runtime.name, version: prepared.runtime.version },
    files: prepared.files.map((f) => ({ ...(f.name ? { name: f.name } : {}), content: f.content.toString('base64') })),
    limits: limits.run,
    compileLimits: limits.compile,
  };
}
