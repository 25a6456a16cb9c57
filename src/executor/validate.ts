/**
 * Request validation that does not depend on transport: file names, counts and sizes, stdin and
 * arguments. Pure; every refusal is a PolyrunError with a code the API maps to a 422.
 */
import { PolyrunError } from '../contract/errors.js';
import type { ExecutionRequest, SourceFile } from '../contract/request.js';
import type { RequestBounds } from '../limits/limits.js';

/** Why a file name is unsafe, or null when it is fine. */
export function fileNameProblem(name: string, maxBytes: number): string | null {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name, 'utf8') > maxBytes) return `is longer than ${maxBytes} bytes`;
  if (name.includes('\0')) return 'contains a NUL byte';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return 'contains a control character';
  if (name.startsWith('/')) return 'is an absolute path';
  if (name.includes('\\')) return 'contains a backslash';
  const parts = name.split('/');
  if (parts.some((p) => p === '..')) return 'contains a ".." component';
  if (parts.some((p) => p === '' || p === '.')) return 'contains an empty or "." component';
  return null;
}

export function validateRequestShape(req: ExecutionRequest, bounds: RequestBounds): void {
  validateFiles(req.files, bounds);
  const stdinBytes = typeof req.stdin === 'string' ? Buffer.byteLength(req.stdin, 'utf8') : (req.stdin?.length ?? 0);
  if (stdinBytes > bounds.maxStdinBytes) {
    throw new PolyrunError('STDIN_TOO_LARGE', `stdin is ${stdinBytes} bytes; the maximum is ${bounds.maxStdinBytes}`, {
      bytes: stdinBytes,
      maximum: bounds.maxStdinBytes,
    });
  }
  const args = req.args ?? [];
  if (args.length > bounds.maxArgs) {
    throw new PolyrunError('TOO_MANY_ARGS', `${args.length} arguments given; the maximum is ${bounds.maxArgs}`);
  }
  args.forEach((arg, i) => {
    if (typeof arg !== 'string' || arg.includes('\0')) {
      throw new PolyrunError('VALIDATION_FAILED', `args[${i}] must be a string without NUL bytes`);
    }
    if (Buffer.byteLength(arg, 'utf8') > bounds.maxArgBytes) {
      throw new PolyrunError('VALIDATION_FAILED', `args[${i}] is longer than ${bounds.maxArgBytes} bytes`);
    }
  });
}

export function validateFiles(files: SourceFile[], bounds: RequestBounds): void {
  if (!Array.isArray(files) || files.length === 0) {
    throw new PolyrunError('VALIDATION_FAILED', 'at least one file is required');
  }
  if (files.length > bounds.maxFiles) {
    throw new PolyrunError('TOO_MANY_FILES', `${files.length} files given; the maximum is ${bounds.maxFiles}`, {
      count: files.length,
      maximum: bounds.maxFiles,
    });
  }
  const seen = new Set<string>();
  let total = 0;
  files.forEach((file, i) => {
    total += file.content.length;
    if (file.name === undefined || file.name === '') return;
    const problem = fileNameProblem(file.name, bounds.maxFileNameBytes);
    if (problem) {
      throw new PolyrunError('INVALID_FILE_NAME', `files[${i}].name ${problem}`, { index: i, reason: problem });
    }
    if (seen.has(file.name)) {
      throw new PolyrunError('INVALID_FILE_NAME', `files[${i}].name "${file.name}" appears twice`, { index: i });
    }
    seen.add(file.name);
  });
  if (total > bounds.maxSourceBytes) {
    throw new PolyrunError('SOURCE_TOO_LARGE', `files total ${total} bytes; the maximum is ${bounds.maxSourceBytes}`, {
      bytes: total,
      maximum: bounds.maxSourceBytes,
    });
  }
}
