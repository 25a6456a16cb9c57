import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// `npm run test:vm` on the host: boots the cgroup v2 VM (scripts/cgroup2-vm) and checks its results. The
// guest's own suite (*.vmtest.ts) has its config beside this one; the root vitest.config.ts includes neither.
export default defineConfig({
  root: resolve(import.meta.dirname, '..', '..'),
  test: {
    include: ['test/vm/cgroup2-vm.test.ts'],
  },
});
