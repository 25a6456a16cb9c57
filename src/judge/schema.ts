/**
 * The judge's contract, as TypeBox schemas (types derived): the request body of POST /v1/judge, the judge
 * part of an execution job (plain JSON, so it can wait in any queue), each case's result and the report.
 * Field names are public: add, never rename.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ExecuteBodySchema, FILE_ENCODINGS } from '../contract/request.js';
import { EXECUTION_STATUSES, StageResultSchema } from '../contract/result.js';
import { DEFAULT_BOUNDS, StageLimitsOverrideSchema, StageLimitsSchema } from '../limits/limits.js';

/** Bounds of one judge request (the body limit bounds the bytes too). */
export const JUDGE_BOUNDS = {
  maxCases: 256,
  /** stdin plus expected output of all cases together. */
  maxCaseBytes: 32 * 1024 * 1024,
  defaultPreviewBytes: 1024,
  maxPreviewBytes: 65_536,
  maxWeight: 1_000_000,
} as const;

export const CASE_VERDICTS = [
  'accepted',
  'wrong_answer',
  'time_limit',
  'memory_limit',
  'output_limit',
  'runtime_error',
  'internal_error',
  'skipped',
] as const;
export type CaseVerdict = (typeof CASE_VERDICTS)[number];

export const JUDGE_VERDICTS = [...CASE_VERDICTS.filter((v) => v !== 'skipped'), 'compile_error'] as const;
export type JudgeVerdict = (typeof JUDGE_VERDICTS)[number];

export const BUILTIN_CHECKERS = ['exact', 'trailing_whitespace', 'tokens', 'float', 'case_insensitive'] as const;
export type BuiltinCheckerType = (typeof BUILTIN_CHECKERS)[number];

const tolerance = (description: string) => Type.Optional(Type.Number({ minimum: 0, maximum: 1, description }));

export const BuiltinCheckerSchema = Type.Object(
  {
    type: Type.Union(BUILTIN_CHECKERS.map((c) => Type.Literal(c)), {
      description:
        'exact: byte for byte; trailing_whitespace (default): trailing spaces of each line and trailing blank lines ignored; ' +
        'tokens: whitespace-separated tokens equal; float: tokens, numbers equal within a tolerance; case_insensitive: tokens, ignoring case',
    }),
    absTolerance: tolerance('float: |actual - expected| <= absTolerance accepts (default 1e-6)'),
    relTolerance: tolerance('float: |actual - expected| <= relTolerance * |expected| accepts (default 1e-6)'),
  },
  { additionalProperties: false },
);
export type BuiltinChecker = Static<typeof BuiltinCheckerSchema>;

export const CustomCheckerBodySchema = Type.Object(
  {
    type: Type.Literal('custom'),
    language: Type.String({ minLength: 1, maxLength: 64 }),
    version: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    // The submission's file schema without its `default` (ajv ignores defaults inside a union, strictly).
    files: Type.Array(
      Type.Object(
        {
          name: Type.Optional(Type.String({ maxLength: DEFAULT_BOUNDS.maxFileNameBytes })),
          content: Type.String(),
          encoding: Type.Optional(Type.Union(FILE_ENCODINGS.map((e) => Type.Literal(e)))),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: DEFAULT_BOUNDS.maxFiles },
    ),
    limits: Type.Optional(StageLimitsOverrideSchema),
  },
  {
    additionalProperties: false,
    description:
      'a program run in its own sandbox once per case as `checker input.txt actual.txt expected.txt` (testlib order), ' +
      'the three files in its working dir; exit 0 accepts, 1 or 2 is a wrong answer, anything else a checker failure; ' +
      'the first line of its output is the message',
  },
);

export const JudgeCaseBodySchema = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 128 })),
    stdin: Type.Optional(Type.String()),
    expected: Type.Optional(Type.String({ description: 'expected output; absent: any output of a clean exit is accepted' })),
    encoding: Type.Optional(Type.Union(FILE_ENCODINGS.map((e) => Type.Literal(e)), { description: 'of stdin and expected; default utf8' })),
    limits: Type.Optional(StageLimitsOverrideSchema),
    weight: Type.Optional(Type.Number({ minimum: 0, maximum: JUDGE_BOUNDS.maxWeight, description: 'score of this case; default 1' })),
  },
  { additionalProperties: false },
);
export type JudgeCaseBody = Static<typeof JudgeCaseBodySchema>;

const { stdin: _stdin, stdinEncoding: _enc, args: _args, ...solutionFields } = ExecuteBodySchema.properties;

