/**
 * The polyrun client: one method per API operation. Only the platform's `fetch` is used (Node 20's global
 * fetch, browsers, or one given in the options).
 */
import { PolyrunApiError, PolyrunConnectionError, apiError, isErrorBody, statusOfCode } from './errors.js';
import { Transport, type FetchFunction } from './http.js';
import { readEventStream } from './sse.js';
import type {
  CreateSessionRequest,
  ExecuteRequest,
  Session,
  SessionExecRequest,
  SessionExecResult,
  WrittenFile,
  ExecutionEvent,
  ExecutionResult,
  ExecutionView,
  Health,
  PendingExecution,
  Readiness,
  Runtime,
  SubmittedExecution,
  Usage,
  JudgeEvent,
  JudgeRequest,
  JudgeResult,
} from './types.js';

export interface PolyrunOptions {
  /** Where the service answers, e.g. `http://127.0.0.1:2000` (a path prefix is kept). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer KEY`; not needed when the server runs with `--no-auth`. */
  apiKey?: string | undefined;
  /**
   * Longest time one attempt may take, from sending the request to the last byte of the answer (for
   * `stream()`, the whole stream); default 60 000 ms; `0` or `Infinity` for none. An execution can take
   * the queue wait plus its compile and run wall-time limits: raise it for long programs.
   */
  timeoutMs?: number | undefined;
  /** How many times a request may be sent again after a 429 or 503 (see the README); default 2. */
  retries?: number | undefined;
  /** No retry when the server asks to wait longer than this (e.g. a daily quota); default 30 000 ms. */
  maxRetryDelayMs?: number | undefined;
  /** A `fetch` to use instead of the global one (a proxy agent, a test double, an instrumented fetch). */
  fetch?: FetchFunction | undefined;
  /** Extra headers on every request (e.g. `x-request-id`). */
  headers?: Record<string, string> | undefined;
}

export interface RequestOptions {
  /** Aborting it cancels the request (and the execution on the server); the call rejects with an AbortError. */
  signal?: AbortSignal | undefined;
  /** This call's timeout, instead of the client's. */
  timeoutMs?: number | undefined;
  /** This call's retry count, instead of the client's. */
  retries?: number | undefined;
}

export interface GetExecutionOptions extends RequestOptions {
  /**
   * Long-poll: the server answers as soon as the result is there, or after this many ms (at most its
   * `longPollMaxMs`) with the pending status. The call's timeout is extended by it.
   */
  waitMs?: number | undefined;
}

export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_RETRIES = 2;
export const DEFAULT_MAX_RETRY_DELAY_MS = 30_000;

const EVENT_TYPES = new Set(['stage', 'stdout', 'stderr', 'exit', 'result']);
const JUDGE_EVENT_TYPES = new Set([...EVENT_TYPES, 'case']);

export class Polyrun {
  private readonly http: Transport;
  private readonly timeoutMs: number;

  constructor(options: PolyrunOptions) {
    if (!options?.baseUrl) throw new TypeError('Polyrun: baseUrl is required');
    const fetchImpl = options.fetch ?? (typeof fetch === 'function' ? fetch.bind(globalThis) : undefined);
    if (!fetchImpl) throw new TypeError('Polyrun: no global fetch on this platform; pass options.fetch');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.http = new Transport({
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
      apiKey: options.apiKey,
      timeoutMs: this.timeoutMs,
      retries: options.retries ?? DEFAULT_RETRIES,
      maxRetryDelayMs: options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS,
      fetch: fetchImpl,
      headers: { ...options.headers },
    });
  }

  /**
   * Run code and wait for its result (`POST /v1/execute`). What the program did is the result's `status`
   * (`ok`, `compile_error`, `runtime_error`, `time_limit`, ...), never an exception; exceptions are for
   * requests polyrun refused or could not run.
   */
  execute(body: ExecuteRequest, options: RequestOptions = {}): Promise<ExecutionResult> {
    return this.http.json<ExecutionResult>({ method: 'POST', path: '/v1/execute', body, idempotent: false, ...options });
  }

  /**
   * Run code and receive its events as they happen (`POST /v1/execute` with `Accept: text/event-stream`):
   * `stage`, `stdout`, `stderr`, `exit` per stage, then `result`. The request is sent when iteration
   * starts; errors before the execution starts are thrown from the first step, an `error` event is thrown
   * as a `PolyrunApiError`. Leaving the loop early (break, return, an exception) or aborting the signal
   * hangs up, which cancels the execution on the server.
   */
  stream(body: ExecuteRequest, options: RequestOptions = {}): AsyncGenerator<ExecutionEvent, void, undefined> {
    return eventStream(this.http, '/v1/execute', body, options);
  }

