/**
 * Judge0's output comparison (Accepted vs Wrong Answer), pure: each line's trailing whitespace (space, tab,
 * CR, VT, FF, NUL) removed, trailing empty lines dropped, then the whole's trailing whitespace; byte-wise
 * and case-sensitive. A null expected output means no comparison; no output at all is null, so an expected
 * output of "" against no output is a wrong answer (Judge0's quirk, kept: clients depend on its verdicts).
 */

const TRAILING = /[ \t\r\v\f\0]+$/;

export function normalizeOutput(s: string | null): string | null {
  if (s === null) return null;
  const lines = s.split('\n');
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => l.replace(TRAILING, '')).join('\n').replace(/[ \t\r\v\f\0\n]+$/, '');
}

/** Accepted iff there is no expected output or the normalized outputs are equal. `stdout` "" counts as null. */
export function outputAccepted(stdout: string, expected: string | null): boolean {
  if (expected === null) return true;
  return normalizeOutput(stdout === '' ? null : stdout) === normalizeOutput(expected);
}
