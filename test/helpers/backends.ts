/**
 * The sandbox backends the sandbox suites run against, each asserting its own outcome where an attack ends
 * differently: oci and bwrap always (scripts/setup --test installs bubblewrap: a host where it cannot run
 * fails the bwrap cases with the reason), gvisor when runsc is installed (Debian 12 packages it; setup
 * installs it where the distribution has it). POLYRUN_TEST_BACKENDS=oci,bwrap narrows the list for a
 * developer's quick run; unset means all of them.
 */
import type { BackendName } from '../../src/sandbox/backend.js';
import { loadConfig } from '../../src/config/load.js';
import type { PolyrunConfig } from '../../src/config/schema.js';
import { gvisorBlocker, hostFacts } from '../../src/sandbox/backends/choose.js';
import { projectPath } from '../../src/project.js';

const facts = hostFacts({ launcher: projectPath('build', 'polyrun-launch'), seccompCompiler: projectPath('build', 'polyrun-seccomp-bpf') });

/** Backends that apply on this host, and why the others do not. */
export function backendsOnThisHost(): { backends: BackendName[]; unavailable: Record<string, string> } {
  const unavailable: Record<string, string> = {};
  const gvisor = gvisorBlocker(facts);
  if (gvisor) unavailable.gvisor = gvisor;
  const only = requestedBackends();
  let backends = (['oci', 'bwrap', 'gvisor'] as BackendName[]).filter((b) => !unavailable[b]);
  if (only.length) backends = backends.filter((b) => only.includes(b));
  return { backends, unavailable };
}

/** The backends POLYRUN_TEST_BACKENDS names (empty: all of them). */
export function requestedBackends(): string[] {
  return process.env.POLYRUN_TEST_BACKENDS?.split(',').filter(Boolean) ?? [];
}

/** The service configuration (env included) with the sandbox backend set. */
export function configWithBackend(backend: BackendName): PolyrunConfig {
  const config = loadConfig([]).config;
  return { ...config, sandbox: { ...config.sandbox, backend } };
}
