/**
 * The transport under every method: one request = attempts, each with its own timeout, combined with the
 * caller's AbortSignal; API errors become typed errors; retries on 429 and 503 (both are answered before
 * an execution starts, so even a POST is safe to send again), honouring Retry-After.
 *
 * Retry rules:
 * - 429 and 503, any method: up to `retries` times, waiting `Retry-After` seconds (or a backoff when the
 *   server gave none); not when the wait would exceed `maxRetryDelayMs` (a daily quota resets in hours).
 * - Idempotent requests (GETs) only: also a failed connection (after a backoff) and 502/504 (Retry-After or a
 *   backoff).
 * - Never: other statuses of a non-idempotent request, timeouts, a caller's abort, and a stream once it
 *   has started (its events are the execution's; sending it again would run the program again).
 */
import {
  PolyrunConnectionError,
  PolyrunError,
  PolyrunTimeoutError,
  abortError,
  apiError,
  isErrorBody,
  type PolyrunApiError,
} from './errors.js';

export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>;

export interface TransportSettings {
  baseUrl: string;
  apiKey: string | undefined;
  timeoutMs: number;
  retries: number;
  maxRetryDelayMs: number;
  fetch: FetchFunction;
  headers: Record<string, string>;
}

export interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  accept: string;
  /** May be sent again after a failed connection or a 502/504 (GETs). */
  idempotent: boolean;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
  retries?: number | undefined;
}

/** Backoff when the server names no delay: 0.5 s, 1 s, 2 s, ... at most 8 s. */
function backoffMs(attempt: number): number {
  return Math.min(500 * 2 ** attempt, 8_000);
}

/** Retry-After: delay-seconds or an HTTP date, in seconds (never negative). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * One attempt's signal: aborted by the caller's signal or by the attempt's timeout, whichever comes
 * first; `failure` turns whatever fetch or a body read threw into what the SDK throws.
 */
export class Attempt {
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout> | undefined;
  private abortedBy: 'caller' | 'timeout' | null = null;
  private readonly onCallerAbort = () => this.abort('caller');

