/**
 * The execution result contract, as TypeBox schemas (the types are derived from them; the HTTP responses,
 * the OpenAPI document and the SDK's types come from the same schemas). Field names are a public contract
 * shared by the CLI (`--json`), the HTTP API and the queue: add fields, never rename.
 */
import { Type, type Static } from '@sinclair/typebox';

export const STAGE_STATUSES = ['ok', 'runtime_error', 'time_limit', 'memory_limit', 'output_limit', 'internal_error'] as const;

/** Status of one stage (compile or run). */
export type StageStatus = (typeof STAGE_STATUSES)[number];

export const EXECUTION_STATUSES = [...STAGE_STATUSES, 'compile_error'] as const;

/** Status of the whole execution. */
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

export const StageResultSchema = Type.Object(
  {
    status: Type.Union(STAGE_STATUSES.map((s) => Type.Literal(s)), { description: 'what the stage did' }),
    exitCode: Type.Union([Type.Integer(), Type.Null()], { description: 'null when a signal ended it' }),
    signal: Type.Union([Type.String(), Type.Null()], { description: 'e.g. "SIGKILL"; SIGSYS means seccomp killed it' }),
    stdout: Type.String(),
    stderr: Type.String(),
    stdoutTruncated: Type.Boolean(),
    stderrTruncated: Type.Boolean(),
    cpuTimeMs: Type.Number({ description: 'CPU time of the whole process tree' }),
    wallTimeMs: Type.Number(),
    memoryBytes: Type.Number({ description: 'peak memory of the whole process tree of this stage' }),
    cached: Type.Optional(Type.Boolean({ description: 'compile stages only: the output came from the compile cache' })),
    output: Type.Optional(Type.String({ description: 'stdout and stderr interleaved in arrival order (HTTP API only)' })),
  },
  { description: 'one stage (compile or run)' },
);
export type StageResult = Static<typeof StageResultSchema>;

/** What a sandbox with an allowlist did on the network (counted by its firewall and its DNS filter). */
export const NetworkStatsSchema = Type.Object(
  {
    connections: Type.Integer({ description: 'outbound connections allowed' }),
    denied: Type.Integer({ description: 'outbound packets refused by the firewall' }),
    dnsQueries: Type.Integer({ description: 'DNS questions asked' }),
    dnsDenied: Type.Integer({ description: 'DNS questions refused (name not allowed, type not allowed, answer in the deny set)' }),
    bytesOut: Type.Integer(),
    bytesIn: Type.Integer(),
    byteCapReached: Type.Boolean({ description: 'the byte cap of the execution was reached: every connection was reset from then on' }),
  },
  { description: 'present when the request had a network allowlist' },
);
export type NetworkStats = Static<typeof NetworkStatsSchema>;

export const ExecutionResultSchema = Type.Object(
  {
    language: Type.String(),
    version: Type.String(),
    status: Type.Union(EXECUTION_STATUSES.map((s) => Type.Literal(s)), { description: 'the status of the whole execution' }),
    compile: Type.Union([StageResultSchema, Type.Null()], { description: 'null for interpreted languages' }),
    run: Type.Union([StageResultSchema, Type.Null()], { description: 'null when the compile failed' }),
    attempts: Type.Optional(
      Type.Integer({
        minimum: 2,
        description: 'present when the job ran more than once: its worker died mid-run and another ran it again (runs are at-least-once)',
      }),
    ),
    network: Type.Optional(NetworkStatsSchema),
  },
  { description: 'the result contract' },
);
export type ExecutionResult = Static<typeof ExecutionResultSchema>;
