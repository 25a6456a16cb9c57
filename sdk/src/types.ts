/**
 * The SDK's public types. Request bodies and responses are read from the generated `openapi.ts` (the
 * server's own OpenAPI document, built from the TypeBox schemas that validate its requests), so they
 * cannot drift from the server. A response the document has no schema for is a type that names the gap
 * (`MissingSchema`), so the SDK fails to compile rather than guess.
 *
 * Server-Sent Events are not part of the OpenAPI document (it describes the stream as a string): their
 * envelope is written here, around the generated result and stage types.
 */
import type { paths } from './openapi.js';

type Method = 'get' | 'post' | 'put' | 'delete';

type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;

/** Stands for a response the OpenAPI document does not describe: add its schema on the server, regenerate. */
export interface MissingSchema<P extends string, S extends number | string> {
  readonly 'the OpenAPI document has no JSON schema for this response': [P, S];
}

/** The JSON body of response `S` of an operation. */
type JsonResponse<P extends keyof paths, M extends Method, S extends number | string> =
  Operation<P, M> extends { responses: infer R }
    ? S extends keyof R
      ? R[S] extends { content: { 'application/json': infer T } }
        ? T
        : MissingSchema<P, S>
      : MissingSchema<P, S>
    : MissingSchema<P, S>;

// ---------------------------------------------------------------------------------------------------------
// Requests

/** The body of `POST /v1/execute` and `POST /v1/executions`. */
export type ExecuteRequest = Operation<'/v1/execute', 'post'>['requestBody']['content']['application/json'];

/** One source file of a request; the first file is the entry point. */
export type SourceFile = ExecuteRequest['files'][number];

/** Per-stage limits a request may ask for (each at most the tenant's maximum, see `runtimes()`). */
export type StageLimitsRequest = NonNullable<ExecuteRequest['limits']>;

// ---------------------------------------------------------------------------------------------------------
// Responses

/** The answer of `execute()`: the result contract plus the execution's id. */
export type ExecutionResult = JsonResponse<'/v1/execute', 'post', 200>;

/** One stage (compile or run) of a result. */
export type StageResult = NonNullable<ExecutionResult['run']>;

/** What the whole execution did: `ok`, `compile_error`, `runtime_error`, `time_limit`, ... */
export type ExecutionStatus = ExecutionResult['status'];

/** What one stage did. */
export type StageStatus = StageResult['status'];

/** The answer of `submit()`. */
export type SubmittedExecution = JsonResponse<'/v1/executions', 'post', 202>;

/** The body of every API error: `{"error": {code, message, details?}}`. */
export type ErrorBody = JsonResponse<'/v1/execute', 'post', '4XX'>;

/**
 * The answer of `getExecution()`: pending (`queued`, `running`), finished (the same result as `execute()`),
 * or `error` when the execution could not run (e.g. a queue timeout). Narrow it on `status`.
 */
export type ExecutionView = JsonResponse<'/v1/executions/{id}', 'get', 200>;

/** An execution that has not finished yet. */
export type PendingExecution = Extract<ExecutionView, { status: 'queued' | 'running' }>;

/** An execution that could not run. */
export type FailedExecution = Extract<ExecutionView, { status: 'error' }>;

/** One runtime this key may use, with its default limits and the tenant's maximum. */
export type Runtime = JsonResponse<'/v1/runtimes', 'get', 200>[number];

/** The key's tenant: usage and quotas of the current UTC day. */
export type Usage = JsonResponse<'/v1/usage', 'get', 200>;

/** `GET /healthz`: the process is up. */
export type Health = JsonResponse<'/healthz', 'get', 200>;

/** `GET /readyz` when ready (a not-ready server answers 503, thrown as `UnavailableError`). */
export type Readiness = JsonResponse<'/readyz', 'get', 200>;

// ---------------------------------------------------------------------------------------------------------
// Sessions (a sandbox kept across calls)

/** The body of `POST /v1/sessions`. */
export type CreateSessionRequest = NonNullable<Operation<'/v1/sessions', 'post'>['requestBody']>['content']['application/json'];

/** A session: its id, settings, deadlines and whether an exec runs. */
export type Session = JsonResponse<'/v1/sessions', 'post', 201>;

/** The body of `POST /v1/sessions/:id/exec`: a command (`argv`) or a program (`language` and `code` or `files`). */
export type SessionExecRequest = Operation<'/v1/sessions/{id}/exec', 'post'>['requestBody']['content']['application/json'];

/** The result of an exec (the result contract; `language` is `"command"` for a command). */
export type SessionExecResult = JsonResponse<'/v1/sessions/{id}/exec', 'post', 200>;

/** The answer of writing a file. */
export type WrittenFile = JsonResponse<'/v1/sessions/{id}/files/{*}', 'put', 200>;

// ---------------------------------------------------------------------------------------------------------
// Streaming events (Server-Sent Events of POST /v1/execute with Accept: text/event-stream)

export type StageName = 'compile' | 'run';

/**
 * The events `stream()` yields, in order: for each stage `stage`, then `stdout` / `stderr` chunks as they
 * arrive, then `exit`; last `result` (the same object `execute()` answers). An `error` event is not
 * yielded: it is thrown as a `PolyrunApiError`.
 */
export type ExecutionEvent =
  | { type: 'stage'; stage: StageName }
  | { type: 'stdout'; stage: StageName; data: string }
  | { type: 'stderr'; stage: StageName; data: string }
  | { type: 'exit'; stage: StageName; result: StageResult }
  | { type: 'result'; result: ExecutionResult };

export type ExecutionEventType = ExecutionEvent['type'];

// ---------------------------------------------------------------------------------------------------------
// The judge (POST /v1/judge): a submission against test cases

/** The body of `POST /v1/judge`: the submission, its `cases`, the `checker` and the judge's options. */
export type JudgeRequest = Operation<'/v1/judge', 'post'>['requestBody']['content']['application/json'];

/** One test case of a judge request. */
export type JudgeCase = JudgeRequest['cases'][number];

/** The answer of `judge()`: the verdict, the score and every case. */
export type JudgeResult = JsonResponse<'/v1/judge', 'post', 200>;

/** One case's verdict and accounting. */
export type CaseResult = JudgeResult['cases'][number];

/** A case's verdict: `accepted`, `wrong_answer`, `time_limit`, `memory_limit`, `output_limit`, `runtime_error`, `internal_error`, `skipped`. */
export type CaseVerdict = CaseResult['verdict'];

/**
 * The events `judgeStream()` yields: the compile stage's events (as `stream()`), a `case` per test case as
 * soon as its verdict is decided, then `result` (the same object `judge()` answers).
 */
export type JudgeEvent =
  | Exclude<ExecutionEvent, { type: 'result' }>
  | { type: 'case'; case: CaseResult }
  | { type: 'result'; result: JudgeResult };
