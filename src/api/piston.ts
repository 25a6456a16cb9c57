/**
 * Translation between Piston's v2 API shapes and polyrun's (pure). Piston names limits per stage
 * (run_timeout, compile_cpu_time, ...), reports a stage status as RE/SG/TO/OL/EL/XX and answers errors as
 * `{"message": "..."}` with 400 for every validation problem.
 */
import { errors, type PolyrunError } from '../contract/errors.js';
import type { ExecutionResult, StageResult } from '../contract/result.js';
import type { StageLimits } from '../limits/limits.js';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { constants as osConstants } from 'node:os';
import semver from 'semver';
import { FILE_ENCODINGS, type ExecuteBody } from '../contract/request.js';
import type { RuntimeInfo } from '../runtimes/catalogue.js';

const limit = Type.Optional(Type.Number());
/** Piston's execute body, as Piston accepts it (unknown fields pass, as in Piston). */
export const PistonBodySchema = Type.Object({
  language: Type.String(),
  version: Type.String(),
  files: Type.Array(
    Type.Object({
      name: Type.Optional(Type.String()),
      content: Type.String(),
      encoding: Type.Optional(Type.Union(FILE_ENCODINGS.map((e) => Type.Literal(e)))),
    }),
    { minItems: 1 },
  ),
  stdin: Type.Optional(Type.String()),
  // The Piston CLI sends numbers as they were typed (`[1, 2]`); Piston takes them as strings.
  args: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
  compile_timeout: limit,
  run_timeout: limit,
  compile_cpu_time: limit,
  run_cpu_time: limit,
  compile_memory_limit: limit,
  run_memory_limit: limit,
});

export type PistonExecuteBody = Static<typeof PistonBodySchema>;

const LIMIT_NAMES = {
  compile_timeout: ['compile', 'wallTimeMs'],
  run_timeout: ['run', 'wallTimeMs'],
  compile_cpu_time: ['compile', 'cpuTimeMs'],
  run_cpu_time: ['run', 'cpuTimeMs'],
  compile_memory_limit: ['compile', 'memoryBytes'],
  run_memory_limit: ['run', 'memoryBytes'],
} as const satisfies Record<string, readonly ['compile' | 'run', keyof StageLimits]>;

type PistonLimitName = keyof typeof LIMIT_NAMES;

/** The Piston name of one of our limit fields ("limits.wallTimeMs" -> "run_timeout"), if it has one. */
export function pistonLimitName(field: string): string | undefined {
  const [where, name] = field.split('.');
  const stage = where === 'compileLimits' ? 'compile' : 'run';
  return Object.entries(LIMIT_NAMES).find(([, [s, f]]) => s === stage && f === name)?.[0];
}

/**
 * Piston's version selection: the newest runtime of the language (by name or alias) whose version
 * satisfies the semver range ("*", "x", "3.x", "^3.9", "~3.11", ">=3", "3.11.2 || 2"). Versions that are
 * not strict semver ("1.21") are compared as their coerced form. Undefined when none matches.
 */
export function selectPistonVersion(runtimes: readonly RuntimeInfo[], language: string, range: string): string | undefined {
  const wanted = language.toLowerCase();
  const candidates = runtimes.filter((r) => r.name === wanted || r.aliases.includes(wanted));
  const matching = candidates.filter((r) => {
    const v = semver.valid(r.version) ?? semver.coerce(r.version)?.version;
    return v !== undefined && semver.satisfies(v, range, { loose: true });
  });
  const newest = (r: RuntimeInfo) => semver.valid(r.version) ?? semver.coerce(r.version)?.version ?? '0.0.0';
  matching.sort((a, b) => semver.rcompare(newest(a), newest(b)));
  return matching[0]?.version;
}

/**
 * Piston's files in polyrun's order: the entry is the first UTF-8 file (Piston skips base64 and hex files
 * when it picks the main file); unnamed files are file0.code, file1.code... by their position in the request,
 * except an unnamed entry, which keeps the runtime's default name (polyrun's compilers need an extension
 * Piston's build scripts add themselves).
 */
function pistonFiles(files: PistonExecuteBody['files']): ExecuteBody['files'] {
  const named = files.map((f, i) => ({ ...f, name: f.name || `file${i}.code`, unnamed: !f.name }));
  const entry = Math.max(0, named.findIndex((f) => (f.encoding ?? 'utf8') === 'utf8'));
  const ordered = [named[entry]!, ...named.filter((_, i) => i !== entry)];
  return ordered.map((f, i) => ({
    ...(i === 0 && f.unnamed ? {} : { name: f.name }),
    content: f.content,
    encoding: f.encoding ?? 'utf8',
  }));
}

/**
 * Piston's request in polyrun's v1 shape. Throws BAD_REQUEST for values Piston itself refuses. With the
 * runtimes the caller may use, a version range is resolved the way Piston does it (selectPistonVersion).
 */
export function fromPistonRequest(body: PistonExecuteBody, runtimes?: readonly RuntimeInfo[]): ExecuteBody {
  const limits: Partial<StageLimits> = {};
  const compileLimits: Partial<StageLimits> = {};
  for (const [name, [stage, field]] of Object.entries(LIMIT_NAMES) as [PistonLimitName, (typeof LIMIT_NAMES)[PistonLimitName]][]) {
    const value = body[name];
    if (value === undefined) continue;
    // Piston's memory limits use -1 for "the server's limit".
    if (field === 'memoryBytes' && value === -1) continue;
    if (value < 0) throw errors.badRequest(`${name} must be non-negative`);
    if (value === 0) continue; // 0 is Piston's "no lower than the server's limit"
    (stage === 'run' ? limits : compileLimits)[field] = value;
  }
  // An unmatched range stays as given, so the answer is Piston's "<language>-<version> runtime is unknown".
  const version = body.version && body.version !== '*' ? ((runtimes && selectPistonVersion(runtimes, body.language, body.version)) ?? body.version) : undefined;
  return {
    language: body.language,
    ...(version ? { version } : {}),
    files: pistonFiles(body.files),
    stdin: body.stdin ?? '',
    args: (body.args ?? []).map(String),
    ...(Object.keys(limits).length ? { limits } : {}),
    ...(Object.keys(compileLimits).length ? { compileLimits } : {}),
  };
}

