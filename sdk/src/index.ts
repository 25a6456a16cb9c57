/**
 * @polyrun/sdk: a typed client for the polyrun HTTP API.
 *
 *   import { Polyrun } from '@polyrun/sdk';
 *   const polyrun = new Polyrun({ baseUrl: 'http://127.0.0.1:2000', apiKey: process.env.POLYRUN_API_KEY });
 *   const result = await polyrun.execute({ language: 'python', files: [{ content: 'print(6 * 7)' }] });
 */
export { Polyrun, Sessions, DEFAULT_MAX_RETRY_DELAY_MS, DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS, isPending } from './client.js';
export type { GetExecutionOptions, PolyrunOptions, RequestOptions } from './client.js';
export type { FetchFunction } from './http.js';
export {
  AuthError,
  NotFoundError,
  PolyrunApiError,
  PolyrunConnectionError,
  PolyrunError,
  PolyrunTimeoutError,
  RateLimitError,
  ServerError,
  UnavailableError,
  ValidationError,
  isAbortError,
} from './errors.js';
export type { ApiErrorInit } from './errors.js';
export type {
  CreateSessionRequest,
  Session,
  SessionExecRequest,
  SessionExecResult,
  WrittenFile,
  ErrorBody,
  ExecuteRequest,
  ExecutionEvent,
  ExecutionEventType,
  ExecutionResult,
  ExecutionStatus,
  ExecutionView,
  FailedExecution,
  Health,
  PendingExecution,
  Readiness,
  Runtime,
  SourceFile,
  StageLimitsRequest,
  StageName,
  StageResult,
  StageStatus,
  SubmittedExecution,
  Usage,
  CaseResult,
  CaseVerdict,
  JudgeCase,
  JudgeEvent,
  JudgeRequest,
  JudgeResult,
} from './types.js';
/** The generated OpenAPI types, for anything the named types above do not cover. */
export type { paths as OpenApiPaths } from './openapi.js';
