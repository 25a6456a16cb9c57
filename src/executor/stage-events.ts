/**
 * One stage in a sandbox, published as events: `stage`, output chunks as text (a decoder per stream, so a
 * character split across chunks is never mangled), `exit` (status and accounting; the output already went
 * out as chunks). A sandbox failure of polyrun's own (not a limit, not the caller's abort) is reported to
 * `onSandboxFailure`, whose notice (a reference, never the detail) is appended to the stage's stderr.
 * Used by the execution runner and by session execs.
 */
import { StringDecoder } from 'node:string_decoder';
import type { ExecutionEvent, StageName } from '../contract/events.js';
import type { StageResult } from '../contract/result.js';
import type { RunningStage, Sandbox, StageCommand } from '../sandbox/sandbox.js';
import { toStageResult } from './stage-result.js';

export interface StageEventsOptions {
  signal: AbortSignal;
  emit: (event: ExecutionEvent) => void;
  /** Returns the notice the tenant sees for a sandbox failure (the detail goes to the log). */
  onSandboxFailure: (error: string, stage: StageName) => string;
  /** The running stage, while it runs (stdin and signals are relayed to it). */
  onRunning?: (running: RunningStage) => void;
  onEnded?: () => void;
  /** Keep the sandbox when a limit ends the stage (sessions): only the stage's processes are killed. */
  keepSandbox?: boolean;
}

export async function runStageWithEvents(
  sandbox: Sandbox,
  stage: StageName,
  command: StageCommand,
  options: StageEventsOptions,
): Promise<StageResult> {
  const { emit } = options;
  emit({ type: 'stage', stage });
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  const publish = (stream: 'stdout' | 'stderr', text: string) => {
    if (text) emit({ type: stream, stage, data: text });
  };
  const running = sandbox.startStage(
    command,
    { signal: options.signal, onOutput: (stream, chunk) => publish(stream, decoders[stream].write(chunk)) },
    options.keepSandbox ? { sandbox: true } : {},
  );
  options.onRunning?.(running);
  const outcome = await running.done.finally(() => options.onEnded?.());
  publish('stdout', decoders.stdout.end());
  publish('stderr', decoders.stderr.end());
  const result = toStageResult(outcome);
  if (result.status === 'internal_error' && outcome.sandboxError !== null && outcome.killedFor !== 'aborted') {
    const notice = options.onSandboxFailure(outcome.sandboxError, stage);
    publish('stderr', notice);
    result.stderr += notice;
    result.output = (result.output ?? '') + notice;
  }
  emit({ type: 'exit', stage, result: withoutOutput(result) });
  return result;
}

/** The `exit` event's copy of a stage: status and accounting without the output. */
export function withoutOutput(result: StageResult): StageResult {
  const { output: _output, ...rest } = result;
  return { ...rest, stdout: '', stderr: '' };
}
