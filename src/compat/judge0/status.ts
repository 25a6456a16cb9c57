/**
 * Judge0's statuses (ids 1-14, its descriptions) and a polyrun result as Judge0's output fields, pure.
 *
 * Where polyrun knows more than Judge0 says, Judge0's answer is kept and polyrun's goes in an extra field,
 * `polyrun_status`: a memory kill is Judge0's runtime error (it has no memory status; in practice a
 * SIGKILL'd program) and an output cap is its SIGXFSZ. Signals are reported as Judge0 documents them
 * (statuses 7-10, 12 with exit_signal), not as its bash wrapper turns them into NZEC 128+N.
 */
import { constants } from 'node:os';
import type { ExecutionResult, StageResult } from '../../contract/result.js';
import { outputAccepted } from './compare.js';

export const STATUSES = [
  { id: 1, description: 'In Queue' },
  { id: 2, description: 'Processing' },
  { id: 3, description: 'Accepted' },
  { id: 4, description: 'Wrong Answer' },
  { id: 5, description: 'Time Limit Exceeded' },
  { id: 6, description: 'Compilation Error' },
  { id: 7, description: 'Runtime Error (SIGSEGV)' },
  { id: 8, description: 'Runtime Error (SIGXFSZ)' },
  { id: 9, description: 'Runtime Error (SIGFPE)' },
  { id: 10, description: 'Runtime Error (SIGABRT)' },
  { id: 11, description: 'Runtime Error (NZEC)' },
  { id: 12, description: 'Runtime Error (Other)' },
  { id: 13, description: 'Internal Error' },
  { id: 14, description: 'Exec Format Error' },
] as const;

export type StatusId = (typeof STATUSES)[number]['id'];

export function statusOf(id: number): { id: number; description: string } {
  return STATUSES.find((s) => s.id === id) ?? STATUSES[12];
}

const SIGNAL_STATUS: Record<string, StatusId> = { SIGSEGV: 7, SIGXFSZ: 8, SIGFPE: 9, SIGABRT: 10 };

function signalNumber(name: string): number | null {
  return (constants.signals as Record<string, number>)[name] ?? null;
}

/** What a finished submission shows (the output fields Judge0 sets when a job ends). */
export interface Judge0Outcome {
  status_id: StatusId;
  stdout: string | null;
  stderr: string | null;
  compile_output: string | null;
  message: string | null;
  exit_code: number | null;
  exit_signal: number | null;
  time: number | null;
  wall_time: number | null;
  memory: number | null;
  /** polyrun's status when it says more than Judge0's (memory_limit, output_limit), else null. */
  polyrun_status: string | null;
}

const orNull = (s: string): string | null => (s === '' ? null : s);
const seconds = (ms: number): number => Math.round(ms) / 1000;

/** A polyrun result (and the submission's expected output and CPU limit) as Judge0's output fields. */
export function toJudge0Outcome(result: ExecutionResult, expected: string | null, cpuLimitMs: number): Judge0Outcome {
  const compile = result.compile;
  const compileOutput = compile ? orNull(compile.stdout + compile.stderr) : null;
  const base = { compile_output: compileOutput, polyrun_status: null };
  if (compile && compile.status !== 'ok' && result.status !== 'internal_error') {
    const timedOut = compile.status === 'time_limit';
    return {
      ...base,
      status_id: 6,
      compile_output: timedOut ? 'Compilation time limit exceeded.' : compileOutput,
      stdout: null,
      stderr: null,
      message: null,
      exit_code: null,
      exit_signal: null,
      time: null,
      wall_time: null,
      memory: null,
      ...(compile.status === 'memory_limit' || compile.status === 'output_limit' ? { polyrun_status: compile.status } : {}),
    };
  }
  const run = result.run;
  if (result.status === 'internal_error' || !run) {
    return { ...base, status_id: 13, stdout: null, stderr: null, message: 'Internal Error', exit_code: null, exit_signal: null, time: null, wall_time: null, memory: null };
  }
  const figures = {
    stdout: orNull(run.stdout),
    stderr: orNull(run.stderr),
    time: seconds(run.cpuTimeMs),
    wall_time: seconds(run.wallTimeMs),
    memory: Math.round(run.memoryBytes / 1024),
  };
  return { ...base, ...figures, ...runVerdict(run, expected, cpuLimitMs) };
}

function runVerdict(
  run: StageResult,
  expected: string | null,
  cpuLimitMs: number,
): Pick<Judge0Outcome, 'status_id' | 'message' | 'exit_code' | 'exit_signal' | 'polyrun_status'> {
  switch (run.status) {
    case 'ok':
      return { status_id: outputAccepted(run.stdout, expected) ? 3 : 4, message: null, exit_code: 0, exit_signal: null, polyrun_status: null };
    case 'time_limit': {
      // Judge0 says which clock ran out; the CPU one when the CPU time reached its limit.
      const cpu = run.cpuTimeMs >= cpuLimitMs || run.signal === 'SIGXCPU';
      return { status_id: 5, message: cpu ? 'Time limit exceeded' : 'Time limit exceeded (wall clock)', exit_code: 0, exit_signal: null, polyrun_status: null };
    }
    case 'memory_limit':
      return { status_id: 12, message: 'Caught fatal signal 9', exit_code: 0, exit_signal: 9, polyrun_status: 'memory_limit' };
    case 'output_limit':
      return { status_id: 8, message: 'Caught fatal signal 25', exit_code: 0, exit_signal: 25, polyrun_status: 'output_limit' };
    case 'runtime_error':
      if (run.signal !== null) {
        const n = signalNumber(run.signal);
        return { status_id: SIGNAL_STATUS[run.signal] ?? 12, message: `Caught fatal signal ${n ?? run.signal}`, exit_code: 0, exit_signal: n, polyrun_status: null };
      }
      return { status_id: 11, message: `Exited with error status ${run.exitCode}`, exit_code: run.exitCode, exit_signal: null, polyrun_status: null };
    case 'internal_error':
      return { status_id: 13, message: 'Internal Error', exit_code: null, exit_signal: null, polyrun_status: null };
  }
}
