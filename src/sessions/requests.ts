/**
 * Sessions, the pure part: request and response schemas (TypeBox; the types come from them), and the rules
 * that turn a create or exec request into settings within the tenant's policy. No I/O.
 */
import { Type, type Static } from '@sinclair/typebox';
import { errors } from '../contract/errors.js';
import type { SandboxProfile } from '../contract/profile.js';
import { resolveNetwork } from '../network/request-policy.js';
import { ExecuteBodySchema, FILE_ENCODINGS, NetworkFieldSchema, type ExecuteBody } from '../contract/request.js';
import type { TenantPolicy } from '../config/policy.js';
import { fileNameProblem } from '../contract/file-names.js';
import {
  DEFAULT_LIMITS,
  StageLimitsOverrideSchema,
  StageLimitsSchema,
  describeViolation,
  overlay,
  resolveLimits,
  type LimitTable,
  type RequestBounds,
  type StageLimits,
} from '../limits/limits.js';
import type { SandboxShape } from '../sandbox/sandbox.js';
import { shapeFor } from '../executor/shape.js';
import { BASE_ENV } from '../runtimes/plan.js';
import { KernelViewSchema } from '../kernels/contract.js';

/** A session's network: a mode, or an allowlist (the same field as in /v1/execute). */
const Network = NetworkFieldSchema;
export type SessionNetwork = NonNullable<ExecuteBody['network']>;
const Encoding = Type.Union(FILE_ENCODINGS.map((e) => Type.Literal(e)));

export const SessionCreateBodySchema = Type.Object(
  {
    runtimes: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        maxItems: 64,
        description: 'runtimes (names or aliases) program execs may use; default every runtime the key may use',
      }),
    ),
    limits: Type.Optional(StageLimitsOverrideSchema),
    network: Type.Optional(Network),
    idleTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, description: 'end the session after this long without a request' })),
    maxLifetimeMs: Type.Optional(Type.Integer({ minimum: 1, description: 'end the session this long after it started, whatever it does' })),
  },
  { additionalProperties: false },
);
export type SessionCreateBody = Static<typeof SessionCreateBodySchema>;

export const SessionViewSchema = Type.Object({
  id: Type.String(),
  createdAt: Type.String({ description: 'ISO time' }),
  lastUsedAt: Type.String({ description: 'ISO time of the last request that used the session' }),
  expiresAt: Type.String({ description: 'ISO time the session ends unless it is used again (idle timeout or lifetime)' }),
  endsAt: Type.String({ description: 'ISO time the lifetime ends' }),
  idleTimeoutMs: Type.Integer(),
  maxLifetimeMs: Type.Integer(),
  network: Network,
  runtimes: Type.Union([Type.Literal('*'), Type.Array(Type.String())]),
  limits: StageLimitsSchema,
  memoryBytes: Type.Integer({ description: "the sandbox's memory: no exec gets more" }),
  diskBytes: Type.Integer({ description: 'size of the working dir (and of /tmp)' }),
  busy: Type.Boolean({ description: 'an exec or a cell is running' }),
  kernel: Type.Union([KernelViewSchema, Type.Null()], { description: 'the live kernel, if a cell started one' }),
});
export type SessionView = Static<typeof SessionViewSchema>;

const Stdin = {
  stdin: Type.Optional(Type.String()),
  stdinEncoding: Type.Optional(Encoding),
};

export const CommandExecSchema = Type.Object(
  {
    argv: Type.Array(Type.String({ maxLength: 4096 }), {
      minItems: 1,
      maxItems: 64,
      description: 'argv[0] is absolute or looked up in the sandbox PATH (/usr/local/bin:/usr/bin:/bin); runs in /box',
    }),
    env: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' }), Type.String({ maxLength: 4096 }), {
        additionalProperties: false,
        maxProperties: 64,
        description: 'over the base env (PATH, HOME=/tmp, LANG, TMPDIR)',
      }),
    ),
    ...Stdin,
    limits: Type.Optional(StageLimitsOverrideSchema),
  },
  { additionalProperties: false },
);
export type CommandExec = Static<typeof CommandExecSchema>;

