/**
 * What the SDK throws. Every error is a `PolyrunError`, except a cancellation by the caller's
 * AbortSignal, which is the platform's own `AbortError` (a DOMException), as with `fetch`.
 *
 *   PolyrunError
 *   ├─ PolyrunApiError        the API answered an error: `status`, `code`, `message`, `details`, `requestId`
 *   │  ├─ ValidationError      400, 413, 415, 422 (the request: schema, unknown language, limits, sizes)
 *   │  ├─ AuthError            401, 403 (missing or unknown key; language or network mode not allowed)
 *   │  ├─ NotFoundError        404
 *   │  ├─ RateLimitError       429 (RATE_LIMITED, QUOTA_EXCEEDED), with `retryAfter` in seconds
 *   │  ├─ UnavailableError     503 (QUEUE_FULL, QUEUE_TIMEOUT, SHUTTING_DOWN, NOT_READY, ...), `retryAfter`
 *   │  └─ ServerError          500 and any other 5xx
 *   ├─ PolyrunTimeoutError    the request took longer than `timeoutMs`
 *   └─ PolyrunConnectionError the server could not be reached, or the answer broke off
 */
import type { ErrorBody } from './types.js';

/** Base of every error the SDK throws (a caller's abort excepted: that is an `AbortError`). */
export class PolyrunError extends Error {
  override name = 'PolyrunError';
}

export interface ApiErrorInit {
  status: number;
  code: string;
  message: string;
  details?: unknown;
  /** The server's `X-Request-Id` of the request, for its logs. */
  requestId?: string | undefined;
  /** Seconds from the `Retry-After` header. */
  retryAfter?: number | undefined;
}

/** The API answered with an error: `{"error": {code, message, details?}}` and an HTTP status. */
export class PolyrunApiError extends PolyrunError {
  override name = 'PolyrunApiError';
  /** HTTP status (for an error event in a stream: the status the same error has as an HTTP answer). */
  readonly status: number;
  /** Machine-readable code, e.g. `UNKNOWN_LANGUAGE` (see the API documentation). */
  readonly code: string;
  readonly details: unknown;
  readonly requestId: string | undefined;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.details = init.details;
    this.requestId = init.requestId;
  }
}

/** 400, 413, 415, 422: the request itself is wrong; sending it again will not help. */
export class ValidationError extends PolyrunApiError {
  override name = 'ValidationError';
}

/** 401 (missing or unknown API key), 403 (the key's policy does not allow it). */
export class AuthError extends PolyrunApiError {
  override name = 'AuthError';
}

/** 404: no such route or execution (unknown, expired, or another tenant's). */
export class NotFoundError extends PolyrunApiError {
  override name = 'NotFoundError';
}

/** 429: the rate limit (`RATE_LIMITED`) or a quota (`QUOTA_EXCEEDED`). */
export class RateLimitError extends PolyrunApiError {
  override name = 'RateLimitError';
  /** Seconds to wait before trying again (the `Retry-After` header), when the server said. */
  readonly retryAfter: number | undefined;

  constructor(init: ApiErrorInit) {
    super(init);
    this.retryAfter = init.retryAfter;
  }
}

/** 503: the service cannot take the request now (queue full or timed out, not ready, shutting down). */
export class UnavailableError extends PolyrunApiError {
  override name = 'UnavailableError';
  /** Seconds to wait before trying again (the `Retry-After` header), when the server said. */
  readonly retryAfter: number | undefined;

  constructor(init: ApiErrorInit) {
    super(init);
    this.retryAfter = init.retryAfter;
  }
}

/** 500 and other 5xx answers: the server failed. */
export class ServerError extends PolyrunApiError {
  override name = 'ServerError';
}

/** The request did not complete within `timeoutMs` (the request is cancelled, so is its execution). */
export class PolyrunTimeoutError extends PolyrunError {
  override name = 'PolyrunTimeoutError';
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super(`the request did not complete within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** The server could not be reached, or its answer broke off or was not what the API sends. */
export class PolyrunConnectionError extends PolyrunError {
  override name = 'PolyrunConnectionError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The HTTP status of each code, for errors that arrive without one (an `error` event in a stream, whose
 * HTTP answer was already 200). Codes not listed count as 500. The server's table
 * (src/contract/errors.ts ERROR_CODES) is the source: test/unit/sdk-types.test.ts fails when they differ.
 */
export const STATUS_OF_CODE: Record<string, number> = {
  BAD_REQUEST: 400,
  INVALID_JSON: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  LANGUAGE_NOT_ALLOWED: 403,
  NETWORK_NOT_ALLOWED: 403,
  ISOLATION_NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  SESSION_BUSY: 409,
  KERNEL_RUNNING: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  VALIDATION_FAILED: 422,
  UNKNOWN_LANGUAGE: 422,
  NO_KERNEL: 422,
  LIMIT_EXCEEDS_MAXIMUM: 422,
  INVALID_FILE_NAME: 422,
  TOO_MANY_FILES: 422,
  SOURCE_TOO_LARGE: 422,
  STDIN_TOO_LARGE: 422,
  INVALID_ENCODING: 422,
  TOO_MANY_ARGS: 422,
  INVALID_NETWORK_ENTRY: 422,
  TOO_MANY_NETWORK_ENTRIES: 422,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  SESSION_LIMIT: 429,
  CLIENT_CLOSED: 499,
  QUEUE_FULL: 503,
  QUEUE_TIMEOUT: 503,
  SHUTTING_DOWN: 503,
  NOT_READY: 503,
  STORAGE_UNAVAILABLE: 503,
  QUEUE_UNAVAILABLE: 503,
  STORAGE_FULL: 507,
  INTERNAL: 500,
};

export function statusOfCode(code: string): number {
  return STATUS_OF_CODE[code] ?? 500;
}

/** The error class for an HTTP status. */
export function apiError(init: ApiErrorInit): PolyrunApiError {
  const s = init.status;
  if (s === 400 || s === 413 || s === 415 || s === 422) return new ValidationError(init);
  if (s === 401 || s === 403) return new AuthError(init);
  if (s === 404) return new NotFoundError(init);
  if (s === 429) return new RateLimitError(init);
  if (s === 503) return new UnavailableError(init);
  if (s >= 500) return new ServerError(init);
  return new PolyrunApiError(init);
}

/** Whether a parsed JSON body is the API's error shape. */
export function isErrorBody(body: unknown): body is ErrorBody {
  const error = (body as { error?: unknown } | null)?.error as { code?: unknown; message?: unknown } | undefined;
  return typeof error === 'object' && error !== null && typeof error.code === 'string' && typeof error.message === 'string';
}

/** The platform's AbortError, as `fetch` rejects with when its signal is aborted. */
export function abortError(reason?: unknown): Error {
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('This operation was aborted', 'AbortError');
}

/** Whether `err` is a cancellation (the platform's AbortError). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
