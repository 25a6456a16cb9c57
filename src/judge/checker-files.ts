/**
 * Where a custom checker finds its inputs (in its own sandbox's working dir) and the order of its arguments:
 * testlib's `checker <input> <contestant output> <answer>`, so existing testlib checkers work unchanged.
 */
export const CHECKER_FILES = { input: 'input.txt', actual: 'actual.txt', expected: 'expected.txt' } as const;
export const CHECKER_ARGS = [CHECKER_FILES.input, CHECKER_FILES.actual, CHECKER_FILES.expected];
