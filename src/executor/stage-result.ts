/**
 * Stage results of the result contract, from a sandbox's StageOutcome or for the stages that never ran in
 * a sandbox (a cached compile, an internal failure). Pure.
 *
 * A failure of polyrun's own (the OCI runtime, cgroups, polyrun-init) is described to the tenant only by a
 * generic sentence with a reference: its detail names host paths (the runtime binary, the state dir, the
 * bundle), so it goes to the operator's log under the same reference and never into a result.
 */
import type { StageResult } from '../contract/result.js';
import { stageStatus } from '../limits/status.js';
import type { StageOutcome } from '../sandbox/sandbox.js';

export function toStageResult(o: StageOutcome): StageResult {
  return {
    status: stageStatus(o),
    exitCode: o.exitCode,
    signal: o.signal,
    stdout: o.stdout.toString('utf8'),
    stderr: o.stderr.toString('utf8'),
    stdoutTruncated: o.stdoutTruncated,
    stderrTruncated: o.stderrTruncated,
    cpuTimeMs: o.cpuTimeMs,
    wallTimeMs: o.wallTimeMs,
    memoryBytes: o.memoryBytes,
    output: o.output.toString('utf8'),
  };
}

const EMPTY_STAGE: StageResult = {
  status: 'ok',
  exitCode: 0,
  signal: null,
  stdout: '',
  stderr: '',
  stdoutTruncated: false,
  stderrTruncated: false,
  cpuTimeMs: 0,
  wallTimeMs: 0,
  memoryBytes: 0,
};

/** A compile restored from the cache: its output and, when the entry kept them, the original compile's figures. */
export function cachedStage(stdout: string, stderr: string, figures?: { cpuTimeMs: number; wallTimeMs: number; memoryBytes: number }): StageResult {
  return { ...EMPTY_STAGE, stdout, stderr, ...(figures ?? {}), cached: true };
}

/** What a tenant reads about a sandbox failure: no detail, a reference to quote (the execution's id). */
export function sandboxFailureNotice(reference: string): string {
  return `polyrun: the sandbox failed (reference ${reference}); the operator's log has the details\n`;
}

/** The stage of an execution that failed before or outside its stages (the sandbox did not start...). */
export function internalErrorStage(reference: string): StageResult {
  return { ...EMPTY_STAGE, status: 'internal_error', exitCode: null, stderr: sandboxFailureNotice(reference) };
}