const ExecuteProps = ExecuteBodySchema.properties;
export const ProgramExecSchema = Type.Object(
  {
    language: ExecuteProps.language,
    version: ExecuteProps.version,
    // The execute body's file schema, without its `default` (ignored, hence refused, inside a union).
    files: Type.Optional(
      Type.Array(
        Type.Object(
          { name: ExecuteProps.files.items.properties.name, content: Type.String(), encoding: Type.Optional(Encoding) },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: ExecuteProps.files.maxItems },
      ),
    ),
    code: Type.Optional(Type.String({ description: 'the entry file, under the runtime\'s default name (before `files`)' })),
    ...Stdin,
    args: ExecuteProps.args,
    limits: Type.Optional(StageLimitsOverrideSchema),
    compileLimits: Type.Optional(StageLimitsOverrideSchema),
  },
  { additionalProperties: false },
);
export type ProgramExec = Static<typeof ProgramExecSchema>;

export const SessionExecBodySchema = Type.Union([CommandExecSchema, ProgramExecSchema]);
export type SessionExecBody = Static<typeof SessionExecBodySchema>;

export function isCommandExec(body: SessionExecBody): body is CommandExec {
  return 'argv' in body;
}

export const SessionFileBodySchema = Type.Object(
  { content: Type.String(), encoding: Type.Optional(Encoding) },
  { additionalProperties: false },
);
export type SessionFileBody = Static<typeof SessionFileBodySchema>;

/** What a session is, decided once at creation. */
export interface SessionSettings {
  idleTimeoutMs: number;
  lifetimeMs: number;
  network: SessionNetwork;
  /** The sandbox profile the network gives (an allowlist: profile network "egress" with the tenant's caps). */
  profile: SandboxProfile;
  runtimes: '*' | string[];
  /** Default limits of every exec (run stage; compile stages start from the runtime's defaults). */
  limits: StageLimits;
  shape: SandboxShape;
}

/** A create request within the tenant's policy, or a PolyrunError (422/403) naming what is not. */
export function sessionSettings(body: SessionCreateBody, policy: TenantPolicy, bounds: RequestBounds): SessionSettings {
  const p = policy.sessions;
  const idleTimeoutMs = body.idleTimeoutMs ?? Math.min(p.idleTimeoutMs, p.maxIdleTimeoutMs);
  if (idleTimeoutMs > p.maxIdleTimeoutMs) {
    throw errors.validationFailed(`idleTimeoutMs ${idleTimeoutMs} exceeds the allowed maximum of ${p.maxIdleTimeoutMs}`);
  }
  const lifetimeMs = body.maxLifetimeMs ?? Math.min(p.lifetimeMs, p.maxLifetimeMs);
  if (lifetimeMs > p.maxLifetimeMs) {
    throw errors.validationFailed(`maxLifetimeMs ${lifetimeMs} exceeds the allowed maximum of ${p.maxLifetimeMs}`);
  }
  const network: SessionNetwork = body.network ?? 'none';
  const profile = resolveNetwork(network, policy.network);
  const resolution = resolveLimits({ defaults: DEFAULT_LIMITS, request: body.limits ? { run: body.limits } : {}, maximum: policy.maxLimits });
  if (!resolution.ok) {
    throw errors.limitExceedsMaximum(
      resolution.violations.map(describeViolation).join('; '),
      resolution.violations.map((v) => ({ field: `limits.${v.field}`, requested: v.requested, maximum: v.maximum })),
    );
  }
  const shape = sessionShape(policy, bounds);
  return { idleTimeoutMs, lifetimeMs, network, profile, runtimes: body.runtimes ?? '*', limits: resolution.limits.run, shape };
}

/** The session's sandbox: the tenant's maximum limits, its memory and disk capped by the session policy. */
export function sessionShape(policy: TenantPolicy, bounds: RequestBounds): SandboxShape {
  const shape = shapeFor(policy.maxLimits, bounds);
  return {
    ...shape,
    memoryBytes: Math.min(shape.memoryBytes, policy.sessions.memoryBytes),
    workDirBytes: policy.sessions.diskBytes,
    tmpBytes: policy.sessions.diskBytes,
  };
}

