/**
 * TypeBox schemas of the v1 API's parameters and errors; the execute body's schema is the contract's
 * (src/contract/request.ts). They validate requests (unknown fields are refused, never stripped) and feed
 * the OpenAPI document at /openapi.json.
 */
import { Type } from '@sinclair/typebox';
import { ExecutionResultSchema } from '../contract/result.js';
import { LimitTableSchema } from '../limits/limits.js';

export { ExecuteBodySchema } from '../contract/request.js';
export { UsageReportSchema } from '../pipeline/quota.js';

export const ExecutionIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });

export const ExecutionQuery = Type.Object(
  { wait: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$', description: 'long-poll: wait up to this many ms for the result' })) },
  { additionalProperties: false },
);

const ErrorBody = Type.Object({
  code: Type.String({ description: 'machine-readable, see docs/api.md' }),
  message: Type.String({ description: 'for a human' }),
  details: Type.Optional(Type.Unknown()),
});

export const ErrorSchema = Type.Object({ error: ErrorBody }, { description: 'every polyrun error' });

/** Error responses of every v1 route. */
export const ERROR_RESPONSES = { '4xx': ErrorSchema, '5xx': ErrorSchema } as const;

/** The result contract plus the execution's id, as the HTTP API answers it. */
export const IdentifiedResultSchema = Type.Object(
  { id: Type.String(), ...ExecutionResultSchema.properties },
  { description: 'the result contract and the execution id' },
);

export const AcceptedSchema = Type.Object({ id: Type.String() }, { description: 'poll GET /v1/executions/:id' });

/** GET /v1/executions/:id: pending, finished, or could not run. */
export const ExecutionViewSchema = Type.Union([
  Type.Object({ id: Type.String(), status: Type.Union([Type.Literal('queued'), Type.Literal('running')]) }),
  IdentifiedResultSchema,
  Type.Object({ id: Type.String(), status: Type.Literal('error'), error: ErrorBody }),
]);

export const RuntimeViewSchema = Type.Object({
  name: Type.String({ description: 'the runtime: what `language` names to get exactly this one' }),
  language: Type.String({ description: 'the language it implements (several runtimes may share one)' }),
  version: Type.String(),
  aliases: Type.Array(Type.String()),
  extensions: Type.Array(Type.String()),
  compiled: Type.Boolean(),
  limits: Type.Object({
    defaults: LimitTableSchema,
    maximum: LimitTableSchema,
  }),
});

/**
 * POST /v1/execute answers JSON, or Server-Sent Events with `Accept: text/event-stream`; the stream is
 * described here for the document (it is written as it happens, not serialised from a schema).
 */
export const EVENT_STREAM_DESCRIPTION =
  'Server-Sent Events: `event: stage|stdout|stderr|exit` as they happen, then `event: result` (data: {"type":"result","result": <the JSON answer>}) ' +
  'or `event: error` (data: {"error": {code, message}}). Each `data:` line is one JSON object: ' +
  '{"type":"stage","stage"}, {"type":"stdout"|"stderr","stage","data"}, {"type":"exit","stage","result": Stage without its output}.';
