/**
 * The few polyrun API calls the playground makes, all to its own origin: GET /v1/runtimes and
 * POST /v1/execute as Server-Sent Events. Every failure becomes an ApiError carrying the API's own code and
 * human message (`{"error": {"code", "message"}}`), never a stack trace.
 */
import type { ExecutionEvent } from '../../src/contract/events.js';
import type { ExecuteBody } from '../../src/contract/request.js';
import type { ExecutionResult, StageResult } from '../../src/contract/result.js';
import type { RuntimeInfo } from '../../src/runtimes/catalogue.js';
import { SseParser } from './sse.js';

export type { ExecutionEvent, ExecutionResult, StageResult };

/** The API's own types (type-only imports: nothing of the server is bundled). */
export type { ExecuteBody, RuntimeInfo };

/** Run-stage limits a request may set (the playground sets CPU time, wall time and memory). */
export type Limits = NonNullable<ExecuteBody['limits']>;

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 0,
  ) {
    super(message);
  }
}

export class Api {
  /** `key` is asked for on every call: null sends no key (auth off). */
  constructor(private readonly key: () => string | null) {}

  async runtimes(key = this.key()): Promise<RuntimeInfo[]> {
    const res = await send('/v1/runtimes', { headers: authHeaders(key) });
    if (!res.ok) throw await errorOf(res);
    return (await res.json()) as RuntimeInfo[];
  }

  /**
   * Runs `body`, handing every event to `onEvent` as it arrives; resolves with the result. Aborting
   * `signal` closes the connection, which cancels the execution on the server.
   */
  async execute(body: ExecuteBody, onEvent: (event: ExecutionEvent) => void, signal: AbortSignal): Promise<ExecutionResult> {
    const res = await send('/v1/execute', {
      method: 'POST',
      headers: { ...authHeaders(this.key()), 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify(body),
      signal,
    });
    if (!res.ok) throw await errorOf(res);
    if (!res.headers.get('content-type')?.startsWith('text/event-stream') || !res.body) {
      return (await res.json()) as ExecutionResult; // a server that answered with plain JSON
    }

    // Set from the parser's callback (declared so TypeScript does not narrow them to null).
    let result = null as ExecutionResult | null;
    let failure = null as ApiError | null;
    const parser = new SseParser(({ event, data }) => {
      const payload = JSON.parse(data) as ExecutionEvent | { error: { code: string; message: string } };
      if (event === 'error' && 'error' in payload) failure = new ApiError(payload.error.code, payload.error.message);
      else if ('type' in payload && payload.type === 'result') result = payload.result;
      else if ('type' in payload) onEvent(payload);
    });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(value);
      }
    } catch (err) {
      throw networkError(err);
    }
    parser.end();
    if (failure) throw failure;
    if (!result) throw new ApiError('STREAM_ENDED', 'the connection closed before the result arrived');
    return result;
  }
}

function authHeaders(key: string | null): Record<string, string> {
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function send(path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(path, init);
  } catch (err) {
    throw networkError(err);
  }
}

function networkError(err: unknown): ApiError {
  if (err instanceof DOMException && err.name === 'AbortError') return new ApiError('ABORTED', 'stopped');
  return new ApiError('NETWORK', 'could not reach polyrun (the server is down or the connection was lost)');
}

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.message) return new ApiError(body.error.code ?? 'ERROR', body.error.message, res.status);
  } catch {
    // not JSON: described by the status below
  }
  return new ApiError('HTTP', `the server answered ${res.status} ${res.statusText}`.trim(), res.status);
}
