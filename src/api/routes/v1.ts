/**
 * API v1: synchronous and asynchronous executions, runtimes, usage. Authentication, rate limiting and
 * quotas run as hooks registered around these routes (see app.ts); validation and execution here.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PolyrunError } from '../../contract/errors.js';
import type { Tenant } from '../../config/policy.js';
import type { ExecutionInput } from '../../pipeline/execution.js';
import { allowedRuntimes, minLimits, validateExecution, type ExecuteBody } from '../../pipeline/validation.js';
import { ExecuteBodySchema, ExecutionIdParams, ExecutionQuery } from '../schemas.js';
import type { AppServices } from '../services.js';

const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];

export function tenantOf(request: FastifyRequest): Tenant {
  if (!request.tenant) throw new PolyrunError('UNAUTHORIZED', 'not authenticated');
  return request.tenant;
}

/**
 * Validation stage plus hand-over to the execution service: counts validation failures, and moves the
 * quota lease from the request to the execution.
 */
export function prepareExecution(services: AppServices, request: FastifyRequest, body: ExecuteBody, signal?: AbortSignal): ExecutionInput {
  const tenant = tenantOf(request);
  let validated;
  try {
    validated = validateExecution(body, { executor: services.executor, policy: tenant.policy });
  } catch (err) {
    if (err instanceof PolyrunError) services.metrics.validationFailures.inc({ code: err.code });
    throw err;
  }
  const lease = request.quotaLease;
  if (!lease) throw new PolyrunError('INTERNAL', 'execution route without a quota lease');
  return { tenant, request: validated.request, maxLimits: validated.maxLimits, lease, log: request.log, ...(signal ? { signal } : {}) };
}

/** Start a synchronous execution; the lease belongs to the execution once it is launched. */
export function runForRequest(services: AppServices, request: FastifyRequest, reply: FastifyReply, body: ExecuteBody) {
  // A client that hangs up should not keep a sandbox busy.
  const hangup = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) hangup.abort(new PolyrunError('BAD_REQUEST', 'the client closed the connection'));
  });
  const input = prepareExecution(services, request, body, hangup.signal);
  const done = services.executions.run(input);
  request.quotaLease = null;
  return done;
}

export const v1Routes: FastifyPluginAsyncTypebox<{ services: AppServices }> = async (app, { services }) => {
  app.post(
    '/execute',
    {
      config: { execution: true },
      schema: {
        tags: ['v1'],
        summary: 'Run code and wait for the result',
        security,
        body: ExecuteBodySchema,
      },
    },
    async (request, reply) => runForRequest(services, request, reply, request.body),
  );

  app.post(
    '/executions',
    {
      config: { execution: true },
      schema: { tags: ['v1'], summary: 'Start an execution; poll GET /v1/executions/:id', security, body: ExecuteBodySchema },
    },
    async (request, reply) => {
      const input = prepareExecution(services, request, request.body);
      const started = services.executions.start(input);
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
      },
    },
    async (request) => {
      const tenant = tenantOf(request);
      const waitMs = Math.min(Number(request.query.wait ?? 0), services.config.longPollMaxMs);
      const view = await services.results.wait(request.params.id, tenant.id, waitMs);
      if (!view) throw new PolyrunError('NOT_FOUND', `no execution ${request.params.id} (unknown, expired or not yours)`);
      return view;
    },
  );

  app.get('/runtimes', { schema: { tags: ['v1'], summary: 'Runtimes this key may use, with limits', security } }, async (request) => {
    const tenant = tenantOf(request);
    return allowedRuntimes(services.executor, tenant.policy).map((r) => {
      const maximum = minLimits(tenant.policy.maxLimits, r.limits.maximum);
      return {
      name: r.name,
      version: r.version,
      aliases: r.aliases,
      extensions: r.extensions,
      compiled: r.compiled,
        limits: { defaults: minLimits(r.limits.defaults, maximum), maximum },
      };
    });
  });

  app.get('/usage', { schema: { tags: ['v1'], summary: "This key's tenant: usage and quotas of the current UTC day", security } }, async (request) =>
    services.quota.report(tenantOf(request)),
  );
};
