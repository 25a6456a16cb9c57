/**
 * What GET /languages/:id shows of a runtime: the source file's name and the compile and run commands, as
 * polyrun's runtime manifest plans them (argv joined with spaces; polyrun runs argv, never a shell).
 */
import type { RuntimeInfo } from '../../runtimes/catalogue.js';
import { planExecution } from '../../runtimes/plan.js';
import { findManifest, loadManifests } from '../../runtimes/registry.js';

let manifests: ReturnType<typeof loadManifests> | undefined;

export async function commands(runtime: RuntimeInfo): Promise<{ source_file: string | null; compile_cmd: string | null; run_cmd: string | null }> {
  manifests ??= loadManifests();
  const manifest = findManifest(await manifests, runtime.name);
  if (!manifest) return { source_file: null, compile_cmd: null, run_cmd: null };
  const plan = planExecution(manifest, [{ content: Buffer.alloc(0) }], [], runtime.limits.defaults);
  return {
    source_file: plan.files[0]?.name ?? null,
    compile_cmd: plan.compile ? plan.compile.argv.join(' ') : null,
    run_cmd: plan.run.argv.join(' '),
  };
}
