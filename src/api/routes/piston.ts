/**
 * Piston v2 compatible endpoints (GET /api/v2/runtimes, POST /api/v2/execute): Piston's shapes and error
 * format, polyrun's pipeline underneath (the same authentication, rate limits, quotas and limits).
 */
import type { FastifyPluginAsync } from 'fastify';
import { errors as polyrunErrors, type PolyrunError } from '../../contract/errors.js';
import { allowedRuntimes } from '../../pipeline/prepare.js';
import { describeSchemaError, prepareErrorReply } from '../errors.js';
import { Type } from '@sinclair/typebox';
import {
  PistonBodySchema,
  PistonErrorSchema,
  PistonResultSchema,
  PistonRuntimeSchema,
  PISTON_FIELD_TYPES,
  fromPistonRequest,
  pistonMessage,
  toPistonResult,
  type PistonExecuteBody,
} from '../piston.js';
import type { AppServices } from '../services.js';
import { runForRequest, tenantOf } from '../execution-route.js';

/**
 * Piston's own validation messages ("language is required as a string", "files is required as an array",
 * "files[0].content is required as a string"), for a body the schema refused.
 */
function pistonSchemaMessage(error: Parameters<typeof describeSchemaError>[0]): string {
  const missing = error.keyword === 'required' ? String(error.params.missingProperty) : undefined;
  // "/files/0/content" -> "files[0].content"
  const path = error.instancePath.replace(/^\//, '').split('/').filter(Boolean);
  const parts = missing === undefined ? path : [...path, missing];
  const field = parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
  const last = parts[parts.length - 1] ?? '';
  const kind = PISTON_FIELD_TYPES[last];
  if (kind && (error.keyword === 'required' || error.keyword === 'type')) return `${field} is required as ${kind}`;
  if (field.startsWith('args[')) return 'args must be an array of strings';
  if (error.keyword === 'type' && field) return `If specified, ${field} must be a number`;
  return describeSchemaError(error, 'body').message;
}

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
    else if (first) message = pistonSchemaMessage(first);
    else message = pistonMessage(e, request.body as Partial<PistonExecuteBody> | undefined);
    return reply.code(pistonStatus(e)).send({ message });
  });

  // piston-client posts its JSON with node-fetch's default text/plain type: take a text body that is JSON
  // as JSON here; anything else stays 415, as in Piston.
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(polyrunErrors.unsupportedMediaType(), undefined);
    }
  });

  // Unknown /api/v2 paths answer in Piston's shape too.
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ message: 'Not Found' }));

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
      const runtimes = allowedRuntimes(services.executor, tenantOf(request).policy);
      const result = await runForRequest(services, request, reply, fromPistonRequest(request.body, runtimes));
      return toPistonResult(result);
    },
  );
};
