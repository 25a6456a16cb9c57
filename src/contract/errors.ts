/**
 * polyrun's own errors (not the program's): one table of machine-readable codes, each with its HTTP status.
 * The CLI prints `message` and exits non-zero; the HTTP layer answers
 * `{"error": {"code", "message", "details"?}}` with `httpStatus`.
 */

export const ERROR_CODES = {
  BAD_REQUEST: 400,
  INVALID_JSON: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  LANGUAGE_NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  VALIDATION_FAILED: 422,
  UNKNOWN_LANGUAGE: 422,
  LIMIT_EXCEEDS_MAXIMUM: 422,
  INVALID_FILE_NAME: 422,
  TOO_MANY_FILES: 422,
  SOURCE_TOO_LARGE: 422,
  STDIN_TOO_LARGE: 422,
  INVALID_ENCODING: 422,
  TOO_MANY_ARGS: 422,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  QUEUE_FULL: 503,
  QUEUE_TIMEOUT: 503,
  SHUTTING_DOWN: 503,
  NOT_READY: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class PolyrunError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'PolyrunError';
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code];
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    return {
      error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) },
    };
  }
}
