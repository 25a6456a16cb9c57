/**
 * The request's own shape, independent of transport and runtime: file names, counts and sizes, stdin and
 * arguments against the request bounds. Pure; every refusal comes from the error factories.
 */
import { errors } from '../contract/errors.js';
import { fileNameProblem, pathConflict } from '../contract/file-names.js';
import type { SourceFile } from '../contract/request.js';
import type { RequestBounds } from '../limits/limits.js';

export function validateRequestShape(req: { files: SourceFile[]; stdin: Buffer; args: string[] }, bounds: RequestBounds): void {
  validateFiles(req.files, bounds);
  if (req.stdin.length > bounds.maxStdinBytes) throw errors.stdinTooLarge(req.stdin.length, bounds.maxStdinBytes);
  if (req.args.length > bounds.maxArgs) throw errors.tooManyArgs(req.args.length, bounds.maxArgs);
  req.args.forEach((arg, i) => {
    if (typeof arg !== 'string' || arg.includes('\0')) throw errors.validationFailed(`args[${i}] must be a string without NUL bytes`);
    if (Buffer.byteLength(arg, 'utf8') > bounds.maxArgBytes) {
      throw errors.validationFailed(`args[${i}] is longer than ${bounds.maxArgBytes} bytes`);
    }
  });
}

export function validateFiles(files: SourceFile[], bounds: RequestBounds): void {
  if (!Array.isArray(files) || files.length === 0) throw errors.validationFailed('at least one file is required');
  if (files.length > bounds.maxFiles) throw errors.tooManyFiles(files.length, bounds.maxFiles);
  const seen = new Set<string>();
  let total = 0;
  files.forEach((file, i) => {
    total += file.content.length;
    if (file.name === undefined || file.name === '') return;
    const problem = fileNameProblem(file.name, bounds.maxFileNameBytes);
    if (problem) throw errors.invalidFileName(i, problem);
    if (seen.has(file.name)) throw errors.invalidFileName(i, `"${file.name}" appears twice`);
    seen.add(file.name);
  });
  if (total > bounds.maxSourceBytes) throw errors.sourceTooLarge(total, bounds.maxSourceBytes);
  // Unnamed files get their name when planned (plan.ts checks again then); "" is no one's directory.
  const conflict = pathConflict(files.map((f) => f.name ?? ''));
  if (conflict) throw errors.fileIsNotADirectory(conflict.index, conflict.name, conflict.file);
}
