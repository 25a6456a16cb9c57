/**
 * Judge0's validation of a submission's input fields, pure: its defaults (applied like Ruby's `||=`: only
 * null or absent falls back), its ranges, its messages (Rails' defaults), one list of messages per field
 * that failed (422). Ranges are Judge0's, narrowed to what the tenant may use (its maximum limits), so a
 * request Judge0 would accept but the tenant may not is refused with the same kind of message.
 */
import { DEFAULT_BOUNDS } from '../../limits/limits.js';
import { lenientDecode64 } from './base64.js';
import { readZip, type ZipLimits } from './zip.js';
import type { SubmissionInput } from './submission.js';

export type FieldErrors = Record<string, string[]>;

/** Judge0's defaults and maxima (judge0.conf of v1.13.1); GET /config_info shows them. */
export const JUDGE0_LIMITS = {
  cpu_time_limit: { default: 5.0, min: 0, max: 15.0 },
  cpu_extra_time: { default: 1.0, min: 0, max: 5.0 },
  wall_time_limit: { default: 10.0, min: 1, max: 20.0 },
  memory_limit: { default: 128000, min: 2048, max: 512000 },
  stack_limit: { default: 64000, min: 0, max: 128000 },
  max_processes_and_or_threads: { default: 60, min: 1, max: 120 },
  max_file_size: { default: 1024, min: 0, max: 4096 },
  number_of_runs: { default: 1, min: 1, max: 20 },
} as const;
type LimitField = keyof typeof JUDGE0_LIMITS;

/** additional_files: Judge0's MAX_EXTRACT_SIZE (10240 KB) within polyrun's request bounds (files, bytes). */
export const ADDITIONAL_FILES_LIMITS: ZipLimits = {
  maxEntries: DEFAULT_BOUNDS.maxFiles - 1,
  maxBytes: Math.min(10_240 * 1024, DEFAULT_BOUNDS.maxSourceBytes),
  maxNameBytes: DEFAULT_BOUNDS.maxFileNameBytes,
};
const FLOATS = new Set<LimitField>(['cpu_time_limit', 'cpu_extra_time', 'wall_time_limit']);

/** The tenant's ceilings in Judge0's units (seconds, KB), which may lower Judge0's maxima. */
export interface TenantCeiling {
  cpuSeconds: number;
  wallSeconds: number;
  memoryKb: number;
  processes: number;
  fileSizeKb: number;
}

export interface Judge0Options {
  /** Judge0 ids that exist (resolved against the installed runtimes). */
  languageExists: (id: number) => boolean;
  /** Archived Judge0 ids (refused with Judge0's archived message). */
  languageArchived: (id: number) => boolean;
  ceiling: TenantCeiling;
  /** The tenant may enable the network (network.ts); absent: it may not. */
  networkAllowed?: boolean;
  /** Why a callback_url may not be used (callback.ts), or null; absent: callbacks are off. */
  callbackProblem?: (url: string) => string | null;
}

const blank = (v: unknown) => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');

function toBool(v: unknown): boolean | null {
  if (v === undefined || v === null || v === '') return null;
  if (v === true || v === 'true' || v === '1' || v === 't' || v === 1 || v === 'on') return true;
  if (v === false || v === 'false' || v === '0' || v === 'f' || v === 0 || v === 'off') return false;
  return null;
}

function toNumber(v: unknown): number | null | 'nan' {
  if (v === undefined || v === null || v === '') return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) ? n : 'nan';
}

/** How Rails prints a limit in a message: floats as "15.0", integers as "512000". */
function shown(field: LimitField, x: number): string {
  return FLOATS.has(field) && Number.isInteger(x) ? `${x}.0` : String(x);
}

function maximumFor(field: LimitField, c: TenantCeiling): number {
  const judge0 = JUDGE0_LIMITS[field].max;
  switch (field) {
    case 'cpu_time_limit':
      return Math.min(judge0, c.cpuSeconds);
    case 'wall_time_limit':
      return Math.min(judge0, c.wallSeconds);
    case 'memory_limit':
      return Math.min(judge0, c.memoryKb);
    case 'max_processes_and_or_threads':
      return Math.min(judge0, c.processes);
    case 'max_file_size':
      return Math.min(judge0, c.fileSizeKb);
    default:
      return judge0;
  }
}

/**
 * Validate `params` (JSON body, form body and query merged, as Rails does). `base64` decodes source_code,
 * stdin and expected_output leniently. Returns the input with defaults, or the field errors.
 */
