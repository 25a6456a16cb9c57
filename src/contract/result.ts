/**
 * The execution result contract. Field names are a public contract shared by the CLI (`--json`), the HTTP
 * API and the queue: add fields, never rename.
 */

/** Status of one stage (compile or run). */
export type StageStatus =
  | 'ok'
  | 'runtime_error'
  | 'time_limit'
  | 'memory_limit'
  | 'output_limit'
  | 'internal_error';

/** Status of the whole execution. */
export type ExecutionStatus = StageStatus | 'compile_error';

export interface StageResult {
  status: StageStatus;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  cpuTimeMs: number;
  wallTimeMs: number;
  /** Peak memory of the whole process tree of this stage, in bytes. */
  memoryBytes: number;
  /** Only on compile stages: true when the compile output came from the compile cache. */
  cached?: boolean;
  /** stdout and stderr interleaved in arrival order (used by the Piston-compatible API). */
  output?: string;
}

export interface ExecutionResult {
  language: string;
  version: string;
  status: ExecutionStatus;
  compile: StageResult | null;
  run: StageResult | null;
}

export const STAGE_STATUSES: readonly StageStatus[] = [
  'ok',
  'runtime_error',
  'time_limit',
  'memory_limit',
  'output_limit',
  'internal_error',
];
