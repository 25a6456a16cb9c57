/** Small readers of execution results shared by the sandbox test files. */
import type { ExecutionResult, StageResult } from '../../src/contract/result.js';

/** The run stage, or a failure naming the whole result when there is none. */
export function run(r: ExecutionResult): StageResult {
  if (!r.run) throw new Error(`no run stage: ${JSON.stringify(r)}`);
  return r.run;
}

/** name=value lines of a program's stdout. */
export function lines(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}