  /** Start an execution in the background (`POST /v1/executions`); poll it with `getExecution`. */
  submit(body: ExecuteRequest, options: RequestOptions = {}): Promise<SubmittedExecution> {
    return this.http.json<SubmittedExecution>({ method: 'POST', path: '/v1/executions', body, idempotent: false, ...options });
  }

  /**
   * The status or result of an execution (`GET /v1/executions/:id`): `queued` or `running` while pending,
   * then the same result as `execute()`, or `{status: "error", error}` when it could not run. With
   * `waitMs`, long-polls. An unknown, expired or other tenant's id is a `NotFoundError`.
   */
  getExecution(id: string, options: GetExecutionOptions = {}): Promise<ExecutionView> {
    const { waitMs, ...rest } = options;
    const wait = waitMs === undefined ? undefined : Math.max(0, Math.floor(waitMs));
    const timeoutMs = rest.timeoutMs ?? this.timeoutMs;
    return this.http.json<ExecutionView>({
      method: 'GET',
      path: `/v1/executions/${encodeURIComponent(id)}`,
      ...(wait !== undefined ? { query: { wait: String(wait) } } : {}),
      idempotent: true,
      ...rest,
      timeoutMs: wait && Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs + wait : timeoutMs,
    });
  }

  /** The runtimes this key may use, with their default limits and the tenant's maximum (`GET /v1/runtimes`). */
  runtimes(options: RequestOptions = {}): Promise<Runtime[]> {
    return this.http.json<Runtime[]>({ method: 'GET', path: '/v1/runtimes', idempotent: true, ...options });
  }

  /** This key's tenant: usage and quotas of the current UTC day (`GET /v1/usage`). */
  usage(options: RequestOptions = {}): Promise<Usage> {
    return this.http.json<Usage>({ method: 'GET', path: '/v1/usage', idempotent: true, ...options });
  }

  /** Liveness (`GET /healthz`): resolves while the process is up. */
  health(options: RequestOptions = {}): Promise<Health> {
    return this.http.json<Health>({ method: 'GET', path: '/healthz', idempotent: true, ...options });
  }

  /**
   * Readiness (`GET /readyz`): `ready`, or `degraded` while a data store cannot be written (executions
   * still work). A server that cannot run executions answers 503: an `UnavailableError` (`NOT_READY`,
   * `SHUTTING_DOWN`), after the usual retries (pass `retries: 0` for a single probe).
   */
  ready(options: RequestOptions = {}): Promise<Readiness> {
    return this.http.json<Readiness>({ method: 'GET', path: '/readyz', idempotent: true, ...options });
  }

  /** Sessions: a sandbox kept across calls, with files that persist between execs (`/v1/sessions`). */
  get sessions(): Sessions {
    return (this.sessionsApi ??= new Sessions(this.http));
  }

  private sessionsApi?: Sessions;

  /**
   * Judge a submission against test cases (`POST /v1/judge`): compiled once, every case run in the same
   * sandbox, a verdict per case, the submission's verdict and score. A wrong answer is a verdict, never an
   * exception.
   */
  judge(body: JudgeRequest, options: RequestOptions = {}): Promise<JudgeResult> {
    return this.http.json<JudgeResult>({ method: 'POST', path: '/v1/judge', body, idempotent: false, ...options });
  }

  /** Like `judge()`, with each case's verdict as soon as it is decided (`case` events), then `result`. */
  judgeStream(body: JudgeRequest, options: RequestOptions = {}): AsyncGenerator<JudgeEvent, void, undefined> {
    return eventStream<JudgeEvent>(this.http, '/v1/judge', body, options, JUDGE_EVENT_TYPES);
  }

  // Later APIs go here, as namespaces on the client, once the server has them (their types then come
  // from the regenerated openapi.ts like the rest): cells (notebook-style kernels within a session).
}

/** `polyrun.sessions`: one method per session operation. */
export class Sessions {
  constructor(private readonly http: Transport) {}

  /** Start a session (`POST /v1/sessions`): its sandbox lives until deleted, idle too long, or past its lifetime. */
  create(body: CreateSessionRequest = {}, options: RequestOptions = {}): Promise<Session> {
    return this.http.json<Session>({ method: 'POST', path: '/v1/sessions', body, idempotent: false, ...options });
  }

  /** This key's open sessions. */
  list(options: RequestOptions = {}): Promise<Session[]> {
    return this.http.json<Session[]>({ method: 'GET', path: '/v1/sessions', idempotent: true, ...options });
  }

  get(id: string, options: RequestOptions = {}): Promise<Session> {
    return this.http.json<Session>({ method: 'GET', path: sessionPath(id), idempotent: true, ...options });
  }