  constructor(
    private readonly caller: AbortSignal | undefined,
    private readonly timeoutMs: number,
    /** "POST http://host/v1/execute", for messages. */
    private readonly what = 'the request',
  ) {
    if (caller?.aborted) throw abortError(caller.reason);
    caller?.addEventListener('abort', this.onCallerAbort, { once: true });
    if (Number.isFinite(timeoutMs) && timeoutMs > 0) this.timer = setTimeout(() => this.abort('timeout'), timeoutMs);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Cancel the request (and so its execution on the server). */
  abort(by: 'caller' | 'timeout' | 'client' = 'client'): void {
    if (this.controller.signal.aborted) return;
    if (by !== 'client') this.abortedBy = by;
    this.controller.abort(by === 'timeout' ? new PolyrunTimeoutError(this.timeoutMs) : abortError(this.caller?.reason));
  }

  failure(err: unknown): Error {
    if (this.abortedBy === 'caller') return abortError(this.caller?.reason);
    if (this.abortedBy === 'timeout') return new PolyrunTimeoutError(this.timeoutMs);
    if (err instanceof PolyrunError) return err;
    // Node's fetch says "fetch failed" and keeps the reason (ECONNREFUSED, a reset) in `cause`.
    const reasons: string[] = [];
    for (let e: unknown = err, depth = 0; e !== undefined && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
      const text = e instanceof Error ? e.message : String(e);
      if (text && !reasons.includes(text)) reasons.push(text);
    }
    return new PolyrunConnectionError(`${this.what} failed: ${reasons.join(': ') || 'no answer'}`, { cause: err });
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }
}

/** A delay the caller's signal can cut short (with an AbortError). */
function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal.reason));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * An error answer as a typed error (any body: a proxy's HTML page becomes `HTTP_<status>`), and the
 * seconds its Retry-After header (or the error's `retryAfterSeconds`) asks to wait.
 */
async function errorFromResponse(response: Response): Promise<{ error: PolyrunApiError; retryAfter: number | undefined }> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const requestId = response.headers.get('x-request-id') ?? undefined;
  let retryAfter = parseRetryAfter(response.headers.get('retry-after'));
  if (isErrorBody(body)) {
    const { code, message, details } = body.error;
    const hinted = (details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
    if (retryAfter === undefined && typeof hinted === 'number') retryAfter = hinted;
    return { error: apiError({ status: response.status, code, message, details, requestId, retryAfter }), retryAfter };
  }
  const snippet = text.trim().slice(0, 200);
  const error = apiError({
    status: response.status,
    code: `HTTP_${response.status}`,
    message: `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${snippet ? `: ${snippet}` : ''}`,
    requestId,
    retryAfter,
  });
  return { error, retryAfter };
}

export class Transport {
  constructor(private readonly settings: TransportSettings) {}

  url(path: string, query?: Record<string, string>): string {
    const search = query && Object.keys(query).length ? `?${new URLSearchParams(query).toString()}` : '';
    return `${this.settings.baseUrl}${path}${search}`;
  }

  /**
   * Send a request until it succeeds, retrying as the rules above allow. Resolves with the successful
   * response and its attempt, still running: read the body, then `dispose()` the attempt (or `abort()` it).
   */
  async open(call: Call): Promise<{ response: Response; attempt: Attempt }> {
    const { settings } = this;
    const retries = Math.max(0, call.retries ?? settings.retries);
    const timeoutMs = call.timeoutMs ?? settings.timeoutMs;
    const headers: Record<string, string> = { ...settings.headers, accept: call.accept };
    if (settings.apiKey !== undefined) headers.authorization = `Bearer ${settings.apiKey}`;
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    const url = this.url(call.path, call.query);

    for (let attemptNo = 0; ; attemptNo++) {
      const attempt = new Attempt(call.signal, timeoutMs, `${call.method} ${url}`);
      const canRetry = attemptNo < retries;
      let response: Response;
      try {
        response = await settings.fetch(url, {
          method: call.method,
          headers,
          ...(body !== undefined ? { body } : {}),
          signal: attempt.signal,
        });
      } catch (err) {
        attempt.dispose();
        const failure = attempt.failure(err);
        if (failure instanceof PolyrunConnectionError && call.idempotent && canRetry) {
          await delay(backoffMs(attemptNo), call.signal);
          continue;
        }
        throw failure;
      }
      if (response.ok) return { response, attempt };

      let answer: Awaited<ReturnType<typeof errorFromResponse>>;
      try {
        answer = await errorFromResponse(response);
      } catch (err) {
        throw attempt.failure(err);
      } finally {
        attempt.dispose();
      }
      const { error, retryAfter } = answer;
      const wait = canRetry ? this.retryDelay(error.status, retryAfter, call.idempotent, attemptNo) : null;
      if (wait === null) throw error;
      await delay(wait, call.signal);
    }
  }

  /** Milliseconds to wait before sending again, or null: do not. */
  private retryDelay(status: number, retryAfter: number | undefined, idempotent: boolean, attemptNo: number): number | null {
    const retryable = status === 429 || status === 503 || (idempotent && (status === 502 || status === 504));
    if (!retryable) return null;
    const ms = retryAfter === undefined ? backoffMs(attemptNo) : retryAfter * 1000;
    return ms <= this.settings.maxRetryDelayMs ? ms : null;
  }

  /** A request whose successful answer is raw bytes (a session's file). */
  async bytes(call: Omit<Call, 'accept'>): Promise<Uint8Array> {
    const { response, attempt } = await this.open({ ...call, accept: 'application/octet-stream' });
    try {
      return new Uint8Array(await response.arrayBuffer());
    } catch (err) {
      throw attempt.failure(err);
    } finally {
      attempt.dispose();
    }
  }

  /** A JSON request: the parsed body of the successful answer. */
  async json<T>(call: Omit<Call, 'accept'>): Promise<T> {
    const { response, attempt } = await this.open({ ...call, accept: 'application/json' });
    try {
      const text = await response.text();
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new PolyrunConnectionError(`the server answered ${response.status} with a body that is not JSON`, { cause: err });
      }
    } catch (err) {
      throw attempt.failure(err);
    } finally {
      attempt.dispose();
    }
  }
}