export function validateSubmission(params: Record<string, unknown>, base64: boolean, o: Judge0Options): { input: SubmissionInput } | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  const add = (field: string, message: string) => (errors[field] ??= []).push(message);
  const text = (field: string): string | null => {
    const v = params[field];
    if (v === undefined || v === null) return null;
    const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
    return base64 ? lenientDecode64(s).toString('utf8') : s;
  };

  const source = text('source_code');
  if (source === null || source === '') add('source_code', "can't be blank");

  const rawLanguage = params.language_id;
  const languageNumber = toNumber(rawLanguage);
  const languageId = typeof languageNumber === 'number' ? Math.trunc(languageNumber) : null;
  if (blank(rawLanguage)) {
    add('language_id', "can't be blank");
    add('language_id', "language with id  doesn't exist");
  } else if (languageId === null || !o.languageExists(languageId)) {
    if (languageId !== null && o.languageArchived(languageId)) add('language_id', `language with id ${languageId} is archived and cannot be used anymore`);
    else add('language_id', `language with id ${String(rawLanguage)} doesn't exist`);
  }

  const limits = {} as Record<LimitField, number>;
  for (const field of Object.keys(JUDGE0_LIMITS) as LimitField[]) {
    const spec = JUDGE0_LIMITS[field];
    const max = maximumFor(field, o.ceiling);
    const n = toNumber(params[field]);
    if (n === 'nan') {
      add(field, 'is not a number');
      continue;
    }
    const value = n === null ? Math.min(spec.default, max) : FLOATS.has(field) ? n : Math.trunc(n);
    if (field === 'max_processes_and_or_threads' && value <= 0) add(field, 'must be greater than 0');
    else if (value < spec.min) add(field, `must be greater than or equal to ${shown(field, spec.min)}`);
    else if (value > max) add(field, `must be less than or equal to ${shown(field, max)}`);
    limits[field] = value;
  }

  const compilerOptions = text('compiler_options');
  const args = params.command_line_arguments === undefined || params.command_line_arguments === null ? null : String(params.command_line_arguments);
  if (args !== null && args.length > 512) add('command_line_arguments', 'is too long (maximum is 512 characters)');
  if (compilerOptions !== null && compilerOptions.length > 512) add('compiler_options', 'is too long (maximum is 512 characters)');
  else if (compilerOptions !== null && compilerOptions.trim() !== '') add('compiler_options', 'setting compiler options is not allowed');

  const bools = {} as Record<string, boolean>;
  for (const field of [
    'enable_per_process_and_thread_time_limit',
    'enable_per_process_and_thread_memory_limit',
    'redirect_stderr_to_stdout',
    'enable_network',
  ]) {
    bools[field] = toBool(params[field]) ?? false;
  }
  // polyrun limits the whole process tree (cgroups); the network only where a mode reaches outside and the
  // tenant's policy allows it: Judge0's answer when its configuration disallows an option.
  for (const field of ['enable_per_process_and_thread_time_limit', 'enable_per_process_and_thread_memory_limit']) {
    if (bools[field]) add(field, 'this option cannot be enabled');
  }
  if (bools.enable_network && !o.networkAllowed) add('enable_network', 'this option cannot be enabled');
  const rawFiles = params.additional_files === undefined || params.additional_files === null || params.additional_files === '' ? null : String(params.additional_files);
  // Always base64, whatever base64_encoded says (as Judge0).
  const archive = rawFiles === null ? null : readZip(lenientDecode64(rawFiles), ADDITIONAL_FILES_LIMITS);
  if (archive && 'problem' in archive) add('additional_files', `is not a usable zip archive: ${archive.problem}`);
  const callback = params.callback_url === undefined || params.callback_url === null || params.callback_url === '' ? null : String(params.callback_url);
  const callbackRefusal = callback === null ? null : o.callbackProblem ? o.callbackProblem(callback) : 'setting callback is not allowed';
  if (callbackRefusal !== null) add('callback_url', callbackRefusal);

  if (Object.keys(errors).length > 0) return { errors };
  return {
    input: {
      source_code: source!,
      language_id: languageId!,
      compiler_options: compilerOptions,
      command_line_arguments: args,
      stdin: text('stdin'),
      expected_output: text('expected_output'),
      ...limits,
      enable_per_process_and_thread_time_limit: bools.enable_per_process_and_thread_time_limit!,
      enable_per_process_and_thread_memory_limit: bools.enable_per_process_and_thread_memory_limit!,
      redirect_stderr_to_stdout: bools.redirect_stderr_to_stdout!,
      enable_network: bools.enable_network!,
      additional_files: rawFiles,
      callback_url: callback,
    },
  };
}

/**
 * command_line_arguments as Judge0's `bash run` sees them, without a shell: trimmed, `$ & ; < > |` and
 * backticks deleted (Judge0 deletes them), then split into words with quotes grouping and backslash
 * escaping. Globs and variables are not expanded (there is no shell).
 */
export function splitArguments(raw: string | null): string[] {
  if (raw === null) return [];
  const s = raw.trim().replace(/[$&;<>|`]/g, '');
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && (s[i + 1] === '"' || s[i + 1] === '\\')) word += s[++i];
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < s.length) {
      word += s[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
