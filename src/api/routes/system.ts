/**
 * Unauthenticated operational endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.
 */
import type { FastifyPluginAsync } from 'fastify';
import { errors } from '../../contract/errors.js';
import type { AppServices } from '../services.js';

export const systemRoutes: FastifyPluginAsync<{ services: AppServices }> = async (app, { services }) => {
  const config = { public: true };

  app.get('/healthz', { config, schema: { tags: ['system'], summary: 'Liveness' } }, async () => ({ status: 'ok' }));

  // Ready = sandboxes were proven to start (not only runtimes listed, which the self-test cache can do)
  // and a runtime is available. The executor's detail names no host path; the cause is in the log.
  // A data store that cannot be written (full disk) makes the node "degraded", not unready: executions
  // still run and return their results, so a load balancer should keep sending them.
  const readiness = {
    tags: ['system'],
    summary: 'Readiness: 503 until sandboxes start and a runtime is available; "degraded" while a data store cannot be written',
  };
  app.get('/readyz', { config, schema: readiness }, async () => {
    if (services.executions.draining) throw errors.shuttingDown();
    const health = services.executor.health();
    if (!health.ready) throw errors.notReady(health.detail);
    const runtimes = services.executor.runtimes().length;
    if (runtimes === 0) throw errors.notReady('no runtime is available yet');
    const stores = { results: services.results.status(), usage: services.usage.health.status() };
    const degraded = Object.values(stores).some((s) => !s.ok);
    return degraded ? { status: 'degraded', runtimes, stores } : { status: 'ready', runtimes };
  });

  app.get('/metrics', { config, schema: { tags: ['system'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    const { registry } = services.metrics;
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  app.get('/openapi.json', { config, schema: { hide: true } }, async () => app.swagger());
};