  /** End a session: its sandbox and files are gone. */
  delete(id: string, options: RequestOptions = {}): Promise<{ id: string; ended: boolean }> {
    return this.http.json({ method: 'DELETE', path: sessionPath(id), idempotent: true, ...options });
  }

  /** Run a command (`{argv}`) or a program (`{language, code | files}`) in the session and wait for its result. */
  exec(id: string, body: SessionExecRequest, options: RequestOptions = {}): Promise<SessionExecResult> {
    return this.http.json<SessionExecResult>({ method: 'POST', path: `${sessionPath(id)}/exec`, body, idempotent: false, ...options });
  }

  /** Like `exec`, with its events as they happen (the same events as `Polyrun.stream`). */
  execStream(id: string, body: SessionExecRequest, options: RequestOptions = {}): AsyncGenerator<ExecutionEvent, void, undefined> {
    return eventStream(this.http, `${sessionPath(id)}/exec`, body, options);
  }

  /** The relative paths of the regular files in the session's working dir. */
  async listFiles(id: string, options: RequestOptions = {}): Promise<string[]> {
    return (await this.http.json<{ files: string[] }>({ method: 'GET', path: `${sessionPath(id)}/files`, idempotent: true, ...options })).files;
  }

  /** Write a file (text as UTF-8, or bytes), replacing one of that name. */
  writeFile(id: string, path: string, content: string | Uint8Array, options: RequestOptions = {}): Promise<WrittenFile> {
    const body = typeof content === 'string' ? { content, encoding: 'utf8' } : { content: toBase64(content), encoding: 'base64' };
    return this.http.json<WrittenFile>({ method: 'PUT', path: filePath(id, path), body, idempotent: true, ...options });
  }

  /** A file's bytes (decode text with `new TextDecoder().decode(...)`). */
  readFile(id: string, path: string, options: RequestOptions = {}): Promise<Uint8Array> {
    return this.http.bytes({ method: 'GET', path: filePath(id, path), idempotent: true, ...options });
  }

  /** Delete a file or an empty directory. */
  deleteFile(id: string, path: string, options: RequestOptions = {}): Promise<{ path: string; deleted: boolean }> {
    return this.http.json({ method: 'DELETE', path: filePath(id, path), idempotent: true, ...options });
  }
}

function sessionPath(id: string): string {
  return `/v1/sessions/${encodeURIComponent(id)}`;
}

/** Each segment encoded, the slashes kept: the server confines the path to the working dir. */
function filePath(id: string, path: string): string {
  return `${sessionPath(id)}/files/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** Base64 with what every platform has (btoa), no Buffer. */
function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Whether `getExecution()` answered an execution that has not finished yet (`queued` or `running`). */
export function isPending(view: ExecutionView): view is PendingExecution {
  return view.status === 'queued' || view.status === 'running';
}

/** An `error` event of a stream: `{"error": {code, message, details?}}`, with the status its code has. */
function streamError(data: string, requestId: string | undefined): PolyrunApiError {
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    body = undefined;
  }
  if (!isErrorBody(body)) {
    return apiError({ status: 500, code: 'INTERNAL', message: `the execution failed: ${data.slice(0, 200)}`, requestId });
  }
  const { code, message, details } = body.error;
  return apiError({ status: statusOfCode(code), code, message, details, requestId });
}

/** The events of a streamed execution (`Accept: text/event-stream`); see `Polyrun.stream`. */
async function* eventStream<E extends { type: string } = ExecutionEvent>(
  http: Transport,
  path: string,
  body: unknown,
  options: RequestOptions,
  types: ReadonlySet<string> = EVENT_TYPES,
): AsyncGenerator<E, void, undefined> {
  const { response, attempt } = await http.open({ method: 'POST', path, body, accept: 'text/event-stream', idempotent: false, ...options });
  const requestId = response.headers.get('x-request-id') ?? undefined;
  let finished = false;
  try {
    const type = response.headers.get('content-type') ?? '';
    if (!type.toLowerCase().startsWith('text/event-stream') || !response.body) {
      throw new PolyrunConnectionError(`expected an event stream, the server answered ${type || 'no content type'}`);
    }
    for await (const message of readEventStream(response.body)) {
      if (message.event === 'error') throw streamError(message.data, requestId);
      if (!types.has(message.event)) continue; // an event type newer than this SDK
      let event: E;
      try {
        event = JSON.parse(message.data) as E;
      } catch (err) {
        throw new PolyrunConnectionError(`a "${message.event}" event is not JSON`, { cause: err });
      }
      if (event.type === 'result') finished = true;
      yield event;
      if (finished) return;
    }
    throw new PolyrunConnectionError('the event stream ended before the result');
  } catch (err) {
    throw attempt.failure(err);
  } finally {
    if (!finished) attempt.abort();
    attempt.dispose();
  }
}