/** The limits of a command exec: the session's defaults, then the exec's, within the tenant's ceiling. */
export function commandLimits(sessionLimits: StageLimits, asked: Partial<StageLimits> | undefined, maximum: LimitTable): StageLimits {
  const resolution = resolveLimits({
    defaults: overlay(DEFAULT_LIMITS, { run: sessionLimits }),
    request: asked ? { run: asked } : {},
    maximum,
  });
  if (!resolution.ok) {
    throw errors.limitExceedsMaximum(
      resolution.violations.map(describeViolation).join('; '),
      resolution.violations.map((v) => ({ field: `limits.${v.field}`, requested: v.requested, maximum: v.maximum })),
    );
  }
  return resolution.limits.run;
}

/**
 * The argv init executes: absolute (or relative with a slash) as given, a bare name through
 * /usr/bin/env, which looks it up in the stage's PATH.
 */
export function commandArgv(argv: readonly string[]): string[] {
  const [first, ...rest] = argv;
  if (first === undefined || first === '') throw errors.validationFailed('argv[0] must name a program');
  if (argv.some((a) => a.includes('\0'))) throw errors.validationFailed('argv must not contain NUL bytes');
  return first.includes('/') ? [first, ...rest] : ['/usr/bin/env', '--', first, ...rest];
}

/** The env of a command exec: the base env every stage starts from, then the request's. */
export function commandEnv(env: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = { ...BASE_ENV };
  for (const [key, value] of Object.entries(env ?? {})) {
    if (value.includes('\0') || key.includes('=') || key.includes('\0')) throw errors.validationFailed(`env ${key} is not valid`);
    out[key] = value;
  }
  return out;
}

/** A program exec as an execute body, so it is validated by the one prepareExecution. */
export function programBody(body: ProgramExec, defaults: StageLimits, network: SessionNetwork): ExecuteBody {
  const files = [...(body.code !== undefined ? [{ content: body.code }] : []), ...(body.files ?? [])];
  if (files.length === 0) throw errors.validationFailed('a program exec needs `code` or `files`');
  return {
    language: body.language,
    ...(body.version ? { version: body.version } : {}),
    files,
    ...(body.stdin !== undefined ? { stdin: body.stdin } : {}),
    ...(body.stdinEncoding ? { stdinEncoding: body.stdinEncoding } : {}),
    ...(body.args ? { args: body.args } : {}),
    limits: { ...defaults, ...body.limits },
    ...(body.compileLimits ? { compileLimits: body.compileLimits } : {}),
    network,
  };
}

/** A file path of the session's working dir, or a 422 naming why not. */
export function sessionPath(path: string, bounds: RequestBounds): string {
  const problem = fileNameProblem(path, bounds.maxFileNameBytes);
  if (problem) throw errors.invalidSessionPath(path, problem);
  return path;
}

/** Whether a session may run a runtime (known by name and aliases). */
export function runtimeAllowed(runtimes: '*' | string[], runtime: { name: string; aliases: string[] }): boolean {
  if (runtimes === '*') return true;
  const allowed = new Set(runtimes.map((r) => r.toLowerCase()));
  return [runtime.name, ...runtime.aliases].some((n) => allowed.has(n.toLowerCase()));
}

/** When a session ends unless used again: the idle deadline or the end of its lifetime, the earlier. */
export function expiry(s: { createdAt: number; lastUsedAt: number; idleTimeoutMs: number; lifetimeMs: number }): number {
  return Math.min(s.lastUsedAt + s.idleTimeoutMs, s.createdAt + s.lifetimeMs);
}

/** Why the reaper ends a session now, or null. A busy session is never idle. */
export function reapReason(
  s: { createdAt: number; lastUsedAt: number; idleTimeoutMs: number; lifetimeMs: number; busy: boolean },
  now: number,
): 'idle' | 'lifetime' | null {
  if (now >= s.createdAt + s.lifetimeMs) return 'lifetime';
  if (!s.busy && now >= s.lastUsedAt + s.idleTimeoutMs) return 'idle';
  return null;
}
