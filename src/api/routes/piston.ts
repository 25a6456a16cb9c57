/**
 * Piston v2 compatible endpoints (GET /api/v2/runtimes, POST /api/v2/execute): Piston's shapes and error
 * format, polyrun's pipeline underneath (the same authentication, rate limits, quotas and limits).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { PolyrunError } from '../../contract/errors.js';
import { allowedRuntimes } from '../../pipeline/prepare.js';
import { describeSchemaError, prepareErrorReply } from '../errors.js';
import { Type } from '@sinclair/typebox';
import {
  PistonBodySchema,
  PistonErrorSchema,
  PistonResultSchema,
  PistonRuntimeSchema,
  fromPistonRequest,
  pistonMessage,
  toPistonResult,
  type PistonExecuteBody,
} from '../piston.js';
import type { AppServices } from '../services.js';
import { runForRequest, tenantOf } from '../execution-route.js';

/** Piston reports validation problems as 400; other statuses (401, 403, 413, 429, 503) keep their meaning. */
function pistonStatus(e: PolyrunError): number {
  return e.httpStatus === 422 ? 400 : e.httpStatus;
}

export const pistonRoutes: FastifyPluginAsync<{ services: AppServices }> = async (app, { services }) => {
  app.setErrorHandler((err, request, reply) => {
    const e = prepareErrorReply(err, request, reply);
    const first = (err as { validation?: Parameters<typeof describeSchemaError>[0][] }).validation?.[0];
    let message: string;
    if (e.code === 'UNSUPPORTED_MEDIA_TYPE') message = 'requests must be of type application/json';
    else if (first?.keyword === 'type') message = `${describeSchemaError(first, 'body').field} is required as a ${String(first.params.type)}`;
    else if (first) message = describeSchemaError(first, 'body').message;
    else message = pistonMessage(e, request.body as Partial<PistonExecuteBody> | undefined);
    return reply.code(pistonStatus(e)).send({ message });
  });

  const errors = { '4xx': PistonErrorSchema, '5xx': PistonErrorSchema };
  const runtimesSchema = { tags: ['piston'], summary: 'Piston-compatible runtime list', response: { 200: Type.Array(PistonRuntimeSchema), ...errors } };
  app.get('/runtimes', { schema: runtimesSchema }, async (request) =>
    allowedRuntimes(services.executor, tenantOf(request).policy).map((r) =>
      // Piston names an alternative implementation (PyPy for python) as `runtime`; its name is an alias too.
      r.name === r.language
        ? { language: r.language, version: r.version, aliases: r.aliases }
        : { language: r.language, version: r.version, aliases: [r.name, ...r.aliases], runtime: r.name },
    ),
  );

  app.post<{ Body: PistonExecuteBody }>(
    '/execute',
    {
      config: { execution: true },
      schema: {
        tags: ['piston'],
        summary: 'Piston-compatible execute',
        body: PistonBodySchema,
        response: { 200: PistonResultSchema, ...errors },
      },
    },
    async (request, reply) => {
      const result = await runForRequest(services, request, reply, fromPistonRequest(request.body));
      return toPistonResult(result);
    },
  );
};
