/** A SandboxHostConfig for tests that start sandboxes without an executor: the service's settings (env included). */
import { loadConfig } from '../../src/config/load.js';
import { projectPath } from '../../src/project.js';
import { SANDBOX_IDS, type SandboxHostConfig } from '../../src/sandbox/host.js';

export function testHostConfig(overrides: Partial<SandboxHostConfig> = {}): SandboxHostConfig {
  const { sandbox } = loadConfig([]).config;
  return {
    ...SANDBOX_IDS,
    stateDir: sandbox.stateDir,
    backend: sandbox.backend,
    ociRuntime: sandbox.ociRuntime,
    initBinary: projectPath('build', 'polyrun-init'),
    mounts: [],
    ...overrides,
  };
}
