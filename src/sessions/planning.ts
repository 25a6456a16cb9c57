/**
 * What an exec or a cell request becomes, for one tenant and one session: validated once (the program
 * through the one `prepareExecution`, a command or a cell against the session's limits and the tenant's
 * ceiling), refused with a PolyrunError otherwise. Used by the HTTP routes and the MCP session tools.
 */
import { languageAllowed, type Tenant } from '../config/policy.js';
import { errors } from '../contract/errors.js';
import type { CellBody } from '../kernels/contract.js';
import { KERNELS, kernelFor, type KernelSpec } from '../kernels/kernels.js';
import type { StageLimits } from '../limits/limits.js';
import { decodeContent, prepareExecution } from '../pipeline/prepare.js';
import type { RuntimeLookup } from '../runtimes/catalogue.js';
import { planExecution } from '../runtimes/plan.js';
import type { SessionBackend } from './manager.js';
import { commandArgv, commandEnv, commandLimits, isCommandExec, programBody, runtimeAllowed, type SessionExecBody } from './requests.js';
import type { Session, SessionExec } from './session.js';

export interface PlanContext {
  tenant: Tenant;
  session: Session;
  runtimes: RuntimeLookup;
  backend: SessionBackend;
}

export function planExec({ tenant, session, runtimes, backend }: PlanContext, body: SessionExecBody): SessionExec {
  const settings = session.settings;
  if (isCommandExec(body)) {
    const limits = commandLimits(settings.limits, body.limits, tenant.policy.maxLimits);
    const stdin = decodeContent(body.stdin ?? '', body.stdinEncoding ?? 'utf8', 'stdin');
    const maxStdin = backend.bounds.maxStdinBytes;
    if (stdin.length > maxStdin) throw errors.stdinTooLarge(stdin.length, maxStdin);
    return { kind: 'command', command: { argv: commandArgv(body.argv), env: commandEnv(body.env), limits, stdin } };
  }
  const prepared = prepareExecution(programBody(body, settings.limits, settings.network), {
    runtimes,
    policy: tenant.policy,
    bounds: backend.bounds,
  });
  if (!runtimeAllowed(settings.runtimes, prepared.runtime)) throw errors.languageNotAllowed(prepared.runtime.name);
  const manifest = backend.catalogue.manifestFor(prepared.runtime.name, prepared.runtime.version);
  if (!manifest) throw errors.unknownLanguage(prepared.runtime.name, prepared.runtime.version, []);
  const plan = planExecution(manifest, prepared.files, prepared.args, prepared.limits);
  return {
    kind: 'program',
    language: manifest.name,
    version: prepared.runtime.version,
    plan,
    compile: plan.compile ? { ...plan.compile, limits: prepared.limits.compile } : null,
    run: { ...plan.run, limits: prepared.limits.run, stdin: prepared.stdin },
  };
}

/** The kernels whose runtime passed its self-test on this host. */
export function availableKernels(runtimes: Pick<RuntimeLookup, 'runtimes'>): KernelSpec[] {
  const names = new Set(runtimes.runtimes().map((r) => r.name));
  return KERNELS.filter((k) => names.has(k.runtime));
}

export function planCell({ tenant, session, runtimes }: PlanContext, body: CellBody): { spec: KernelSpec; limits: StageLimits } {
  const language = body.language ?? 'python';
  const available = availableKernels(runtimes);
  const spec = kernelFor(language);
  if (!spec || !available.includes(spec)) throw errors.noKernel(language, available.map((k) => k.language));
  const runtime = runtimes.runtimes().find((r) => r.name === spec.runtime)!;
  if (!languageAllowed(tenant.policy, runtime) || !runtimeAllowed(session.settings.runtimes, runtime)) {
    throw errors.languageNotAllowed(runtime.name);
  }
  return { spec, limits: commandLimits(session.settings.limits, body.limits, tenant.policy.maxLimits) };
}
