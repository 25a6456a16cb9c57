/**
 * Stage results of the result contract, from a sandbox's StageOutcome or for the stages that never ran in
 * a sandbox (a cached compile, an internal failure). Pure.
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

export function cachedStage(stdout: string, stderr: string): StageResult {
  return { ...EMPTY_STAGE, stdout, stderr, cached: true };
}

export function internalErrorStage(message: string): StageResult {
  return { ...EMPTY_STAGE, status: 'internal_error', exitCode: null, stderr: `polyrun: ${message}` };
}
