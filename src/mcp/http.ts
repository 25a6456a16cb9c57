/**
 * MCP over Streamable HTTP at POST /mcp, inside the API scope: authentication (the key's tenant and policy),
 * rate limiting and draining apply as to any API route. Stateless: every request gets a new McpServer and
 * transport (`sessionIdGenerator: undefined`) and a JSON answer (`enableJsonResponse`), so any instance
 * behind a load balancer can answer any request and nothing is kept between requests. GET and DELETE /mcp
 * (the server-to-client stream and session end of stateful servers) answer 405.
 *
 * Sessions live in the app's SessionManager, addressed by id, so a stateless MCP request can use a session
 * an earlier one created; each session exec or cell takes a quota lease like the HTTP session routes.
 * Each `run_code` call is a normal execution of the tenant: a quota lease taken per tool call
 * (`services.quota.admit`), prepareExecution with the tenant's policy, the queue, result capture (usage,
 * metrics, audit). The lease is given back on every path where the execution service has not taken it.
 * A client that hangs up cancels its executions (closing the server aborts its in-flight tool calls).
 */
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Type } from '@sinclair/typebox';
import type { FastifyBaseLogger, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Tenant } from '../config/policy.js';
import { prepareForTenant, tenantOf } from '../api/execution-route.js';
import { ERROR_RESPONSES } from '../api/schemas.js';
import type { AppServices } from '../api/services.js';
import { allowedRuntimes } from '../pipeline/prepare.js';
import type { McpBackend } from './backend.js';
import { createMcpServer } from './tools.js';
import type { SessionManager } from '../sessions/manager.js';
import { tenantSessions } from '../sessions/tenant-sessions.js';

/** The tools of one HTTP request, for its tenant, through the service's pipeline. */
export function serviceBackend(services: AppServices, sessions: SessionManager, tenant: Tenant, log: FastifyBaseLogger): McpBackend {
  // A session exec or cell is charged as the HTTP routes charge it: a quota lease, settled with its CPU time.
  const admit = async () => {
    const lease = await services.quota.admit(tenant);
    return {
      settle: (cpuMs: number) => {
        lease.settle(cpuMs);
        services.metrics.sessionExecCpuSeconds.inc(cpuMs / 1000);
      },
      cancel: () => lease.cancel(),
    };
  };
  return {
    sessions: sessions.available ? tenantSessions(sessions, tenant, services.executor, admit) : null,
    runtimes: () => allowedRuntimes(services.executor, tenant.policy),
    run: async (body, signal) => {
      // Draining: launch refuses with SHUTTING_DOWN, and the lease is given back below.
      const lease = await services.quota.admit(tenant);
      let handedOver = false;
      try {
        const prepared = prepareForTenant(services, tenant, body);
        const launched = await services.executions.launch({ tenant, prepared, lease, log, signal });
        handedOver = true; // from here the execution service settles or cancels the lease
        return await launched.done;
      } finally {
        if (!handedOver) lease.cancel();
      }
    },
    logError: (message, err) => log.error({ err }, message),
  };
}

/** What POST /mcp answers (a JSON-RPC 2.0 response, or a batch of them), for the OpenAPI document. */
const JsonRpcResponse = Type.Object(
  {
    jsonrpc: Type.Literal('2.0'),
    id: Type.Union([Type.String(), Type.Number(), Type.Null()]),
    result: Type.Optional(Type.Unknown({ description: 'e.g. tools/list: {tools}; tools/call: {content, structuredContent?, isError?}' })),
    error: Type.Optional(Type.Object({ code: Type.Integer(), message: Type.String(), data: Type.Optional(Type.Unknown()) })),
  },
  { description: 'a JSON-RPC 2.0 response (MCP)' },
);

const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];

function methodNotAllowed(_request: FastifyRequest, reply: FastifyReply) {
  return reply
    .code(405)
    .header('allow', 'POST')
    .send({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP server is stateless; POST only.' }, id: null });
}

export const mcpRoutes: FastifyPluginAsync<{ services: AppServices; sessions: SessionManager }> = async (app, { services, sessions }) => {
  app.post(
    '/mcp',
    {
      schema: {
        tags: ['mcp'],
        summary: 'Model Context Protocol (Streamable HTTP, stateless): tools list_runtimes, run_code and the session tools for AI agents',
        description:
          'Send JSON-RPC 2.0 messages (initialize, tools/list, tools/call...) with `Accept: application/json, text/event-stream`. ' +
          'Answers JSON; a notification alone is answered 202 with no body. Each run_code call is one execution of the key\'s tenant ' +
          '(quota, limits and languages of its policy). polyrun\'s errors are tool results with isError and {error: {code, message}}.',
        security,
        body: Type.Unknown({ description: 'a JSON-RPC 2.0 message or batch (MCP)' }),
        response: {
          200: {
            description: 'the JSON-RPC response(s)',
            content: { 'application/json': { schema: Type.Union([JsonRpcResponse, Type.Array(JsonRpcResponse)]) } },
          },
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const tenant = tenantOf(request);
      const server = createMcpServer(serviceBackend(services, sessions, tenant, request.log));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      // The transport writes the answer itself; the headers the pipeline set (request id, rate limit) go with it.
      reply.hijack();
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
      reply.raw.once('close', () => {
        void transport.close();
        void server.close(); // aborts tool calls still running when the client went away
      });
      await server.connect(transport);
      await transport.handleRequest(request.raw, reply.raw, request.body);
    },
  );
  app.get('/mcp', { schema: { hide: true } }, methodNotAllowed);
  app.delete('/mcp', { schema: { hide: true } }, methodNotAllowed);
};
