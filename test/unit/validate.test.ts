import { describe, expect, it } from 'vitest';
import { PolyrunError } from '../../src/contract/errors.js';
import type { ExecutionRequest, SourceFile } from '../../src/contract/request.js';
import { fileNameProblem } from '../../src/contract/file-names.js';
import { validateFiles, validateRequestShape } from '../../src/pipeline/request-shape.js';
import { DEFAULT_BOUNDS, type RequestBounds } from '../../src/limits/limits.js';

const bounds: RequestBounds = { ...DEFAULT_BOUNDS, maxFiles: 4, maxSourceBytes: 100, maxStdinBytes: 50, maxArgs: 3, maxArgBytes: 8, maxFileNameBytes: 32 };
const file = (name: string | undefined, content = 'x'): SourceFile => ({ name, content: Buffer.from(content) });
/** The shape check takes decoded bytes: stdin as a Buffer (string stdin is encoded as UTF-8 first, as prepareExecution does). */
const req = (over: Partial<ExecutionRequest> = {}) => ({
  files: over.files ?? [file('main.py')],
  stdin: Buffer.from(over.stdin ?? ''),
  args: over.args ?? [],
});

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PolyrunError);
    return (err as PolyrunError).code;
  }
  return undefined;
}

describe('fileNameProblem', () => {
  it.each(['main.py', 'src/main.c', 'a/b/c/d.txt', '.hidden', '..dots', 'a..b', 'x.', 'ünicode.py', 'with space.js', 'sub/-x.py'])(
    'accepts %j',
    (name) => expect(fileNameProblem(name, 255)).toBeNull(),
  );

  it.each<[string, string, RegExp]>([
    ['empty', '', /empty/],
    ['parent dir', '..', /\.\./],
    ['leading parent', '../etc/passwd', /\.\./],
    ['inner parent', 'a/../../b', /\.\./],
    ['trailing parent', 'a/..', /\.\./],
    ['absolute', '/etc/passwd', /absolute/],
    ['NUL', 'a\0b', /NUL/],
    ['newline', 'a\nb', /control/],
    ['tab', 'a\tb', /control/],
    ['escape', '\x1b[31m', /control/],
    ['DEL', 'a\x7f', /control/],
    ['backslash', '..\\x', /backslash/],
    ['dot component', './main.py', /"\."/],
    ['empty component', 'a//b', /empty/],
    ['trailing slash', 'dir/', /empty/],
    // argv: a name like "-c" or "-fplugin=x.c" would be an option to the interpreter or compiler
    ['leading dash', '-c', /starts with "-"/],
    ['leading dash option', '-fplugin=x.c', /starts with "-"/],
    ['dash alone', '-', /starts with "-"/],
  ])('refuses %s (%j)', (_, name, reason) => {
    expect(fileNameProblem(name, 255)).toMatch(reason);
  });

  it('measures length in UTF-8 bytes', () => {
    expect(fileNameProblem('a'.repeat(255), 255)).toBeNull();
    expect(fileNameProblem('a'.repeat(256), 255)).toMatch(/longer than 255/);
    expect(fileNameProblem('é'.repeat(128), 255)).toMatch(/longer/); // 256 bytes, 128 chars
  });
});

