/**
 * Pipeline stage 4, semantic validation (the schema has already been checked by Fastify): the language
 * exists and the tenant may use it, encodings decode, file names are safe and the request is within
 * DEFAULT_BOUNDS, limits are within the tenant's ceiling. Produces the ExecutionRequest the executor
 * consumes. Throws PolyrunError.
 */
import { PolyrunError } from '../contract/errors.js';
import type { ExecutionRequest, SourceFile } from '../contract/request.js';
import { languageAllowed, type TenantPolicy } from '../config/policy.js';
import type { Executor, RuntimeInfo } from '../executor/types.js';
import { validateRequestShape } from '../executor/validate.js';
import {
  DEFAULT_BOUNDS,
  LIMIT_FIELDS,
  describeViolation,
  resolveLimits,
  type LimitTable,
  type RequestBounds,
  type StageLimits,
} from '../limits/limits.js';

export type FileEncoding = 'utf8' | 'base64' | 'hex';

/** The v1 body after schema validation; the Piston adapter builds the same shape. */
export interface ExecuteBody {
  language: string;
  version?: string;
  files: { name?: string; content: string; encoding?: FileEncoding }[];
  stdin?: string;
  args?: string[];
  limits?: Partial<StageLimits>;
  compileLimits?: Partial<StageLimits>;
}

export interface ValidatedExecution {
  request: ExecutionRequest;
  runtime: RuntimeInfo;
  /** The ceiling passed to the executor: the tenant's maximum, within the runtime's. */
  maxLimits: LimitTable;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

export function decodeContent(content: string, encoding: FileEncoding, field: string): Buffer {
  if (encoding === 'utf8') return Buffer.from(content, 'utf8');
  const compact = content.replace(/\s+/g, ''); // line-wrapped base64 is common
  const ok = encoding === 'base64' ? BASE64.test(compact) : HEX.test(compact);
  if (!ok) throw new PolyrunError('INVALID_ENCODING', `${field} is not valid ${encoding}`, { field, encoding });
  return Buffer.from(compact, encoding);
}

/** The per-field minimum of two limit tables. */
export function minLimits(a: LimitTable, b: LimitTable): LimitTable {
  const min = (x: StageLimits, y: StageLimits) =>
    Object.fromEntries(LIMIT_FIELDS.map((f) => [f, Math.min(x[f], y[f])])) as unknown as StageLimits;
  return { compile: min(a.compile, b.compile), run: min(a.run, b.run) };
}

export function allowedRuntimes(executor: Pick<Executor, 'runtimes'>, policy: TenantPolicy): RuntimeInfo[] {
  return executor.runtimes().filter((r) => languageAllowed(policy, r));
}

export function validateExecution(
  body: ExecuteBody,
  ctx: { executor: Pick<Executor, 'findRuntime' | 'runtimes'>; policy: TenantPolicy; bounds?: RequestBounds },
): ValidatedExecution {
  const bounds = ctx.bounds ?? DEFAULT_BOUNDS;
  const runtime = ctx.executor.findRuntime(body.language, body.version);
  if (!runtime) {
    const known = allowedRuntimes(ctx.executor, ctx.policy).map((r) => `${r.name}-${r.version}`);
    const wanted = body.version ? `${body.language} ${body.version}` : body.language;
    throw new PolyrunError('UNKNOWN_LANGUAGE', `unknown language: ${wanted}; known: ${known.join(', ') || 'none'}`, {
      language: body.language,
      ...(body.version ? { version: body.version } : {}),
      known,
    });
  }
  if (!languageAllowed(ctx.policy, runtime)) {
    throw new PolyrunError('LANGUAGE_NOT_ALLOWED', `this API key may not run ${runtime.name}`, { language: runtime.name });
  }

  const files: SourceFile[] = body.files.map((f, i) => {
    const content = decodeContent(f.content, f.encoding ?? 'utf8', `files[${i}].content`);
    return f.name ? { name: f.name, content } : { content };
  });
  const stdin = body.stdin ?? '';
  const args = body.args ?? [];
  // File names, counts and sizes: the executor's own checks, run here too so a bad request is refused
  // before it takes a place in the queue.
  validateRequestShape({ language: runtime.name, files, stdin, args }, bounds);

  const maxLimits = minLimits(ctx.policy.maxLimits, runtime.limits.maximum);
  const request = { ...(body.limits ? { run: body.limits } : {}), ...(body.compileLimits ? { compile: body.compileLimits } : {}) };
  const resolution = resolveLimits({ defaults: runtime.limits.defaults, request, maximum: maxLimits });
  if (!resolution.ok) {
    throw new PolyrunError('LIMIT_EXCEEDS_MAXIMUM', resolution.violations.map(describeViolation).join('; '), {
      violations: resolution.violations.map((v) => ({
        field: `${v.stage === 'compile' ? 'compileLimits' : 'limits'}.${v.field}`,
        requested: v.requested,
        maximum: v.maximum,
      })),
    });
  }

  return {
    runtime,
    maxLimits,
    request: {
      language: runtime.name,
      version: runtime.version,
      files,
      stdin,
      args,
      ...(body.limits ? { limits: body.limits } : {}),
      ...(body.compileLimits ? { compileLimits: body.compileLimits } : {}),
    },
  };
}
