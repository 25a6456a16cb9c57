import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// The cgroup v2 suite runs only inside the VM scripts/cgroup2-vm boots (the checkout is read-only there):
// the root vitest.config.ts never includes test/vm/.
export default defineConfig({
  root: resolve(import.meta.dirname, '..', '..'),
  cacheDir: '/tmp/polyrun-vm-vite',
  test: {
    include: ['test/vm/**/*.vmtest.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
