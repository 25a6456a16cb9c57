/**
 * The execution tools: `list_runtimes` and `run_code`. Their input schemas (zod, as the SDK takes them) are
 * the MCP face of the execute body (src/contract/request.ts): a tool call becomes an ExecuteBody and goes
 * through the same prepareExecution as every other request, so the bounds and error codes are the API's.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { errors } from '../contract/errors.js';
import type { ExecuteBody } from '../contract/request.js';
import type { McpBackend } from './backend.js';
import { executionToolResult, guarded } from './results.js';

const positiveInt = (description: string) => z.number().int().positive().optional().describe(description);

export const RunCodeInput = {
  language: z.string().min(1).max(64).describe('runtime name or alias, e.g. "python", "js", "c++" (see list_runtimes)'),
  version: z.string().min(1).max(64).optional().describe('exact version or selector ("*", "3.x"); default: the newest'),
  code: z.string().optional().describe('the program, as one source file; give this or `files`'),
  files: z
    .array(
      z.object({
        name: z.string().max(255).optional().describe('relative path; the first file is the entry point'),
        content: z.string().describe('the file content'),
        encoding: z.enum(['utf8', 'base64']).optional().describe('encoding of `content`; default utf8'),
      }),
    )
    .min(1)
    .optional()
    .describe('several source files (the first is the entry point); give this or `code`'),
  stdin: z.string().optional().describe('text given to the program on its standard input'),
  args: z.array(z.string()).optional().describe('command-line arguments of the program'),
  limits: z
    .object({
      cpuTimeMs: positiveInt('CPU time of the whole process tree, ms'),
      wallTimeMs: positiveInt('wall-clock time, ms'),
      memoryBytes: positiveInt('memory of the whole process tree, bytes'),
    })
    .optional()
    .describe("limits of the run stage; default the runtime's defaults, at most the maximum list_runtimes shows"),
};

type RunCodeArgs = z.infer<z.ZodObject<typeof RunCodeInput>>;

/** A run_code call as an execute body (one validation downstream: prepareExecution). */
export function runCodeBody(args: RunCodeArgs): ExecuteBody {
  if ((args.code === undefined) === (args.files === undefined)) {
    throw errors.validationFailed('give either `code` (one file) or `files`, not both and not neither');
  }
  const files = args.files ?? [{ content: args.code! }];
  return {
    language: args.language,
    ...(args.version !== undefined ? { version: args.version } : {}),
    files: files.map((f) => ({ ...(f.name ? { name: f.name } : {}), content: f.content, ...('encoding' in f && f.encoding ? { encoding: f.encoding } : {}) })),
    ...(args.stdin !== undefined ? { stdin: args.stdin } : {}),
    ...(args.args ? { args: args.args } : {}),
    ...(args.limits ? { limits: Object.fromEntries(Object.entries(args.limits).filter(([, v]) => v !== undefined)) } : {}),
  };
}

export function executionTools(server: McpServer, backend: McpBackend): void {
  server.registerTool(
    'list_runtimes',
    {
      title: 'List runtimes',
      description:
        'The languages and versions you may run, with their aliases, whether they are compiled, and the default ' +
        'and maximum limits of the run stage (cpuTimeMs, wallTimeMs, memoryBytes).',
      inputSchema: {},
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () =>
      guarded(backend, async () => {
        const runtimes = backend.runtimes().map(({ name, version, aliases, extensions, compiled, limits }) => ({
          name,
          version,
          aliases,
          extensions,
          compiled,
          limits: { defaults: limits.defaults.run, maximum: limits.maximum.run },
        }));
        const lines = runtimes.map(
          (r) => `${r.name} ${r.version}${r.compiled ? ' (compiled)' : ''}${r.aliases.length ? `; aliases: ${r.aliases.join(', ')}` : ''}`,
        );
        return {
          content: [{ type: 'text', text: lines.length ? lines.join('\n') : 'no runtime is available to you' }],
          structuredContent: { runtimes },
        };
      }),
  );

  server.registerTool(
    'run_code',
    {
      title: 'Run code',
      description:
        'Run a program in a fresh sandbox (no network) and return its status (ok, runtime_error, compile_error, ' +
        'time_limit, memory_limit, output_limit, internal_error), exit code or signal, stdout and stderr (with ' +
        'truncation flags), and CPU time, wall time and peak memory. Each call is a new sandbox: nothing persists.',
      inputSchema: RunCodeInput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    async (args, extra) =>
      guarded(backend, async () => executionToolResult(await backend.run(runCodeBody(args), extra.signal))),
  );
}
