/**
 * Translation between Piston's v2 API shapes and polyrun's (pure). Piston names limits per stage
 * (run_timeout, compile_cpu_time, ...), reports a stage status as RE/SG/TO/OL/EL/XX and answers errors as
 * `{"message": "..."}` with 400 for every validation problem.
 */
import { errors, type PolyrunError } from '../contract/errors.js';
import type { ExecutionResult, StageResult } from '../contract/result.js';
import type { StageLimits } from '../limits/limits.js';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { FILE_ENCODINGS, type ExecuteBody } from '../contract/request.js';

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
  args: Type.Optional(Type.Array(Type.String())),
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

/** Piston's request in polyrun's v1 shape. Throws BAD_REQUEST for values Piston itself refuses. */
export function fromPistonRequest(body: PistonExecuteBody): ExecuteBody {
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
  return {
    language: body.language,
    ...(body.version && body.version !== '*' ? { version: body.version } : {}),
    files: body.files.map((f, i) => ({
      // Piston names unnamed files file0.code, file1.code...; the entry file keeps the runtime's default name.
      ...(f.name ? { name: f.name } : i > 0 ? { name: `file${i}.code` } : {}),
      content: f.content,
      encoding: f.encoding ?? 'utf8',
    })),
    stdin: body.stdin ?? '',
    args: body.args ?? [],
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

export function toPistonStage(s: StageResult): PistonStage {
  let status: PistonStage['status'] = null;
  let message: string | null = null;
  let signal = s.signal;
  switch (s.status) {
    case 'ok':
      break;
    case 'runtime_error':
      status = s.signal ? 'SG' : 'RE';
      message = s.signal ? `Killed by signal ${s.signal}` : `Exited with code ${s.exitCode}`;
      break;
    case 'time_limit':
      status = 'TO';
      message = 'Time limit exceeded';
      signal = 'SIGKILL';
      break;
    case 'memory_limit':
      status = 'SG';
      message = 'Memory limit exceeded';
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
  };
}

export function toPistonResult(r: ExecutionResult): Static<typeof PistonResultSchema> {
  // Like Piston: no run stage after a failed compile, no compile stage for interpreted languages.
  return {
    language: r.language,
    version: r.version,
    ...(r.compile ? { compile: toPistonStage(r.compile) } : {}),
    ...(r.run ? { run: toPistonStage(r.run) } : {}),
  };
}
