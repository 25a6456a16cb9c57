/**
 * Unauthenticated operational endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.
 */
import type { FastifyPluginAsync } from 'fastify';
import { errors } from '../../contract/errors.js';
import type { AppServices } from '../services.js';

export const systemRoutes: FastifyPluginAsync<{ services: AppServices }> = async (app, { services }) => {
  const config = { public: true };

  app.get('/healthz', { config, schema: { tags: ['system'], summary: 'Liveness' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config, schema: { tags: ['system'], summary: 'Readiness: 503 until runtimes are detected' } }, async () => {
    if (services.executions.draining) throw errors.shuttingDown();
    const runtimes = services.executor.runtimes().length;
    if (runtimes === 0) throw errors.notReady('no runtime is available yet');
    return { status: 'ready', runtimes };
  });

  app.get('/metrics', { config, schema: { tags: ['system'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    const { registry } = services.metrics;
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  app.get('/openapi.json', { config, schema: { hide: true } }, async () => app.swagger());
};
