/**
 * Limits: what one stage of an execution may consume. Pure logic, no I/O.
 *
 * Three layers meet here: the built-in defaults (DEFAULT_LIMITS), a runtime manifest's overrides (JVMs need
 * more memory and processes), and what a request asks for. A request may lower anything and may raise a
 * value up to the maximum (the tenant's policy, or MAX_LIMITS); above it the request is refused with the
 * field and the allowed maximum named, never silently clamped.
 */

import { Type, type Static } from '@sinclair/typebox';

const limitField = (description: string) => Type.Integer({ minimum: 1, description });

/** Every limit of one stage: the one schema behind the request's `limits`, the config and the job. */
export const StageLimitsSchema = Type.Object(
  {
    cpuTimeMs: limitField('CPU time of the whole process tree (cgroup accounting), ms'),
    wallTimeMs: limitField('wall-clock time, ms'),
    memoryBytes: limitField('memory of the whole process tree (cgroup limit, swap = memory), bytes'),
    processes: limitField('processes and threads of the whole tree (pids cgroup)'),
    openFiles: limitField('open files per process (RLIMIT_NOFILE)'),
    fileSizeBytes: limitField('largest file a process may write (RLIMIT_FSIZE), bytes'),
    outputBytes: limitField('cap on stdout and on stderr, each; the stage is killed at the cap, bytes'),
  },
  { additionalProperties: false },
);
export type StageLimits = Static<typeof StageLimitsSchema>;

/** A request's or a policy's overrides: any subset of the fields. */
export const StageLimitsOverrideSchema = Type.Partial(StageLimitsSchema, {
  additionalProperties: false,
  description: 'Limits for one stage; each at most the tenant maximum (see GET /v1/runtimes)',
});

export type Stage = 'compile' | 'run';

export const LimitTableSchema = Type.Object(
  { compile: StageLimitsSchema, run: StageLimitsSchema },
  { additionalProperties: false },
);
export type LimitTable = Static<typeof LimitTableSchema>;

export const LIMIT_FIELDS = Object.keys(StageLimitsSchema.properties) as readonly (keyof StageLimits)[];

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: LimitTable = {
  compile: {
    cpuTimeMs: 10_000,
    wallTimeMs: 20_000,
    memoryBytes: 512 * MiB,
    processes: 64,
    openFiles: 256,
    fileSizeBytes: 64 * MiB,
    outputBytes: 64 * 1024,
  },
  run: {
    cpuTimeMs: 3_000,
    wallTimeMs: 6_000,
    memoryBytes: 256 * MiB,
    processes: 64,
    openFiles: 256,
    fileSizeBytes: 16 * MiB,
    outputBytes: 64 * 1024,
  },
};

/** The ceiling a request may reach when no tenant policy says otherwise. */
export const MAX_LIMITS: LimitTable = {
  compile: {
    cpuTimeMs: 60_000,
    wallTimeMs: 120_000,
    memoryBytes: 2048 * MiB,
    processes: 256,
    openFiles: 1024,
    fileSizeBytes: 256 * MiB,
    outputBytes: 1 * MiB,
  },
  run: {
    cpuTimeMs: 30_000,
    wallTimeMs: 60_000,
    memoryBytes: 2048 * MiB,
    processes: 256,
    openFiles: 1024,
    fileSizeBytes: 256 * MiB,
    outputBytes: 1 * MiB,
  },
};

/** Bounds on the request itself and on the sandbox's disk, independent of stage. */
export interface RequestBounds {
  maxFiles: number;
  maxFileNameBytes: number;
  maxSourceBytes: number;
  maxStdinBytes: number;
  maxArgs: number;
  maxArgBytes: number;
  /** Size of the writable working dir (tmpfs). */
  boxBytes: number;
  /** Size of /tmp (tmpfs). */
  tmpBytes: number;
}

export const DEFAULT_BOUNDS: RequestBounds = {
  maxFiles: 64,
  maxFileNameBytes: 255,
  maxSourceBytes: 4 * MiB,
  maxStdinBytes: 4 * MiB,
  maxArgs: 64,
  maxArgBytes: 4096,
  boxBytes: 64 * MiB,
  tmpBytes: 64 * MiB,
};

export interface LimitViolation {
  stage: Stage;
  field: keyof StageLimits;
  requested: number;
  maximum: number;
}

export type LimitResolution =
  | { ok: true; limits: LimitTable }
  | { ok: false; violations: LimitViolation[] };

/** Overlay a partial table onto a full one, ignoring undefined fields. */
export function overlay(base: LimitTable, patch?: PartialLimitTable): LimitTable {
  return {
    compile: { ...base.compile, ...definedOnly(patch?.compile) },
    run: { ...base.run, ...definedOnly(patch?.run) },
  };
}

export interface PartialLimitTable {
  compile?: Partial<StageLimits>;
  run?: Partial<StageLimits>;
}

function definedOnly<T extends object>(obj: T | undefined): Partial<T> {
  if (!obj) return {};
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Resolve the limits of one execution: defaults, then the runtime's overrides, then the request. Every
 * requested value must be a positive integer no larger than the maximum; the runtime's own defaults are
 * clamped to the maximum so that a tenant with a low ceiling still gets a usable default.
 */
export function resolveLimits(input: {
  defaults?: LimitTable;
  runtime?: PartialLimitTable;
  request?: PartialLimitTable;
  maximum?: LimitTable;
}): LimitResolution {
  const maximum = input.maximum ?? MAX_LIMITS;
  const base = clampTo(overlay(input.defaults ?? DEFAULT_LIMITS, input.runtime), maximum);
  const violations: LimitViolation[] = [];
  for (const stage of ['compile', 'run'] as const) {
    const asked = input.request?.[stage];
    if (!asked) continue;
    for (const field of LIMIT_FIELDS) {
      const value = asked[field];
      if (value === undefined) continue;
      const max = maximum[stage][field];
      if (!Number.isInteger(value) || value <= 0 || value > max) {
        violations.push({ stage, field, requested: value, maximum: max });
      }
    }
  }
  if (violations.length > 0) return { ok: false, violations };
  return { ok: true, limits: overlay(base, input.request) };
}

function clampTo(table: LimitTable, maximum: LimitTable): LimitTable {
  const clampStage = (s: StageLimits, m: StageLimits): StageLimits => {
    const out = { ...s };
    for (const field of LIMIT_FIELDS) out[field] = Math.min(s[field], m[field]);
    return out;
  };
  return { compile: clampStage(table.compile, maximum.compile), run: clampStage(table.run, maximum.run) };
}

/** A human sentence for one violation, used by the CLI and the HTTP 422 body. */
export function describeViolation(v: LimitViolation): string {
  const where = v.stage === 'compile' ? 'compileLimits' : 'limits';
  if (!Number.isInteger(v.requested) || v.requested <= 0) {
    return `${where}.${v.field} must be a positive integer (got ${v.requested})`;
  }
  return `${where}.${v.field} = ${v.requested} exceeds the allowed maximum of ${v.maximum}`;
}
