/**
 * polyrun's own errors (not the program's): one table of machine-readable codes with their HTTP status, and
 * one factory per error. Nothing else constructs a PolyrunError, so each code has one message shape and one
 * set of details. The CLI prints `message` and exits non-zero; the HTTP layer answers
 * `{"error": {"code", "message", "details"?}}` with `httpStatus` (and Retry-After from `retryAfterSeconds`).
 */

export const ERROR_CODES = {
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
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class PolyrunError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;

  /** Use the factories in `errors` below; they are the one place each code is built. */
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

/** A limit a request asked above its ceiling, as the API names it ("limits.cpuTimeMs"). */
export interface LimitViolationDetail {
  field: string;
  requested: number;
  maximum: number;
}

export const errors = {
  badRequest: (message: string) => new PolyrunError('BAD_REQUEST', message),
  invalidJson: (empty = false) =>
    new PolyrunError('INVALID_JSON', empty ? 'the request body is empty' : 'the request body is not valid JSON'),
  unauthorized: (message = 'not authenticated') => new PolyrunError('UNAUTHORIZED', message),
  adminRequired: () => new PolyrunError('FORBIDDEN', 'this needs an admin API key (polyrun keys create --tenant T --admin)'),
  languageNotAllowed: (language: string) =>
    new PolyrunError('LANGUAGE_NOT_ALLOWED', `this API key may not run ${language}`, { language }),
  networkNotAllowed: (mode: string, allowed: readonly string[]) =>
    new PolyrunError('NETWORK_NOT_ALLOWED', `this API key may not use network mode "${mode}"; allowed: ${allowed.join(', ')}`, {
      network: mode,
      allowed,
    }),
  isolationNotAllowed: (isolation: string, allowed: readonly string[]) =>
    new PolyrunError('ISOLATION_NOT_ALLOWED', `this API key may not use isolation "${isolation}"; allowed: ${allowed.join(', ')}`, {
      isolation,
      allowed,
    }),
  networkDisabled: () =>
    new PolyrunError('NETWORK_NOT_ALLOWED', 'this API key may not reach the network (its policy has network.enabled false)', {
      network: 'allow',
    }),
  networkEntryOutsideCeiling: (index: number, entry: string) =>
    new PolyrunError('NETWORK_NOT_ALLOWED', `network.allow[${index}] "${entry}" is outside what this API key may reach`, {
      network: 'allow',
      index,
      entry,
    }),
  invalidNetworkEntries: (problems: { index: number; entry: string; reason: string }[]) =>
    new PolyrunError(
      'INVALID_NETWORK_ENTRY',
      problems.map((p) => `network.allow[${p.index}] "${p.entry}": ${p.reason}`).join('; '),
      { problems },
    ),
  tooManyNetworkEntries: (count: number, maximum: number) =>
    new PolyrunError('TOO_MANY_NETWORK_ENTRIES', `network.allow has ${count} entries; at most ${maximum} allowed`, { count, maximum }),
  notFound: (message: string) => new PolyrunError('NOT_FOUND', message),
  payloadTooLarge: () => new PolyrunError('PAYLOAD_TOO_LARGE', 'the request body is larger than the configured limit'),
  unsupportedMediaType: () => new PolyrunError('UNSUPPORTED_MEDIA_TYPE', 'the request body must be application/json'),
  validationFailed: (message: string, details?: unknown) => new PolyrunError('VALIDATION_FAILED', message, details),
  unknownLanguage: (language: string, version: string | undefined, known: string[]) =>
    new PolyrunError(
      'UNKNOWN_LANGUAGE',
      `unknown language: ${version ? `${language} ${version}` : language}; known: ${known.join(', ') || 'none'}`,
      { language, ...(version ? { version } : {}), known },
    ),
  runtimeUnavailable: (language: string, reason: string) =>
    new PolyrunError('UNKNOWN_LANGUAGE', `${language} is not available on this host: ${reason}`, { language, reason }),
  limitExceedsMaximum: (message: string, violations: LimitViolationDetail[]) =>
    new PolyrunError('LIMIT_EXCEEDS_MAXIMUM', message, { violations }),
  invalidFileName: (index: number, reason: string) =>
    new PolyrunError('INVALID_FILE_NAME', `files[${index}].name ${reason}`, { index, reason }),
  fileIsNotADirectory: (index: number, name: string, file: string) =>
    new PolyrunError('INVALID_FILE_NAME', `files[${index}].name "${name}" needs "${file}" to be a directory, but it is a file`, {
      index,
      reason: 'path conflict',
      file,
    }),
  fileNameCollision: (name: string) => new PolyrunError('INVALID_FILE_NAME', `two files would both be named "${name}"`, { name }),
  tooManyFiles: (count: number, maximum: number) =>
    new PolyrunError('TOO_MANY_FILES', `${count} files given; the maximum is ${maximum}`, { count, maximum }),
  sourceTooLarge: (bytes: number, maximum: number) =>
    new PolyrunError('SOURCE_TOO_LARGE', `files total ${bytes} bytes; the maximum is ${maximum}`, { bytes, maximum }),
  stdinTooLarge: (bytes: number, maximum: number) =>
    new PolyrunError('STDIN_TOO_LARGE', `stdin is ${bytes} bytes; the maximum is ${maximum}`, { bytes, maximum }),
  invalidEncoding: (field: string, encoding: string) =>
    new PolyrunError('INVALID_ENCODING', `${field} is not valid ${encoding}`, { field, encoding }),
  tooManyArgs: (count: number, maximum: number) =>
    new PolyrunError('TOO_MANY_ARGS', `${count} arguments given; the maximum is ${maximum}`, { count, maximum }),
  rateLimited: (retryAfterSeconds: number, limit: number, after: string) =>
    new PolyrunError('RATE_LIMITED', `too many requests; retry in ${after}`, { limit, retryAfterSeconds }),
  quotaExceeded: (message: string, details: Record<string, unknown>) => new PolyrunError('QUOTA_EXCEEDED', message, details),
  clientClosed: () => new PolyrunError('CLIENT_CLOSED', 'the client closed the connection'),
  queueFull: (queued: number, maxQueued: number) =>
    new PolyrunError('QUEUE_FULL', 'all sandboxes are busy and the queue is full; retry shortly', {
      queued,
      maxQueued,
      retryAfterSeconds: 1,
    }),
  queueTimeout: (waitMs: number) =>
    new PolyrunError('QUEUE_TIMEOUT', `no sandbox became free within ${waitMs} ms; retry later`, { waitMs }),
  shuttingDown: () =>
    new PolyrunError('SHUTTING_DOWN', 'the service is shutting down; retry on another instance', { retryAfterSeconds: 1 }),
  notReady: (message: string) => new PolyrunError('NOT_READY', message),
  sessionNotFound: (id: string) => new PolyrunError('NOT_FOUND', `no session ${id} (unknown, ended or not yours)`, { session: id }),
  sessionBusy: (id: string) =>
    new PolyrunError('SESSION_BUSY', `session ${id} is running another exec; one exec at a time per session`, { session: id }),
  kernelRunning: (id: string, language: string, wanted: string) =>
    new PolyrunError(
      'KERNEL_RUNNING',
      `session ${id} holds a live ${language} kernel; ${wanted === 'exec' ? 'run code as cells, or stop the kernel' : 'stop it'} (DELETE /v1/sessions/${id}/kernel) ${wanted === 'exec' ? 'to run execs' : `to start a ${wanted} kernel`}`,
      { session: id, kernel: language },
    ),
  noKernel: (language: string, available: readonly string[]) =>
    new PolyrunError('NO_KERNEL', `there is no ${language} kernel; kernels: ${available.join(', ') || 'none on this host'}`, {
      language,
      available,
    }),
  sessionLimit: (limit: number) =>
    new PolyrunError('SESSION_LIMIT', `this API key has ${limit} sessions open, its maximum; delete one first`, {
      limit,
      retryAfterSeconds: 1,
    }),
  invalidSessionPath: (path: string, reason: string) =>
    new PolyrunError('INVALID_FILE_NAME', `path "${path}" ${reason}`, { path, reason }),
  sessionsUnavailable: () => new PolyrunError('NOT_READY', 'sessions need the sandboxed executor, which this server does not run'),
  internal: (message = 'internal error') => new PolyrunError('INTERNAL', message),
  /** An async result that finished but could not be written to the data dir. */
  resultNotStored: (file: string) =>
    new PolyrunError('STORAGE_FULL', `this execution finished, but its result could not be stored (${file}: the data disk is full or failing); run it again`),
  /** A store the request depends on (usage accounting) could not be written. */
  storageUnavailable: (store: string) =>
    new PolyrunError('STORAGE_UNAVAILABLE', `the ${store} store cannot be written right now (data disk full or failing); retry later`, {
      store,
      retryAfterSeconds: 5,
    }),
  /** The shared job queue (Redis, in a multi-node deployment) cannot be reached. */
  queueUnavailable: () =>
    new PolyrunError('QUEUE_UNAVAILABLE', 'the job queue (Redis) cannot be reached right now; retry shortly', {
      retryAfterSeconds: 2,
    }),
};

/**
 * A PolyrunError that travelled between processes as its `toJSON().error` (a worker's failure, read by the
 * API node that holds the client). An unknown code becomes INTERNAL rather than a code the table lacks.
 */
export function fromWireError(wire: { code?: unknown; message?: unknown; details?: unknown }): PolyrunError {
  if (typeof wire.code !== 'string' || !(wire.code in ERROR_CODES) || typeof wire.message !== 'string') return errors.internal();
  return new PolyrunError(wire.code as ErrorCode, wire.message, wire.details);
}

/** Anything thrown, as a PolyrunError: polyrun's own errors pass through, anything else is INTERNAL. */
export function toPolyrunError(err: unknown): PolyrunError {
  return err instanceof PolyrunError ? err : errors.internal();
}
