/**
 * API v1: synchronous, streaming and asynchronous executions, runtimes, usage. Authentication, rate
 * limiting and quotas run as hooks registered around these routes (see app.ts); validation and execution
 * go through execution-route.ts.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors } from '../../contract/errors.js';
import { allowedRuntimes } from '../../pipeline/prepare.js';
import { executionInput, jsonOrEventStream, runForRequest, streamForRequest, tenantOf } from '../execution-route.js';
import { Type } from '@sinclair/typebox';
import {
  AcceptedSchema,
  ERROR_RESPONSES,
  ExecuteBodySchema,
  ExecutionIdParams,
  ExecutionQuery,
  ExecutionViewSchema,
  IdentifiedResultSchema,
  RuntimeViewSchema,
  UsageReportSchema,
} from '../schemas.js';
import type { AppServices } from '../services.js';
import { wantsEventStream } from '../sse.js';

const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];

export const v1Routes: FastifyPluginAsyncTypebox<{ services: AppServices }> = async (app, { services }) => {
  app.post(
    '/execute',
    {
      config: { execution: true },
      schema: {
        tags: ['v1'],
        summary: 'Run code and wait for the result; with "Accept: text/event-stream", stream its events (SSE)',
        description:
          'JSON: the result. Server-Sent Events: `stage`, `stdout`, `stderr` (chunks as they arrive), `exit` (per stage), ' +
          'then `result` (the same object as the JSON answer) or `error`. Errors before the execution starts are JSON.',
        security,
        body: ExecuteBodySchema,
        response: {
          200: jsonOrEventStream(IdentifiedResultSchema),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) =>
      wantsEventStream(request) ? streamForRequest(services, request, reply, request.body) : runForRequest(services, request, reply, request.body),
  );

  app.post(
    '/executions',
    {
      config: { execution: true },
      schema: {
        tags: ['v1'],
        summary: 'Start an execution; poll GET /v1/executions/:id',
        security,
        body: ExecuteBodySchema,
        response: { 202: AcceptedSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const started = await services.executions.start(executionInput(services, request, request.body));
      request.quotaLease = null;
      return reply.code(202).header('location', `/v1/executions/${started.id}`).send(started);
    },
  );

  app.get(
    '/executions/:id',
    {
      schema: {
        tags: ['v1'],
        summary: 'Status or result of an execution; ?wait=MS long-polls (bounded by longPollMaxMs)',
        security,
        params: ExecutionIdParams,
        querystring: ExecutionQuery,
        response: { 200: ExecutionViewSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const tenant = tenantOf(request);
      const waitMs = Math.min(Number(request.query.wait ?? 0), services.config.longPollMaxMs);
      const view = await services.results.wait(request.params.id, tenant.id, waitMs);
      if (!view) throw errors.notFound(`no execution ${request.params.id} (unknown, expired or not yours)`);
      return view;
    },
  );

  const runtimesSchema = {
    tags: ['v1'],
    summary: 'Runtimes this key may use, with limits',
    security,
    response: { 200: Type.Array(RuntimeViewSchema), ...ERROR_RESPONSES },
  };
  app.get('/runtimes', { schema: runtimesSchema }, async (request) =>
    allowedRuntimes(services.executor, tenantOf(request).policy).map(({ name, language, version, aliases, extensions, compiled, limits }) => ({
      name,
      language,
      version,
      aliases,
      extensions,
      compiled,
      limits,
    })),
  );

  const systemSchema = {
    tags: ['v1'],
    summary: 'The sandbox backend that runs executions on this node, why it was chosen, and the isolation levels offered',
    security,
    response: {
      200: Type.Object({
        sandbox: Type.Object({
          backend: Type.String({ description: 'oci, bwrap or gvisor' }),
          runtime: Type.String({ description: 'the program behind it: runc, crun, runsc or bwrap' }),
          reason: Type.String(),
          isolations: Type.Array(Type.String(), { description: 'values a request may give as `isolation`' }),
          unavailable: Type.Record(Type.String(), Type.String(), { description: 'isolation levels not offered here, and why' }),
        }),
      }),
      ...ERROR_RESPONSES,
    },
  };
  app.get('/system', { schema: systemSchema }, async () => ({
    sandbox: services.executor.sandboxInfo?.() ?? {
      backend: 'none',
      runtime: 'none',
      reason: 'this executor starts no sandboxes',
      isolations: ['default'],
      unavailable: {},
    },
  }));

  const usageSchema = {
    tags: ['v1'],
    summary: "This key's tenant: usage and quotas of the current UTC day",
    security,
    response: { 200: UsageReportSchema, ...ERROR_RESPONSES },
  };
  app.get('/usage', { schema: usageSchema }, async (request) =>
    services.quota.report(tenantOf(request)),
  );
};
