/**
 * Cells, the pure part: the request and answer schemas (TypeBox; types derived) and the rule that turns
 * what happened to a cell into its status. No I/O.
 */
import { Type, type Static } from '@sinclair/typebox';
import { STAGE_STATUSES, type StageStatus } from '../contract/result.js';
import { StageLimitsOverrideSchema } from '../limits/limits.js';
import { KERNEL_LANGUAGES } from './kernels.js';

export const CellBodySchema = Type.Object(
  {
    code: Type.String({ maxLength: 1024 * 1024, description: "the cell's source" }),
    language: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: `the kernel's language (${KERNEL_LANGUAGES.join(', ')}); default python` }),
    ),
    limits: Type.Optional(StageLimitsOverrideSchema),
  },
  { additionalProperties: false },
);
export type CellBody = Static<typeof CellBodySchema>;

export const CellErrorSchema = Type.Object({
  name: Type.String({ description: 'the exception class, e.g. ZeroDivisionError; KernelDied when the kernel process ended' }),
  message: Type.String(),
  traceback: Type.String({ description: "the cell's frames only" }),
});
export type CellError = Static<typeof CellErrorSchema>;

export const KERNEL_STATES = ['idle', 'busy', 'dead'] as const;
export type KernelState = (typeof KERNEL_STATES)[number];

export const KernelViewSchema = Type.Object({
  language: Type.String(),
  state: Type.Union(KERNEL_STATES.map((s) => Type.Literal(s))),
  executionCount: Type.Integer({ description: 'cells this kernel process has run' }),
  startedAt: Type.String({ description: 'ISO time the kernel process started' }),
  restarts: Type.Integer({ description: 'kernels of this session that died before this one' }),
});
export type KernelView = Static<typeof KernelViewSchema>;

export const CellResultSchema = Type.Object({
  status: Type.Union(STAGE_STATUSES.map((s) => Type.Literal(s)), {
    description:
      'ok; runtime_error (the cell raised, or the kernel died); time_limit / output_limit (the cell was interrupted); memory_limit (the kernel was OOM-killed)',
  }),
  language: Type.String(),
  executionCount: Type.Integer({ description: "the cell's number in its kernel (1 after a restart)" }),
  stdout: Type.String(),
  stderr: Type.String(),
  stdoutTruncated: Type.Boolean(),
  stderrTruncated: Type.Boolean(),
  value: Type.Union([Type.String(), Type.Null()], { description: "the last expression's value, as the language shows it (repr, util.inspect)" }),
  error: Type.Union([CellErrorSchema, Type.Null()]),
  cpuTimeMs: Type.Integer(),
  wallTimeMs: Type.Integer(),
  memoryBytes: Type.Integer({ description: "the kernel's peak memory during the cell" }),
  kernel: Type.Object({
    state: Type.Union(KERNEL_STATES.map((s) => Type.Literal(s)), { description: 'dead: the next cell starts a fresh kernel' }),
    restarted: Type.Boolean({ description: 'this cell started a new kernel because the previous one died: earlier state is gone' }),
  }),
});
export type CellResult = Static<typeof CellResultSchema>;

/** Why the host interrupted a cell, if it did. */
export type Interruption = 'time' | 'output' | 'aborted' | null;

/** A cell's status from how it ended: the host's reason first, then the kernel's death, then the code. */
export function cellStatus(f: { interrupted: Interruption; kernelDied: boolean; oomKilled: boolean; raised: boolean }): StageStatus {
  if (f.oomKilled) return 'memory_limit';
  if (f.interrupted === 'time') return 'time_limit';
  if (f.interrupted === 'output') return 'output_limit';
  if (f.interrupted === 'aborted') return 'internal_error';
  if (f.kernelDied || f.raised) return 'runtime_error';
  return 'ok';
}

/** The driver's reply line, checked: anything else is a broken kernel. */
export function parseReply(line: string): { count: number; value: string | null; error: CellError | null } | null {
  try {
    const r = JSON.parse(line) as { count?: unknown; value?: unknown; error?: unknown };
    if (typeof r.count !== 'number') return null;
    const value = typeof r.value === 'string' ? r.value : null;
    const e = r.error as Partial<CellError> | null;
    const error =
      e && typeof e === 'object'
        ? { name: String(e.name ?? 'Error'), message: String(e.message ?? ''), traceback: String(e.traceback ?? '') }
        : null;
    return { count: r.count, value, error };
  } catch {
    return null;
  }
}
