import { describe, expect, it } from 'vitest';
import type { StageResult, StageStatus } from '../../src/contract/result.js';
import { executionStatus, stageStatus, type StageFacts } from '../../src/limits/status.js';

const facts = (over: Partial<StageFacts> = {}): StageFacts => ({
  exitCode: 0,
  signal: null,
  killedFor: null,
  oomKilled: false,
  sandboxError: null,
  ...over,
});

describe('stageStatus', () => {
  it.each<[string, Partial<StageFacts>, StageStatus]>([
    ['clean exit', {}, 'ok'],
    ['non-zero exit', { exitCode: 1 }, 'runtime_error'],
    ['exit 255', { exitCode: 255 }, 'runtime_error'],
    ['killed by a signal', { exitCode: null, signal: 'SIGSEGV' }, 'runtime_error'],
    ['killed by seccomp', { exitCode: null, signal: 'SIGSYS' }, 'runtime_error'],
    ['RLIMIT_CPU backstop', { exitCode: null, signal: 'SIGXCPU' }, 'time_limit'],
    ['host killed for CPU', { exitCode: null, signal: 'SIGKILL', killedFor: 'cpu' }, 'time_limit'],
    ['host killed for wall time', { exitCode: null, signal: 'SIGKILL', killedFor: 'wall' }, 'time_limit'],
    ['host killed for output', { exitCode: null, signal: 'SIGKILL', killedFor: 'output' }, 'output_limit'],
    ['aborted by the caller', { exitCode: null, signal: 'SIGKILL', killedFor: 'aborted' }, 'internal_error'],
    ['OOM kill', { exitCode: null, signal: 'SIGKILL', oomKilled: true }, 'memory_limit'],
    ['OOM kill, program exited non-zero after a child was killed', { exitCode: 1, oomKilled: true }, 'memory_limit'],
    ['sandbox failure', { exitCode: null, sandboxError: 'channel closed' }, 'internal_error'],
    // Order: the reason the host killed for wins over what it looks like afterwards.
    ['wall kill beats OOM', { exitCode: null, signal: 'SIGKILL', killedFor: 'wall', oomKilled: true }, 'time_limit'],
    ['output kill beats a sandbox error', { exitCode: null, killedFor: 'output', sandboxError: 'x' }, 'output_limit'],
    ['abort beats everything', { exitCode: null, killedFor: 'aborted', oomKilled: true }, 'internal_error'],
    ['OOM beats a sandbox error', { exitCode: null, oomKilled: true, sandboxError: 'x' }, 'memory_limit'],
    ['sandbox error beats the exit code', { exitCode: 0, sandboxError: 'x' }, 'internal_error'],
    ['sandbox error beats SIGXCPU', { exitCode: null, signal: 'SIGXCPU', sandboxError: 'x' }, 'internal_error'],
  ])('%s', (_, over, expected) => {
    expect(stageStatus(facts(over))).toBe(expected);
  });
});

const stage = (status: StageStatus): StageResult => ({
  status,
  exitCode: status === 'ok' ? 0 : 1,
  signal: null,
  stdout: '',
  stderr: '',
  stdoutTruncated: false,
  stderrTruncated: false,
  cpuTimeMs: 0,
  wallTimeMs: 0,
  memoryBytes: 0,
});

describe('executionStatus', () => {
  it('is the run status when there is no compile stage', () => {
    for (const s of ['ok', 'runtime_error', 'time_limit', 'memory_limit', 'output_limit', 'internal_error'] as const) {
      expect(executionStatus(null, stage(s))).toBe(s);
    }
  });

  it('is the run status after a successful compile', () => {
    expect(executionStatus(stage('ok'), stage('ok'))).toBe('ok');
    expect(executionStatus(stage('ok'), stage('runtime_error'))).toBe('runtime_error');
    expect(executionStatus(stage('ok'), stage('memory_limit'))).toBe('memory_limit');
  });

  it('a compiler that fails is a compile_error', () => {
    expect(executionStatus(stage('runtime_error'), null)).toBe('compile_error');
  });

  it('a compile stopped by a limit or by polyrun keeps that status', () => {
    for (const s of ['time_limit', 'memory_limit', 'output_limit', 'internal_error'] as const) {
      expect(executionStatus(stage(s), null)).toBe(s);
    }
  });

  it('no stage at all is polyrun failing', () => {
    expect(executionStatus(null, null)).toBe('internal_error');
    expect(executionStatus(stage('ok'), null)).toBe('internal_error');
  });
});
