/**
 * A Judge0 submission: its input fields (validated, defaults applied), its state, and how it is shown
 * (the `fields` parameter, base64, decimals as strings). Pure.
 */
import { rubyEncode64 } from './base64.js';
import type { Judge0Outcome } from './status.js';
import { statusOf } from './status.js';

export interface SubmissionInput {
  source_code: string;
  language_id: number;
  compiler_options: string | null;
  command_line_arguments: string | null;
  stdin: string | null;
  expected_output: string | null;
  cpu_time_limit: number;
  cpu_extra_time: number;
  wall_time_limit: number;
  memory_limit: number;
  stack_limit: number;
  max_processes_and_or_threads: number;
  enable_per_process_and_thread_time_limit: boolean;
  enable_per_process_and_thread_memory_limit: boolean;
  max_file_size: number;
  redirect_stderr_to_stdout: boolean;
  enable_network: boolean;
  number_of_runs: number;
  additional_files: string | null;
  callback_url: string | null;
}

export interface SubmissionRecord {
  token: string;
  tenant: string;
  input: SubmissionInput;
  language: { id: number; name: string };
  status_id: number;
  outcome: Judge0Outcome | null;
  /** ms since the epoch */
  created_at: number;
  finished_at: number | null;
}

/** Every column Judge0 shows, in its column order (the order of keys in every answer). */
export const COLUMNS = [
  'source_code',
  'language_id',
  'stdin',
  'expected_output',
  'stdout',
  'status_id',
  'created_at',
  'finished_at',
  'time',
  'memory',
  'stderr',
  'token',
  'number_of_runs',
  'cpu_time_limit',
  'cpu_extra_time',
  'wall_time_limit',
  'memory_limit',
  'stack_limit',
  'max_processes_and_or_threads',
  'enable_per_process_and_thread_time_limit',
  'enable_per_process_and_thread_memory_limit',
  'max_file_size',
  'compile_output',
  'exit_code',
  'exit_signal',
  'message',
  'wall_time',
  'compiler_options',
  'command_line_arguments',
  'redirect_stderr_to_stdout',
  'callback_url',
  'additional_files',
  'enable_network',
  'status',
  'language',
  // polyrun's own, last: its status when it says more than Judge0's (memory_limit, output_limit)
  'polyrun_status',
] as const;
export type Column = (typeof COLUMNS)[number];

export const DEFAULT_FIELDS: readonly Column[] = ['token', 'time', 'memory', 'stdout', 'stderr', 'compile_output', 'message', 'status'];
const DECIMALS = new Set<Column>(['time', 'wall_time', 'cpu_time_limit', 'cpu_extra_time', 'wall_time_limit']);
const TEXTS = new Set<Column>(['source_code', 'stdin', 'expected_output', 'stdout', 'stderr', 'compile_output', 'message']);

/** The `fields` parameter: the columns to show, or the unknown names (Judge0 answers 400 for them). */
export function parseFields(raw: unknown): { fields: Column[] } | { invalid: string[] } {
  if (raw === undefined || raw === null || raw === '') return { fields: [...DEFAULT_FIELDS, 'polyrun_status'] };
  const text = String(raw);
  if (text === '*') return { fields: [...COLUMNS] };
  const names = text.split(','); // no trimming, as Judge0
  const invalid = names.filter((n) => !(COLUMNS as readonly string[]).includes(n));
  if (invalid.length > 0) return { invalid };
  return { fields: names as Column[] };
}

/** A decimal column as Rails serialises a BigDecimal: "5.0", "0.012". */
export function decimal(x: number | null): string | null {
  if (x === null) return null;
  return Number.isInteger(x) ? `${x}.0` : String(x);
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Every column's value (before base64 and field selection). */
function values(r: SubmissionRecord): Record<Column, unknown> {
  const o = r.outcome;
  const i = r.input;
  return {
    source_code: i.source_code,
    language_id: i.language_id,
    stdin: i.stdin,
    expected_output: i.expected_output,
    stdout: o?.stdout ?? null,
    status_id: r.status_id,
    created_at: iso(r.created_at),
    finished_at: iso(r.finished_at),
    time: o?.time ?? null,
    memory: o?.memory ?? null,
    stderr: o?.stderr ?? null,
    token: r.token,
    number_of_runs: i.number_of_runs,
    cpu_time_limit: i.cpu_time_limit,
    cpu_extra_time: i.cpu_extra_time,
    wall_time_limit: i.wall_time_limit,
    memory_limit: i.memory_limit,
    stack_limit: i.stack_limit,
    max_processes_and_or_threads: i.max_processes_and_or_threads,
    enable_per_process_and_thread_time_limit: i.enable_per_process_and_thread_time_limit,
    enable_per_process_and_thread_memory_limit: i.enable_per_process_and_thread_memory_limit,
    max_file_size: i.max_file_size,
    compile_output: o?.compile_output ?? null,
    exit_code: o?.exit_code ?? null,
    exit_signal: o?.exit_signal ?? null,
    message: o?.message ?? null,
    wall_time: o?.wall_time ?? null,
    compiler_options: i.compiler_options,
    command_line_arguments: i.command_line_arguments,
    redirect_stderr_to_stdout: i.redirect_stderr_to_stdout,
    callback_url: i.callback_url,
    additional_files: i.additional_files,
    enable_network: i.enable_network,
    status: statusOf(r.status_id),
    language: r.language,
    polyrun_status: o?.polyrun_status ?? null,
  };
}

/**
 * A submission as Judge0 shows it: the chosen columns in column order, decimals as strings, the text
 * columns base64-encoded (Ruby's line-wrapped form) when asked. polyrun_status is shown by default only
 * when it says something.
 */
export function renderSubmission(r: SubmissionRecord, fields: readonly Column[], base64: boolean): Record<string, unknown> {
  const all = values(r);
  const wanted = new Set(fields);
  const out: Record<string, unknown> = {};
  for (const column of COLUMNS) {
    if (!wanted.has(column)) continue;
    let value = all[column];
    if (column === 'polyrun_status' && value === null) continue;
    if (DECIMALS.has(column)) value = decimal(value as number | null);
    else if (base64 && TEXTS.has(column) && typeof value === 'string') value = rubyEncode64(value);
    out[column] = value;
  }
  return out;
}