/** Piston's wording for our validation errors. */
export function pistonMessage(e: PolyrunError, body?: { language?: unknown; version?: unknown }): string {
  if (e.code === 'UNKNOWN_LANGUAGE') return `${String(body?.language)}-${String(body?.version)} runtime is unknown`;
  if (e.code === 'LIMIT_EXCEEDS_MAXIMUM') {
    const violations = (e.details as { violations?: { field: string; maximum: number }[] } | undefined)?.violations ?? [];
    const first = violations[0];
    const name = first && pistonLimitName(first.field);
    if (first && name) return `${name} cannot exceed the configured limit of ${first.maximum}`;
  }
  return e.message;
}

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const PistonStageSchema = Type.Object({
  stdout: Type.String(),
  stderr: Type.String(),
  output: Type.String(),
  code: nullable(Type.Integer()),
  signal: nullable(Type.String()),
  message: nullable(Type.String()),
  status: nullable(Type.Union(['RE', 'SG', 'TO', 'OL', 'EL', 'XX'].map((s) => Type.Literal(s as 'RE' | 'SG' | 'TO' | 'OL' | 'EL' | 'XX')))),
  cpu_time: Type.Number(),
  wall_time: Type.Number(),
  memory: Type.Number(),
  /** polyrun's: a compile restored from the compile cache (its figures are the original compile's). */
  cached: Type.Optional(Type.Boolean()),
});
export type PistonStage = Static<typeof PistonStageSchema>;

export const PistonResultSchema = Type.Object({
  language: Type.String(),
  version: Type.String(),
  compile: Type.Optional(PistonStageSchema),
  run: Type.Optional(PistonStageSchema),
});

export const PistonRuntimeSchema = Type.Object({
  language: Type.String(),
  version: Type.String(),
  aliases: Type.Array(Type.String()),
  runtime: Type.Optional(Type.String({ description: 'the implementation, when it is not the language\'s reference one (e.g. pypy)' })),
});

/** Piston answers every error as `{"message": "..."}`. */
export const PistonErrorSchema = Type.Object({ message: Type.String() });

function signalNumber(name: string): number | string {
  return (osConstants.signals as Record<string, number>)[name] ?? name;
}

/** One stage in Piston's shape; `cpuLimitMs` (the stage's CPU limit) tells a CPU timeout from a wall one. */
export function toPistonStage(s: StageResult, cpuLimitMs?: number): PistonStage {
  let status: PistonStage['status'] = null;
  let message: string | null = null;
  let signal = s.signal;
  switch (s.status) {
    case 'ok':
      break;
    case 'runtime_error':
      status = s.signal ? 'SG' : 'RE';
      message = s.signal ? `Caught fatal signal ${signalNumber(s.signal)}` : `Exited with error status ${s.exitCode}`;
      break;
    case 'time_limit':
      status = 'TO';
      // Piston (isolate) says which clock ran out; the CPU one when the stage reached its CPU limit.
      // Without the limit at hand, a stage that spent most of its wall time on the CPU ran out of CPU time.
      message = (cpuLimitMs !== undefined ? s.cpuTimeMs >= cpuLimitMs : s.cpuTimeMs * 2 >= s.wallTimeMs) || s.signal === 'SIGXCPU' ? 'Time limit exceeded' : 'Time limit exceeded (wall clock)';
      signal = 'SIGKILL';
      break;
    case 'memory_limit':
      status = 'SG';
      message = 'Caught fatal signal 9';
      signal = 'SIGKILL';
      break;
    case 'output_limit':
      status = s.stdoutTruncated ? 'OL' : 'EL';
      message = s.stdoutTruncated ? 'stdout length exceeded' : 'stderr length exceeded';
      signal = 'SIGKILL';
      break;
    case 'internal_error':
      status = 'XX';
      message = 'Internal error';
      break;
  }
  return {
    stdout: s.stdout,
    stderr: s.stderr,
    output: s.output ?? s.stdout + s.stderr,
    code: signal ? null : s.exitCode,
    signal,
    message,
    status,
    cpu_time: s.cpuTimeMs,
    wall_time: s.wallTimeMs,
    memory: s.memoryBytes,
    ...(s.cached ? { cached: true } : {}),
  };
}

export function toPistonResult(r: ExecutionResult, cpuLimits?: { compile: number; run: number }): Static<typeof PistonResultSchema> {
  // Like Piston: no compile stage for interpreted languages; after a failed compile `run` is the compile
  // stage (Piston's CLI and clients read `run` unconditionally).
  const compile = r.compile ? toPistonStage(r.compile, cpuLimits?.compile) : undefined;
  const run = r.run ? toPistonStage(r.run, cpuLimits?.run) : compile;
  return {
    language: r.language,
    version: r.version,
    ...(compile ? { compile } : {}),
    ...(run ? { run } : {}),
  };
}

/** Piston's validation messages for a body its schema refused (Piston checks these itself, in this order). */
export const PISTON_FIELD_TYPES: Record<string, string> = {
  language: 'a string',
  version: 'a string',
  files: 'an array',
  content: 'a string',
  stdin: 'a string',
  args: 'an array',
};
