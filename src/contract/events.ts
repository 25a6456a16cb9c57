/**
 * What an execution reports while it runs, and what a caller may send it while it runs. Plain JSON: events
 * and control messages travel between processes (queue workers, API nodes, SSE and WebSocket clients).
 *
 * Order of events: for each stage `stage`, then any number of `stdout` / `stderr` chunks in arrival order,
 * then `exit`; last of all `result`, carrying the unchanged result contract. A cached compile has `stage`
 * and `exit` but no output chunks.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { CaseResult } from '../judge/schema.js';
import type { ExecutionResult, StageResult } from './result.js';

export type StageName = 'compile' | 'run';

export type ExecutionEvent =
  | { type: 'stage'; stage: StageName }
  | { type: 'stdout'; stage: StageName; data: string }
  | { type: 'stderr'; stage: StageName; data: string }
  | { type: 'exit'; stage: StageName; result: StageResult }
  | { type: 'result'; result: ExecutionResult }
  /** A judge's case, as soon as its verdict is decided (judge jobs only; between the compile's `exit` and `result`). */
  | { type: 'case'; case: CaseResult };

export type ExecutionEventType = ExecutionEvent['type'];

/** Signals a caller may send to a running stage's process group. */
export const STAGE_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
export type StageSignal = (typeof STAGE_SIGNALS)[number];

export const ExecutionControlSchema = Type.Union([
  Type.Object(
    { type: Type.Literal('stdin'), data: Type.String({ description: 'bytes for the run stage, base64' }) },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('stdin_end') }, { additionalProperties: false }),
  Type.Object(
    { type: Type.Literal('signal'), signal: Type.Union(STAGE_SIGNALS.map((s) => Type.Literal(s))) },
    { additionalProperties: false },
  ),
]);
/**
 * Sent to a running execution: stdin bytes for the run stage (written in order; sent before the run stage
 * starts they wait for it), end of input, or a signal to the current stage's process group.
 */
export type ExecutionControl = Static<typeof ExecutionControlSchema>;
