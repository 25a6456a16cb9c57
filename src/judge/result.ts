/**
 * An execution result of a judge job as the API answers it (JudgeResult): the result contract's fields with
 * the report's. A job that failed before judging (no report) answers internal_error with no case. Pure.
 */
import type { IdentifiedResult } from '../pipeline/execution.js';
import type { JudgeReport, JudgeResult } from './schema.js';

export function toJudgeResult(result: IdentifiedResult & { judge?: JudgeReport }): JudgeResult {
  const { id, language, version, status, compile, run, judge } = result;
  const report: JudgeReport = judge ?? { verdict: 'internal_error', score: 0, maxScore: 0, passed: 0, total: 0, cases: [] };
  return { id, language, version, status, compile, run, ...report };
}
