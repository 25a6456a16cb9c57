/**
 * The session tools: a sandbox that outlives one call, for agents that work in steps. `session_create`,
 * then `session_exec` (a command or a program), `session_run_cell` (a live Python/JavaScript kernel whose
 * state persists), `session_write_file` / `session_read_file` / `session_list_files`, and `session_close`.
 * Inputs are zod schemas (as the SDK takes them) mirroring the HTTP bodies (src/sessions/requests.ts,
 * src/kernels/contract.ts); the calls go through the same planning and limits (src/sessions/planning.ts).
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { errors } from '../contract/errors.js';
import { decodeContent } from '../pipeline/prepare.js';
import type { TenantSessions } from '../sessions/tenant-sessions.js';
import type { McpBackend } from './backend.js';
import { cellToolResult, executionToolResult, guarded, jsonToolResult } from './results.js';

const positiveInt = (description: string) => z.number().int().positive().optional().describe(description);
const sessionId = z.string().min(1).max(64).describe('the id session_create returned');
const timeLimits = z
  .object({ cpuTimeMs: positiveInt('CPU time, ms'), wallTimeMs: positiveInt('wall-clock time, ms'), outputBytes: positiveInt('cap on stdout and stderr, bytes') })
  .optional()
  .describe("limits of this call; default the session's, at most the maximum list_runtimes shows");

const defined = <T extends object>(o: T | undefined) =>
  o ? (Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>) : undefined;

export function sessionTools(server: McpServer, backend: McpBackend): void {
  const sessions = (): TenantSessions => {
    if (!backend.sessions) throw errors.sessionsUnavailable();
    return backend.sessions;
  };
  const tool = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };

  server.registerTool(
    'session_create',
    {
      title: 'Create a session',
      description:
        'Start a sandbox that persists across calls (files in its working dir, and a kernel if you run cells) until you close it, ' +
        'it stays idle past its idle timeout, or its lifetime ends. Returns its id, limits and expiry.',
      inputSchema: {
        runtimes: z.array(z.string().min(1).max(64)).max(64).optional().describe('runtimes program execs may use; default all you may use'),
        idleTimeoutMs: positiveInt('end the session after this long without a call'),
        maxLifetimeMs: positiveInt('end the session this long after it started'),
      },
      annotations: tool,
    },
    async (args) =>
      guarded(backend, async () => {
        const view = await sessions().create(defined(args) ?? {});
        return jsonToolResult(`session ${view.id} created (idle timeout ${view.idleTimeoutMs} ms)`, view);
      }),
  );

  server.registerTool(
    'session_exec',
    {
      title: 'Run a command or a program in a session',
      description:
        'Run a command ({argv}) or a program ({language, code}) in the session\'s working dir; files persist between calls. ' +
        'Refused while a kernel runs in the session (close the session or stop using cells).',
      inputSchema: {
        session_id: sessionId,
        argv: z.array(z.string().max(4096)).min(1).max(64).optional().describe('a command, e.g. ["ls", "-l"]; give this or language+code'),
        language: z.string().min(1).max(64).optional().describe('a runtime, e.g. "python"; with `code`'),
        code: z.string().optional().describe('the program, with `language`'),
        stdin: z.string().optional().describe('text on standard input'),
        limits: timeLimits,
      },
      annotations: tool,
    },
    async (args, extra) =>
      guarded(backend, async () => {
        const limits = defined(args.limits);
        const common = { ...(args.stdin !== undefined ? { stdin: args.stdin } : {}), ...(limits ? { limits } : {}) };
        if ((args.argv === undefined) === (args.language === undefined || args.code === undefined)) {
          throw errors.validationFailed('give either `argv` (a command) or `language` and `code` (a program)');
        }
        const body = args.argv ? { argv: args.argv, ...common } : { language: args.language!, code: args.code!, ...common };
        return executionToolResult(await sessions().exec(args.session_id, body, extra.signal));
      }),
  );

  server.registerTool(
    'session_run_cell',
    {
      title: 'Run a cell in the session\'s kernel',
      description:
        'Run code in a live interpreter (python or javascript) that keeps variables, imports and functions between cells, like a ' +
        'notebook. Returns stdout, stderr, the value of the last expression, and the error with its traceback. A cell past its ' +
        'time limit is interrupted; if the kernel dies the answer says so and the next cell starts a fresh one.',
      inputSchema: {
        session_id: sessionId,
        code: z.string().max(1024 * 1024).describe('the cell'),
        language: z.enum(['python', 'javascript']).optional().describe('default python'),
        limits: timeLimits,
      },
      annotations: tool,
    },
    async (args, extra) =>
      guarded(backend, async () => {
        const limits = defined(args.limits);
        const body = { code: args.code, ...(args.language ? { language: args.language } : {}), ...(limits ? { limits } : {}) };
        return cellToolResult(await sessions().cell(args.session_id, body, extra.signal));
      }),
  );

  server.registerTool(
    'session_write_file',
    {
      title: 'Write a file into a session',
      description: "Write (or replace) a file in the session's working dir; directories are created.",
      inputSchema: {
        session_id: sessionId,
        path: z.string().min(1).max(4096).describe('relative path in the working dir'),
        content: z.string().describe('the content'),
        encoding: z.enum(['utf8', 'base64']).optional().describe('encoding of `content`; default utf8'),
      },
      annotations: tool,
    },
    async (args) =>
      guarded(backend, async () => {
        const content = decodeContent(args.content, args.encoding ?? 'utf8', 'content');
        await sessions().putFile(args.session_id, args.path, content);
        return jsonToolResult(`wrote ${args.path} (${content.length} bytes)`, { path: args.path, bytes: content.length });
      }),
  );

  server.registerTool(
    'session_read_file',
    {
      title: 'Read a file of a session',
      description: "Read a file of the session's working dir: text as UTF-8, anything else as base64.",
      inputSchema: { session_id: sessionId, path: z.string().min(1).max(4096).describe('relative path in the working dir') },
      annotations: { ...tool, readOnlyHint: true },
    },
    async (args) =>
      guarded(backend, async () => {
        const content = await sessions().getFile(args.session_id, args.path);
        const text = content.toString('utf8');
        const isText = Buffer.from(text, 'utf8').equals(content) && !text.includes('\0');
        const structured = isText ? { path: args.path, encoding: 'utf8', content: text } : { path: args.path, encoding: 'base64', content: content.toString('base64') };
        return { content: [{ type: 'text', text: isText ? text : `(binary, ${content.length} bytes, base64)\n${structured.content}` }], structuredContent: structured };
      }),
  );

  server.registerTool(
    'session_list_files',
    {
      title: 'List the files of a session',
      description: "The regular files of the session's working dir (relative paths).",
      inputSchema: { session_id: sessionId },
      annotations: { ...tool, readOnlyHint: true },
    },
    async (args) =>
      guarded(backend, async () => {
        const files = await sessions().listFiles(args.session_id);
        return { content: [{ type: 'text', text: files.length ? files.join('\n') : '(no files)' }], structuredContent: { files } };
      }),
  );

  server.registerTool(
    'session_close',
    {
      title: 'Close a session',
      description: 'End the session: its sandbox, kernel and files are removed.',
      inputSchema: { session_id: sessionId },
      annotations: { ...tool, destructiveHint: true, idempotentHint: true },
    },
    async (args) =>
      guarded(backend, async () => {
        await sessions().close(args.session_id);
        return jsonToolResult(`session ${args.session_id} closed`, { id: args.session_id, ended: true });
      }),
  );
}
