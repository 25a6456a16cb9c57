/**
 * What a transport gives the tools: the caller's view of polyrun. `polyrun mcp` (stdio) backs it with the
 * in-process executor under the operator's policy; /mcp (HTTP) with the service's pipeline under the API
 * key's tenant (quota lease per call, queue, result capture).
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ExecuteBody } from '../contract/request.js';
import type { ExecutionResult } from '../contract/result.js';
import type { RuntimeInfo } from '../runtimes/catalogue.js';
import type { TenantSessions } from '../sessions/tenant-sessions.js';

export interface McpBackend {
  /** The runtimes this caller may use (filtered by its policy, limits within its ceiling). */
  runtimes(): RuntimeInfo[];
  /**
   * Validate and run one execution under the caller's policy (and quota, where there is one). Rejects with
   * a PolyrunError when polyrun refuses or cannot run it; resolves with the result whatever the program did.
   * Aborting `signal` cancels the execution.
   */
  run(body: ExecuteBody, signal: AbortSignal): Promise<ExecutionResult & { id?: string }>;
  /** The caller's sessions (session tools), or null where this polyrun cannot run sessions. */
  sessions: TenantSessions | null;
  /** polyrun's unexpected failures (INTERNAL); never written to stdout. */
  logError(message: string, err: unknown): void;
}

/** One group of tools, registered on a fresh server against a backend. */
export type ToolModule = (server: McpServer, backend: McpBackend) => void;
