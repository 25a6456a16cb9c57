/**
 * File names that a tool would read as an option never reach a runtime: for every shipped runtime, an
 * entry file named "-c" (python -c, bash -c, node -p ... would run the arguments as code) or any file
 * whose name starts with "-" is refused at validation with 422 INVALID_FILE_NAME.
 */
import { describe, expect, it } from 'vitest';
import { BUILTIN_POLICY } from '../../src/config/policy.js';
import { DEFAULT_LIMITS, MAX_LIMITS } from '../../src/limits/limits.js';
import { prepareExecution } from '../../src/pipeline/prepare.js';
import type { RuntimeInfo, RuntimeLookup } from '../../src/runtimes/catalogue.js';
import { findManifest, loadManifests } from '../../src/runtimes/registry.js';

const manifests = await loadManifests();
const lookup: RuntimeLookup = {
  runtimes: () => manifests.map(info),
  findRuntime: (language) => {
    const m = findManifest(manifests, language);
    return m && info(m);
  },
};
function info(m: (typeof manifests)[number]): RuntimeInfo {
  return { name: m.name, language: m.language ?? m.name, version: '1', aliases: m.aliases, extensions: m.extensions, compiled: !!m.compile, limits: { defaults: DEFAULT_LIMITS, maximum: MAX_LIMITS } };
}

describe.each(manifests.map((m) => m.name))('%s', (language) => {
  const prepare = (files: { name?: string; content: string }[]) =>
    prepareExecution({ language, files, args: ['print(1)'] }, { runtimes: lookup, policy: BUILTIN_POLICY });

  it.each(['-c', '-p', '-e', '--eval', '-fplugin=x.so', '-'])('refuses the entry name %j', (name) => {
    expect(() => prepare([{ name, content: 'x' }])).toThrow(expect.objectContaining({ code: 'INVALID_FILE_NAME' }));
  });

  it('refuses an option-like name among the other files', () => {
    expect(() => prepare([{ content: 'x' }, { name: '-o', content: 'x' }])).toThrow(
      expect.objectContaining({ code: 'INVALID_FILE_NAME', details: expect.objectContaining({ index: 1 }) }),
    );
  });
});
