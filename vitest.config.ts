import { defineConfig } from 'vitest/config';

// Two kinds of tests: test/unit (and bench) need neither root nor a sandbox; test/sandbox runs real
// sandboxes as root. `npm run test:unit` runs the first kind alone; `npm test` runs both, then the cgroup v2
// VM (test/vm/host.vitest.config.ts) on its own.
export default defineConfig({
  test: {
    // vitest's default is one worker per core but one (cores - 1): on the 2-core machines this runs on that
    // is a single worker, and the suite ran file after file. Each file's sandboxes and host checks are its
    // own instance's (test/helpers/hostClean.ts), so two files can run side by side.
    maxWorkers: 2,
    minWorkers: 1,
    // vitest's defaults (5 s a test, 10 s a hook) fit pure unit tests, not a real compile or a sandbox start
    // on a loaded 2-core machine with another file beside it. These are bounds on waiting for a right
    // answer, not sleeps: a test that hangs still fails, after a minute. Tests that need longer say so.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    include: ['test/unit/**/*.test.ts', 'test/sandbox/**/*.test.ts', 'test/redis/**/*.test.ts', 'bench/**/*.test.ts'],
  },
});
