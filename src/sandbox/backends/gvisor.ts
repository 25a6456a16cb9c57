/**
 * The `gvisor` backend: gVisor's runsc through the OCI path (backends/oci.ts). The program's system calls
 * are served by gVisor's user-space kernel (the Sentry), not the host's: the hardened tier.
 *
 * runsc options: --network=none (the sandbox gets loopback only, as with the other backends); --oci-seccomp
 * (runsc otherwise ignores the spec's seccomp object: with it the same policy is enforced inside the
 * Sentry, on top of gVisor's own filters of the Sentry itself).
 */
import { OciBackend } from './oci.js';

export const RUNSC_GLOBAL_ARGS = ['--network=none', '--oci-seccomp'];

export function gvisorBackend(instanceDir: string, bundlesDir: string): OciBackend {
  return new OciBackend('gvisor', 'runsc', instanceDir, bundlesDir, RUNSC_GLOBAL_ARGS);
}
