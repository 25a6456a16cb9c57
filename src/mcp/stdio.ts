/**
 * MCP over stdio (`polyrun mcp`): the tools backed by an in-process executor, for one local agent. The
 * caller is the host's operator, tenant "local": its policy is `policyFor(config, 'local')` (the config's
 * defaultPolicy, overlaid by a `tenants.local` entry when there is one), so the config's limit ceilings
 * and languages apply (no network: run_code asks for none); quotas and rate limits belong to the HTTP
 * service and do not. Sessions (the session tools) belong to this process and end with it.
 * stdout carries the protocol only: every log line goes to stderr.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { policyFor, type TenantPolicy } from '../config/policy.js';
import type { PolyrunConfig } from '../config/schema.js';
import type { SandboxExecutor } from '../executor/executor.js';
import { allowedRuntimes, decodeContent } from '../pipeline/prepare.js';
import type { McpBackend } from './backend.js';
import { createMcpServer } from './tools.js';
import { SessionManager, sessionBackend } from '../sessions/manager.js';
import { tenantSessions, type TenantSessions } from '../sessions/tenant-sessions.js';
import { createMetrics } from '../telemetry/metrics.js';

export const LOCAL_TENANT = 'local';

export function localBackend(
  executor: SandboxExecutor,
  policy: TenantPolicy,
  log: (line: string) => void,
  sessions: TenantSessions | null = null,
): McpBackend {
  return {
    sessions,
    runtimes: () => allowedRuntimes(executor, policy),
    run: (body, signal) =>
      executor.execute(
        {
          language: body.language,
          ...(body.version !== undefined ? { version: body.version } : {}),
          files: body.files.map((f, i) => ({
            ...(f.name ? { name: f.name } : {}),
            content: decodeContent(f.content, f.encoding ?? 'utf8', `files[${i}].content`),
          })),
          ...(body.stdin !== undefined ? { stdin: body.stdin } : {}),
          ...(body.args ? { args: body.args } : {}),
          ...(body.limits ? { limits: body.limits } : {}),
        },
        { policy, signal, cacheScope: `tenant:${LOCAL_TENANT}` },
      ),
    logError: (message, err) => log(`${message}: ${(err as Error)?.stack ?? String(err)}`),
  };
}

/**
 * Serve the tools on this process's stdin/stdout until the client closes stdin (or SIGINT/SIGTERM).
 * Resolves once the server has closed; the caller closes the executor.
 */
export async function serveStdio(executor: SandboxExecutor, config: PolyrunConfig, log: (line: string) => void): Promise<void> {
  const policy = policyFor(config, LOCAL_TENANT);
  // Sessions of the local agent: ended when the server closes (the executor's sweep would find them anyway).
  const manager = new SessionManager({
    backend: sessionBackend(executor),
    metrics: createMetrics({ processMetrics: false }),
    log: (level, msg, fields) => log(`${level}: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`),
  });
  const sessions = tenantSessions(manager, { id: LOCAL_TENANT, policy, anonymous: false }, executor);
  const server = createMcpServer(localBackend(executor, policy, log, sessions));
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
  });
  const stop = () => void server.close();
  process.stdin.once('end', stop);
  process.stdin.once('close', stop);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await server.connect(transport);
  log('polyrun mcp: serving tools on stdio');
  try {
    await closed;
  } finally {
    process.stdin.off('end', stop);
    process.stdin.off('close', stop);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await manager.closeAll();
  }
}
