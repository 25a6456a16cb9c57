/**
 * TypeBox schemas of the v1 API: they validate requests (unknown fields are refused, never stripped) and
 * feed the OpenAPI document at /openapi.json.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_BOUNDS } from '../limits/limits.js';

const limitField = (description: string) => Type.Optional(Type.Integer({ minimum: 1, description }));

export const StageLimitsSchema = Type.Object(
  {
    cpuTimeMs: limitField('CPU time of the whole process tree, ms'),
    wallTimeMs: limitField('wall-clock time, ms'),
    memoryBytes: limitField('memory of the whole process tree, bytes'),
    processes: limitField('processes and threads'),
    openFiles: limitField('open files per process'),
    fileSizeBytes: limitField('largest file a process may write, bytes'),
    outputBytes: limitField('cap on stdout and on stderr, each, bytes'),
  },
  { additionalProperties: false, description: 'Limits for one stage; each at most the tenant maximum (see GET /v1/runtimes)' },
);

export const ExecuteBodySchema = Type.Object(
  {
    language: Type.String({ minLength: 1, maxLength: 64, description: 'runtime name or alias' }),
    version: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'exact version or selector ("*", "3.x")' })),
    files: Type.Array(
      Type.Object(
        {
          name: Type.Optional(Type.String({ maxLength: DEFAULT_BOUNDS.maxFileNameBytes, description: 'relative path; the first file is the entry' })),
          content: Type.String(),
          encoding: Type.Optional(Type.Union([Type.Literal('utf8'), Type.Literal('base64')], { default: 'utf8' })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: DEFAULT_BOUNDS.maxFiles },
    ),
    stdin: Type.Optional(Type.String()),
    args: Type.Optional(Type.Array(Type.String(), { maxItems: DEFAULT_BOUNDS.maxArgs })),
    limits: Type.Optional(StageLimitsSchema),
    compileLimits: Type.Optional(StageLimitsSchema),
  },
  { additionalProperties: false },
);
export type ExecuteBodyT = Static<typeof ExecuteBodySchema>;

export const ExecutionIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });

export const ExecutionQuery = Type.Object(
  { wait: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$', description: 'long-poll: wait up to this many ms for the result' })) },
  { additionalProperties: false },
);

export const ErrorSchema = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  }),
});
