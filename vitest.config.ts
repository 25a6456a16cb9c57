import { defineConfig } from 'vitest/config';

// Two kinds of tests: test/unit (and bench) need neither root nor a sandbox; test/sandbox runs real
// sandboxes as root. `npm run test:unit` runs the first kind alone; `npm test` runs both.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/sandbox/**/*.test.ts', 'test/redis/**/*.test.ts', 'bench/**/*.test.ts'],
  },
});
