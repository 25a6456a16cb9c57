/**
 * The MCP tool registry, one for both transports (stdio in `polyrun mcp`, Streamable HTTP at /mcp): each
 * module in TOOL_MODULES registers its tools on a fresh McpServer against the transport's backend
 * (backend.ts).
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { McpBackend, ToolModule } from './backend.js';
import { executionTools } from './execution-tools.js';
import { sessionTools } from './session-tools.js';

export type { McpBackend, ToolModule } from './backend.js';

export const TOOL_MODULES: readonly ToolModule[] = [executionTools, sessionTools];

export const SERVER_INFO = { name: 'polyrun', version: '0.1.0' } as const;

const INSTRUCTIONS =
  'polyrun runs untrusted code in sandboxes (no network, CPU/wall/memory limits). Call list_runtimes to see ' +
  'the languages you may use, then run_code. For work in steps, session_create gives a sandbox that keeps its ' +
  'files (session_exec, session_write_file, session_read_file) and a live Python or JavaScript kernel ' +
  '(session_run_cell keeps variables between cells); session_close ends it. A program that fails (runtime_error, compile_error, time_limit...) ' +
  'is a normal result; a tool error (isError) means polyrun refused or could not run the request.';

/** A new server with every tool module registered against `backend`. */
export function createMcpServer(backend: McpBackend, modules: readonly ToolModule[] = TOOL_MODULES): McpServer {
  const server = new McpServer(SERVER_INFO, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });
  for (const register of modules) register(server, backend);
  return server;
}
