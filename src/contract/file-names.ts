/**
 * What a file name in a request may be: a relative path inside the working dir that no tool can mistake
 * for something else. Pure; shared by request validation, planning (after default names are given) and
 * the compile cache.
 */

/** Why a file name is unsafe, or null when it is fine. */
export function fileNameProblem(name: string, maxBytes: number): string | null {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name, 'utf8') > maxBytes) return `is longer than ${maxBytes} bytes`;
  if (name.includes('\0')) return 'contains a NUL byte';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return 'contains a control character';
  if (name.startsWith('/')) return 'is an absolute path';
  // Names reach compilers and interpreters as argv: "-c" or "-fplugin=x.c" would be read as an option.
  if (name.startsWith('-')) return 'starts with "-" (it would be read as an option)';
  if (name.includes('\\')) return 'contains a backslash';
  const parts = name.split('/');
  if (parts.some((p) => p === '..')) return 'contains a ".." component';
  if (parts.some((p) => p === '' || p === '.')) return 'contains an empty or "." component';
  return null;
}

/**
 * The first name that would have to be both a file and a directory ("d" and "d/e"), with the file it
 * collides with, or null.
 */
export function pathConflict(names: readonly string[]): { index: number; name: string; file: string } | null {
  const files = new Set(names);
  for (const [index, name] of names.entries()) {
    const parts = name.split('/');
    for (let k = 1; k < parts.length; k++) {
      const prefix = parts.slice(0, k).join('/');
      if (files.has(prefix)) return { index, name, file: prefix };
    }
  }
  return null;
}