describe('validateFiles', () => {
  it('accepts a normal set, and unnamed files (defaults come later)', () => {
    expect(() => validateFiles([file('main.py'), file('lib/util.py'), file(undefined), file('')], bounds)).not.toThrow();
  });

  it('requires at least one file', () => {
    expect(codeOf(() => validateFiles([], bounds))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => validateFiles(undefined as unknown as SourceFile[], bounds))).toBe('VALIDATION_FAILED');
  });

  it('refuses too many files', () => {
    const files = Array.from({ length: 5 }, (_, i) => file(`f${i}.py`));
    expect(codeOf(() => validateFiles(files, bounds))).toBe('TOO_MANY_FILES');
    expect(codeOf(() => validateFiles(files.slice(0, 4), bounds))).toBeUndefined();
  });

  it.each(['../x', '/abs', 'a\0b', 'a\x01', 'x'.repeat(33), 'a/../b'])('refuses the name %j with INVALID_FILE_NAME', (name) => {
    expect(codeOf(() => validateFiles([file('main.py'), file(name)], bounds))).toBe('INVALID_FILE_NAME');
  });

  it('refuses a name that needs another file to be a directory ("d" and "d/e"), in any order', () => {
    for (const names of [['d', 'd/e'], ['d/e', 'd'], ['a/b', 'a/b/c/d.py']]) {
      let err: PolyrunError | undefined;
      try {
        validateFiles(names.map((n) => file(n)), bounds);
      } catch (e) {
        err = e as PolyrunError;
      }
      expect(err?.code).toBe('INVALID_FILE_NAME');
      expect(err?.message).toMatch(/needs ".*" to be a directory, but it is a file/);
    }
    expect(codeOf(() => validateFiles([file('d/x'), file('d/y'), file('dd')], bounds))).toBeUndefined();
  });

  it('names the index of the bad file', () => {
    try {
      validateFiles([file('ok.py'), file('../bad')], bounds);
      expect.unreachable();
    } catch (err) {
      expect((err as PolyrunError).message).toContain('files[1]');
      expect((err as PolyrunError).details).toMatchObject({ index: 1 });
    }
  });

  it('refuses duplicate names', () => {
    expect(codeOf(() => validateFiles([file('a.py'), file('b.py'), file('a.py')], bounds))).toBe('INVALID_FILE_NAME');
  });

  it('refuses sources larger than the maximum in total', () => {
    expect(codeOf(() => validateFiles([file('a', 'x'.repeat(100))], bounds))).toBeUndefined();
    expect(codeOf(() => validateFiles([file('a', 'x'.repeat(101))], bounds))).toBe('SOURCE_TOO_LARGE');
    expect(codeOf(() => validateFiles([file('a', 'x'.repeat(60)), file('b', 'x'.repeat(41))], bounds))).toBe('SOURCE_TOO_LARGE');
    // Unnamed files count too.
    expect(codeOf(() => validateFiles([file(undefined, 'x'.repeat(101))], bounds))).toBe('SOURCE_TOO_LARGE');
  });
});

describe('validateRequestShape', () => {
  it('accepts a normal request', () => {
    expect(() => validateRequestShape(req({ stdin: 'hi', args: ['a', 'b'] }), bounds)).not.toThrow();
  });

  it('refuses stdin above the maximum, as string (UTF-8 bytes) or buffer', () => {
    expect(codeOf(() => validateRequestShape(req({ stdin: 'x'.repeat(50) }), bounds))).toBeUndefined();
    expect(codeOf(() => validateRequestShape(req({ stdin: 'x'.repeat(51) }), bounds))).toBe('STDIN_TOO_LARGE');
    expect(codeOf(() => validateRequestShape(req({ stdin: 'é'.repeat(26) }), bounds))).toBe('STDIN_TOO_LARGE');
    expect(codeOf(() => validateRequestShape(req({ stdin: Buffer.alloc(51) }), bounds))).toBe('STDIN_TOO_LARGE');
  });

  it('refuses too many arguments, long ones and ones with NUL', () => {
    expect(codeOf(() => validateRequestShape(req({ args: ['1', '2', '3', '4'] }), bounds))).toBe('TOO_MANY_ARGS');
    expect(codeOf(() => validateRequestShape(req({ args: ['x'.repeat(9)] }), bounds))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => validateRequestShape(req({ args: ['a\0b'] }), bounds))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => validateRequestShape(req({ args: [1 as unknown as string] }), bounds))).toBe('VALIDATION_FAILED');
  });

  it('validates the files of the request', () => {
    expect(codeOf(() => validateRequestShape(req({ files: [file('/etc/passwd')] }), bounds))).toBe('INVALID_FILE_NAME');
  });
});
