/**
 * What a caller asks polyrun to run. The body schema (TypeBox) validates HTTP requests, feeds the OpenAPI
 * document, and is the source of the body type; the Piston adapter and the CLI build the same body, and
 * `prepareExecution` (src/pipeline/prepare.ts) turns it into a prepared execution, the one validation.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_BOUNDS, StageLimitsOverrideSchema } from '../limits/limits.js';
import { ISOLATIONS, NETWORK_MODES } from './profile.js';

export const FILE_ENCODINGS = ['utf8', 'base64', 'hex'] as const;
export type FileEncoding = (typeof FILE_ENCODINGS)[number];

/** The network of an execution (or a session): a mode, or an allowlist (docs/api.md, docs/network.md). */
export const NetworkFieldSchema = Type.Union(
  [
    ...NETWORK_MODES.map((m) => Type.Literal(m)),
    Type.Object(
      {
        allow: Type.Array(Type.String({ maxLength: 300 }), {
          minItems: 1,
          maxItems: 256,
          description: 'destinations: "name", "*.name", IPv4 address or CIDR, each with an optional ":port" or ":lo-hi"',
        }),
      },
      { additionalProperties: false },
    ),
  ],
  {
    description:
      '"none" (default): no sockets but unix ones; "loopback": inet sockets inside the sandbox only; ' +
      '{"allow": [...]}: outbound connections to those destinations only, DNS through polyrun\'s filter (docs/api.md)',
  },
);

export const ExecuteBodySchema = Type.Object(
  {
    language: Type.String({ minLength: 1, maxLength: 64, description: 'runtime name or alias' }),
    version: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'exact version or selector ("*", "3.x")' })),
    files: Type.Array(
      Type.Object(
        {
          name: Type.Optional(
            Type.String({ maxLength: DEFAULT_BOUNDS.maxFileNameBytes, description: 'relative path; the first file is the entry' }),
          ),
          content: Type.String(),
          encoding: Type.Optional(Type.Union(FILE_ENCODINGS.map((e) => Type.Literal(e)), { default: 'utf8' })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: DEFAULT_BOUNDS.maxFiles },
    ),
    stdin: Type.Optional(Type.String()),
    stdinEncoding: Type.Optional(Type.Union(FILE_ENCODINGS.map((e) => Type.Literal(e)), { description: 'encoding of stdin; default utf8' })),
    args: Type.Optional(Type.Array(Type.String(), { maxItems: DEFAULT_BOUNDS.maxArgs })),
    limits: Type.Optional(StageLimitsOverrideSchema),
    compileLimits: Type.Optional(StageLimitsOverrideSchema),
    network: Type.Optional(NetworkFieldSchema),
    isolation: Type.Optional(
      Type.Union(ISOLATIONS.map((m) => Type.Literal(m)), {
        description:
          '"default": the node\'s sandbox backend; "gvisor": the hardened tier (gVisor), where the node has it (GET /v1/system) and the tenant may use it',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ExecuteBody = Static<typeof ExecuteBodySchema>;

/** A decoded source file. */
export interface SourceFile {
  /** Relative path inside the working dir. Empty for "use the runtime's default name". */
  name?: string;
  content: Buffer;
}

/**
 * The library form of a request (bytes already decoded), used by `SandboxExecutor.execute` for the CLI,
 * tests and benchmarks. It is turned into an ExecuteBody and goes through the same `prepareExecution`.
 */
export interface ExecutionRequest {
  language: string;
  version?: string;
  files: SourceFile[];
  stdin?: Buffer | string;
  args?: string[];
  limits?: Partial<Static<typeof StageLimitsOverrideSchema>>;
  compileLimits?: Partial<Static<typeof StageLimitsOverrideSchema>>;
  network?: ExecuteBody['network'];
  isolation?: ExecuteBody['isolation'];
}

/** The library request as a body: files and stdin as base64, so no byte is reinterpreted. */
export function requestToBody(request: ExecutionRequest): ExecuteBody {
  const stdin = request.stdin === undefined ? undefined : Buffer.from(request.stdin);
  return {
    language: request.language,
    ...(request.version !== undefined ? { version: request.version } : {}),
    files: request.files.map((f) => ({ ...(f.name ? { name: f.name } : {}), content: f.content.toString('base64'), encoding: 'base64' as const })),
    ...(stdin ? { stdin: stdin.toString('base64'), stdinEncoding: 'base64' as const } : {}),
    ...(request.args ? { args: request.args } : {}),
    ...(request.limits ? { limits: request.limits } : {}),
    ...(request.compileLimits ? { compileLimits: request.compileLimits } : {}),
    ...(request.network ? { network: request.network } : {}),
    ...(request.isolation ? { isolation: request.isolation } : {}),
  };
}
