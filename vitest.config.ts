import { defineConfig } from 'vitest/config';

// Two kinds of tests: test/unit (and bench) need neither root nor a sandbox; test/sandbox runs real
// sandboxes as root. `npm run test:unit` runs the first kind alone; `npm test` runs both.
export default defineConfig({
  test: {
    // vitest's default is one worker per core but one (cores - 1): on the 2-core machines this runs on that
    // is a single worker, and the suite ran file after file. Each file's sandboxes and host checks are its
    // own instance's (test/helpers/hostClean.ts), so two files can run side by side.
    maxWorkers: 2,
    minWorkers: 1,
    include: ['test/unit/**/*.test.ts', 'test/sandbox/**/*.test.ts', 'test/redis/**/*.test.ts', 'bench/**/*.test.ts'],
  },
});
