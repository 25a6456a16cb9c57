/**
 * Pipeline stage 4, validation, done once: an ExecuteBody (schema-checked by Fastify, or built by the
 * Piston adapter or the CLI) becomes a PreparedExecution: the runtime and version resolved among those this
 * tenant may use, files and stdin decoded, the request's shape within bounds, limits resolved against the
 * tenant's ceiling, the sandbox profile chosen. Nothing downstream validates again: a prepared execution
 * becomes a job (`toJob`) that any worker can run. Pure; throws PolyrunErrors from the factories.
 */
import { errors, type LimitViolationDetail } from '../contract/errors.js';
import type { ExecutionJob } from '../contract/job.js';
import type { SandboxProfile } from '../contract/profile.js';
import type { ExecuteBody, FileEncoding, SourceFile } from '../contract/request.js';
import { languageAllowed, type TenantPolicy } from '../config/policy.js';
import {
  DEFAULT_BOUNDS,
  LIMIT_FIELDS,
  describeViolation,
  resolveLimits,
  type LimitTable,
  type LimitViolation,
  type RequestBounds,
  type StageLimits,
} from '../limits/limits.js';
import type { JudgeSpec } from '../judge/schema.js';
import type { RuntimeInfo, RuntimeLookup } from '../runtimes/catalogue.js';
import { resolveNetwork } from '../network/request-policy.js';
import { validateRequestShape } from './request-shape.js';

export interface PreparedExecution {
  runtime: RuntimeInfo;
  files: SourceFile[];
  stdin: Buffer;
  args: string[];
  /** Resolved: defaults < runtime overrides < request, each within the tenant's ceiling. */
  limits: LimitTable;
  profile: SandboxProfile;
  /** A judge request's cases and checker (src/judge/prepare.ts). */
  judge?: JudgeSpec;
}

export interface PrepareContext {
  runtimes: RuntimeLookup;
  policy: TenantPolicy;
  bounds?: RequestBounds;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

export function decodeContent(content: string, encoding: FileEncoding, field: string): Buffer {
  if (encoding === 'utf8') return Buffer.from(content, 'utf8');
  const compact = content.replace(/\s+/g, ''); // line-wrapped base64 is common
  const ok = encoding === 'base64' ? BASE64.test(compact) : HEX.test(compact);
  if (!ok) throw errors.invalidEncoding(field, encoding);
  return Buffer.from(compact, encoding);
}

/** The per-field minimum of two limit tables. */
export function minLimits(a: LimitTable, b: LimitTable): LimitTable {
  const min = (x: StageLimits, y: StageLimits) =>
    Object.fromEntries(LIMIT_FIELDS.map((f) => [f, Math.min(x[f], y[f])])) as unknown as StageLimits;
  return { compile: min(a.compile, b.compile), run: min(a.run, b.run) };
}

/** Runtimes a tenant may use, each with the limits that apply to it (defaults within the tenant's ceiling). */
export function allowedRuntimes(runtimes: Pick<RuntimeLookup, 'runtimes'>, policy: TenantPolicy): RuntimeInfo[] {
  return runtimes
    .runtimes()
    .filter((r) => languageAllowed(policy, r))
    .map((r) => {
      const maximum = minLimits(policy.maxLimits, r.limits.maximum);
      return { ...r, limits: { defaults: minLimits(r.limits.defaults, maximum), maximum } };
    });
}

function resolveRuntime(body: ExecuteBody, ctx: PrepareContext): RuntimeInfo {
  const runtime = ctx.runtimes.findRuntime(body.language, body.version);
  if (!runtime) {
    const known = allowedRuntimes(ctx.runtimes, ctx.policy).map((r) => `${r.name}-${r.version}`);
    throw errors.unknownLanguage(body.language, body.version, known);
  }
  if (!languageAllowed(ctx.policy, runtime)) throw errors.languageNotAllowed(runtime.name);
  return runtime;
}

function resolveProfile(body: ExecuteBody, policy: TenantPolicy): SandboxProfile {
  const profile = resolveNetwork(body.network, policy.network);
  const isolation = body.isolation ?? 'default';
  if (!policy.isolation.includes(isolation)) throw errors.isolationNotAllowed(isolation, policy.isolation);
  // An allowlist's netns and firewall are wired for the default tier's runtimes; gVisor's netstack is not.
  if (isolation === 'gvisor' && profile.network === 'egress') {
    throw errors.validationFailed('a network allowlist runs on the default isolation; with isolation "gvisor" use network "none" or "loopback"');
  }
  return { ...profile, ...(isolation === 'gvisor' ? { isolation } : {}) };
}

function violationDetail(v: LimitViolation): LimitViolationDetail {
  return { field: `${v.stage === 'compile' ? 'compileLimits' : 'limits'}.${v.field}`, requested: v.requested, maximum: v.maximum };
}

/** A runtime whose manifest says it cannot run under gVisor is refused isolation "gvisor", with the reason. */
function checkIsolation(runtime: RuntimeInfo, profile: SandboxProfile): void {
  if ((profile as { isolation?: string }).isolation === 'gvisor' && runtime.gvisorUnsupported) {
    throw errors.validationFailed(`${runtime.name} does not run under isolation "gvisor": ${runtime.gvisorUnsupported}`, {
      field: 'isolation',
      runtime: runtime.name,
    });
  }
}

export function prepareExecution(body: ExecuteBody, ctx: PrepareContext): PreparedExecution {
  const runtime = resolveRuntime(body, ctx);
  const files: SourceFile[] = body.files.map((f, i) => {
    const content = decodeContent(f.content, f.encoding ?? 'utf8', `files[${i}].content`);
    return f.name ? { name: f.name, content } : { content };
  });
  const stdin = decodeContent(body.stdin ?? '', body.stdinEncoding ?? 'utf8', 'stdin');
  const args = body.args ?? [];
  validateRequestShape({ files, stdin, args }, ctx.bounds ?? DEFAULT_BOUNDS);

  const resolution = resolveLimits({
    defaults: runtime.limits.defaults,
    request: { ...(body.limits ? { run: body.limits } : {}), ...(body.compileLimits ? { compile: body.compileLimits } : {}) },
    maximum: minLimits(ctx.policy.maxLimits, runtime.limits.maximum),
  });
  if (!resolution.ok) {
    throw errors.limitExceedsMaximum(resolution.violations.map(describeViolation).join('; '), resolution.violations.map(violationDetail));
  }
  const profile = resolveProfile(body, ctx.policy);
  checkIsolation(runtime, profile);
  return { runtime, files, stdin, args, limits: resolution.limits, profile };
}

export interface JobIdentity {
  id: string;
  tenantId: string;
  cacheScope: string;
  /** Keep stdin open for control messages (interactive runs). */
  interactive?: boolean;
}

/** A prepared execution as a job: plain JSON that can wait in any queue and run in any worker. */
export function toJob(prepared: PreparedExecution, identity: JobIdentity): ExecutionJob {
  return {
    id: identity.id,
    tenantId: identity.tenantId,
    runtime: { name: prepared.runtime.name, version: prepared.runtime.version },
    files: prepared.files.map((f) => ({ ...(f.name ? { name: f.name } : {}), content: f.content.toString('base64') })),
    stdin: prepared.stdin.toString('base64'),
    interactive: identity.interactive ?? false,
    args: prepared.args,
    limits: prepared.limits,
    cacheScope: identity.cacheScope,
    profile: prepared.profile,
    ...(prepared.judge ? { judge: prepared.judge } : {}),
  };
}
