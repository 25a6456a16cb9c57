import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// On the host, after the root config's files in `npm test` (and alone in `npm run test:vm`): boots the cgroup
// v2 VM (scripts/cgroup2-vm) and checks its results. Its own run, not a file of the root config: beside other
// test files the emulated VM starves. The guest's suite (*.vmtest.ts) has its config beside this one.
export default defineConfig({
  root: resolve(import.meta.dirname, '..', '..'),
  test: {
    include: ['test/vm/cgroup2-vm.test.ts'],
  },
});