export const JudgeBodySchema = Type.Object(
  {
    ...solutionFields,
    args: ExecuteBodySchema.properties.args,
    cases: Type.Array(JudgeCaseBodySchema, { minItems: 1, maxItems: JUDGE_BOUNDS.maxCases }),
    checker: Type.Optional(Type.Union([BuiltinCheckerSchema, CustomCheckerBodySchema])),
    stopOnFirstFailure: Type.Optional(Type.Boolean({ description: 'skip the cases after the first one not accepted' })),
    totalTimeMs: Type.Optional(
      Type.Integer({ minimum: 1, description: 'budget of wall time for all cases together; cases after it is spent are skipped' }),
    ),
    previewBytes: Type.Optional(
      Type.Integer({ minimum: 0, maximum: JUDGE_BOUNDS.maxPreviewBytes, description: 'stdout/stderr kept per case in the answer (default 1024)' }),
    ),
  },
  { additionalProperties: false },
);
export type JudgeBody = Static<typeof JudgeBodySchema>;

/** The checker as a job carries it: a custom one resolved to a runtime, its files base64. */
export const CheckerSpecSchema = Type.Union([
  BuiltinCheckerSchema,
  Type.Object(
    {
      type: Type.Literal('custom'),
      runtime: Type.Object({ name: Type.String(), version: Type.String() }, { additionalProperties: false }),
      files: Type.Array(Type.Object({ name: Type.Optional(Type.String()), content: Type.String() }, { additionalProperties: false })),
      limits: StageLimitsSchema,
      compileLimits: StageLimitsSchema,
    },
    { additionalProperties: false },
  ),
]);
export type CheckerSpec = Static<typeof CheckerSpecSchema>;

export const JudgeCaseSpecSchema = Type.Object(
  {
    name: Type.Optional(Type.String()),
    /** base64 */
    stdin: Type.String(),
    /** base64, or null: no comparison */
    expected: Type.Union([Type.String(), Type.Null()]),
    limits: StageLimitsSchema,
    weight: Type.Number(),
  },
  { additionalProperties: false },
);
export type JudgeCaseSpec = Static<typeof JudgeCaseSpecSchema>;

/** The judge part of an execution job: validated and resolved once, when the request was prepared. */
export const JudgeSpecSchema = Type.Object(
  {
    cases: Type.Array(JudgeCaseSpecSchema),
    checker: CheckerSpecSchema,
    stopOnFirstFailure: Type.Boolean(),
    totalTimeMs: Type.Union([Type.Integer(), Type.Null()]),
    previewBytes: Type.Integer(),
  },
  { additionalProperties: false },
);
export type JudgeSpec = Static<typeof JudgeSpecSchema>;

export const CaseResultSchema = Type.Object(
  {
    index: Type.Integer(),
    name: Type.Union([Type.String(), Type.Null()]),
    verdict: Type.Union(CASE_VERDICTS.map((v) => Type.Literal(v))),
    weight: Type.Number(),
    score: Type.Number({ description: 'weight when accepted, else 0' }),
    exitCode: Type.Union([Type.Integer(), Type.Null()]),
    signal: Type.Union([Type.String(), Type.Null()]),
    cpuTimeMs: Type.Number(),
    wallTimeMs: Type.Number(),
    memoryBytes: Type.Number({ description: "peak memory of this case's process tree" }),
    stdout: Type.String({ description: 'the first previewBytes of stdout' }),
    stdoutTruncated: Type.Boolean({ description: 'stdout is longer than shown (or was cut at the output limit)' }),
    stderr: Type.String({ description: 'the first previewBytes of stderr' }),
    stderrTruncated: Type.Boolean(),
    checkerMessage: Type.Union([Type.String(), Type.Null()], { description: "the checker's explanation, null when accepted" }),
  },
  { additionalProperties: false, description: 'the verdict and accounting of one test case' },
);
export type CaseResult = Static<typeof CaseResultSchema>;

export const JudgeReportSchema = Type.Object(
  {
    verdict: Type.Union(JUDGE_VERDICTS.map((v) => Type.Literal(v)), { description: 'the first case not accepted decides; accepted when all are' }),
    score: Type.Number(),
    maxScore: Type.Number(),
    passed: Type.Integer(),
    total: Type.Integer(),
    cases: Type.Array(CaseResultSchema),
  },
  { additionalProperties: false },
);
export type JudgeReport = Static<typeof JudgeReportSchema>;

/** The answer of POST /v1/judge: the execution result (`run` sums the cases) with the report's fields. */
export const JudgeResultSchema = Type.Object(
  {
    id: Type.String(),
    language: Type.String(),
    version: Type.String(),
    status: Type.Union(EXECUTION_STATUSES.map((s) => Type.Literal(s)), {
      description: 'ok when every case was judged; compile_error; internal_error when polyrun failed',
    }),
    compile: Type.Union([StageResultSchema, Type.Null()]),
    run: Type.Union([StageResultSchema, Type.Null()], {
      description: 'all case runs (and checker runs) together: summed CPU and wall time, peak memory; no output',
    }),
    ...JudgeReportSchema.properties,
  },
  { description: 'a judged submission' },
);
export type JudgeResult = Static<typeof JudgeResultSchema>;
