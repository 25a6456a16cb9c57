/**
 * Where the project's own data files are (runtime manifests, the seccomp policy, the built init agent),
 * whether the code runs from src/ (tsx, vitest) or from the tsc build in dist/src/. Data files are read from
 * the source tree in both cases, so the build never has to copy them.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const inDist = here.split('/').includes('dist');

/** The repository root. */
export const PROJECT_ROOT = inDist ? resolve(here, '..', '..') : resolve(here, '..');

export function projectPath(...parts: string[]): string {
  return join(PROJECT_ROOT, ...parts);
}
