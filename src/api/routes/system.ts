/**
 * Unauthenticated operational endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { ERROR_RESPONSES } from '../schemas.js';

const StoreStatusSchema = Type.Object({ ok: Type.Boolean(), problem: Type.Optional(Type.String()) });
const ReadinessSchema = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('degraded')]),
  runtimes: Type.Integer(),
  stores: Type.Optional(Type.Record(Type.String(), StoreStatusSchema)),
});
import { errors } from '../../contract/errors.js';
import type { AppServices } from '../services.js';

export const systemRoutes: FastifyPluginAsync<{ services: AppServices }> = async (app, { services }) => {
  const config = { public: true };

  const healthz = { tags: ['system'], summary: 'Liveness', response: { 200: Type.Object({ status: Type.Literal('ok') }) } };
  app.get('/healthz', { config, schema: healthz }, async () => ({ status: 'ok' as const }));

  // Ready = sandboxes were proven to start (not only runtimes listed, which the self-test cache can do)
  // and a runtime is available. The executor's detail names no host path; the cause is in the log.
  // A data store that cannot be written (full disk) makes the node "degraded", not unready: executions
  // still run and return their results, so a load balancer should keep sending them.
  const readiness = {
    tags: ['system'],
    summary: 'Readiness: 503 until sandboxes start and a runtime is available; "degraded" while a data store cannot be written',
    response: { 200: ReadinessSchema, ...ERROR_RESPONSES },
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

  const metrics = {
    tags: ['system'],
    summary: 'Prometheus metrics',
    response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: Type.String() } } } },
  };
  app.get('/metrics', { config, schema: metrics }, async (_request, reply) => {
    const { registry } = services.metrics;
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  app.get('/openapi.json', { config, schema: { hide: true } }, async () => app.swagger());
};
