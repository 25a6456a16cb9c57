/**
 * The built-in checkers: does a program's output match the expected output? Pure, one function per
 * checker, each answering with a reason a contestant can act on (the first difference).
 */
import type { BuiltinChecker } from './schema.js';

export interface CheckOutcome {
  accepted: boolean;
  /** Why not (null when accepted). */
  message: string | null;
}

export const DEFAULT_TOLERANCE = 1e-6;

const ACCEPTED: CheckOutcome = { accepted: true, message: null };
const wrong = (message: string): CheckOutcome => ({ accepted: false, message });

/** Shown in messages: short, one line. */
function show(s: string | undefined): string {
  if (s === undefined) return 'end of output';
  const cut = s.length > 40 ? `${s.slice(0, 40)}...` : s;
  return JSON.stringify(cut);
}

export function checkOutput(checker: BuiltinChecker, actual: string, expected: string): CheckOutcome {
  switch (checker.type) {
    case 'exact':
      return exact(actual, expected);
    case 'trailing_whitespace':
      return lines(actual, expected);
    case 'tokens':
      return tokens(actual, expected, (a, e) => a === e);
    case 'case_insensitive':
      return tokens(actual, expected, (a, e) => a.toLowerCase() === e.toLowerCase());
    case 'float': {
      const abs = checker.absTolerance ?? DEFAULT_TOLERANCE;
      const rel = checker.relTolerance ?? DEFAULT_TOLERANCE;
      return tokens(actual, expected, (a, e) => floatsEqual(a, e, abs, rel), `within abs ${abs} / rel ${rel}`);
    }
  }
}

function exact(actual: string, expected: string): CheckOutcome {
  if (actual === expected) return ACCEPTED;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  const line = actual.slice(0, i).split('\n').length;
  return wrong(`output differs at byte ${i} (line ${line}): expected ${show(expected.slice(i, i + 20) || undefined)}, got ${show(actual.slice(i, i + 20) || undefined)}`);
}

/** Lines with their trailing whitespace removed, trailing empty lines dropped (CRLF counts as LF). */
export function normalizedLines(s: string): string[] {
  const out = s.split('\n').map((l) => l.replace(/[ \t\r\f\v]+$/, ''));
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

function lines(actual: string, expected: string): CheckOutcome {
  const a = normalizedLines(actual);
  const e = normalizedLines(expected);
  const n = Math.max(a.length, e.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== e[i]) return wrong(`line ${i + 1}: expected ${show(e[i])}, got ${show(a[i])}`);
  }
  return ACCEPTED;
}

export function splitTokens(s: string): string[] {
  return s.split(/\s+/).filter(Boolean);
}

function tokens(actual: string, expected: string, same: (a: string, e: string) => boolean, how = ''): CheckOutcome {
  const a = splitTokens(actual);
  const e = splitTokens(expected);
  const n = Math.min(a.length, e.length);
  for (let i = 0; i < n; i++) {
    if (!same(a[i]!, e[i]!)) return wrong(`token ${i + 1}: expected ${show(e[i])}${how ? ` (${how})` : ''}, got ${show(a[i])}`);
  }
  if (a.length !== e.length) return wrong(`expected ${e.length} tokens, got ${a.length}`);
  return ACCEPTED;
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?(?:inf|infinity|nan)$/i;

/**
 * Two tokens as numbers: equal within the absolute or the relative tolerance (either suffices, as in
 * testlib). A token that is not a number must match exactly; NaN matches NaN, infinities their own sign.
 */
export function floatsEqual(actual: string, expected: string, abs: number, rel: number): boolean {
  if (!NUMBER.test(expected) || !NUMBER.test(actual)) return actual === expected;
  const a = Number(actual.replace(/^([+-]?)inf(inity)?$/i, '$1Infinity'));
  const e = Number(expected.replace(/^([+-]?)inf(inity)?$/i, '$1Infinity'));
  if (Number.isNaN(e) || Number.isNaN(a)) return Number.isNaN(e) && Number.isNaN(a);
  if (!Number.isFinite(e) || !Number.isFinite(a)) return a === e;
  const diff = Math.abs(a - e);
  // A hair of slack for the tolerance's own rounding (1e-6 as a double is not exactly 1e-6).
  const slack = 1e-15 * Math.max(1, Math.abs(e));
  return diff <= abs + slack || diff <= rel * Math.abs(e) + slack;
}
