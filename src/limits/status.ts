/**
 * Status mapping: what happened to a stage -> its status, and stages -> the execution's status.
 * Pure. The order of the checks is the contract: an abort by the caller first, then the limit the host
 * enforced (it knows why it killed), then the kernel's OOM kill, then a sandbox failure (a kill for a limit
 * can break the channel too, so the limit is the better answer), then what the program did (SIGXCPU is a
 * time limit, any other signal or a non-zero exit a runtime error).
 */
import type { ExecutionStatus, StageResult, StageStatus } from '../contract/result.js';

export type KillReason = 'cpu' | 'wall' | 'output' | 'aborted';

export interface StageFacts {
  exitCode: number | null;
  signal: string | null;
  /** Why the host killed the sandbox, if it did. */
  killedFor: KillReason | null;
  /** The cgroup's OOM-kill counter went up during the stage. */
  oomKilled: boolean;
  /** The sandbox failed for a reason that is not the program's (runtime error, lost channel...). */
  sandboxError: string | null;
}

export function stageStatus(f: StageFacts): StageStatus {
  if (f.killedFor === 'aborted') return 'internal_error';
  if (f.killedFor === 'output') return 'output_limit';
  if (f.killedFor === 'cpu' || f.killedFor === 'wall') return 'time_limit';
  if (f.oomKilled) return 'memory_limit';
  if (f.sandboxError) return 'internal_error';
  if (f.signal === 'SIGXCPU') return 'time_limit';
  if (f.signal !== null) return 'runtime_error';
  if (f.exitCode !== 0) return 'runtime_error';
  return 'ok';
}

/** A failed compile makes the whole execution a compile_error unless a limit or polyrun itself caused it. */
export function executionStatus(compile: StageResult | null, run: StageResult | null): ExecutionStatus {
  if (compile && compile.status !== 'ok') {
    return compile.status === 'runtime_error' ? 'compile_error' : compile.status;
  }
  return run?.status ?? 'internal_error';
}
