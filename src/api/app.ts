/**
 * buildApp: the Fastify instance with the whole pipeline, not listening (tests use app.inject or listen on
 * port 0). Composition, in request order:
 *
 *   request id + HTTP metrics (global hooks)
 *   └─ API scope: authentication (onRequest) -> rate limiting (onRequest) -> quota (preValidation)
 *        -> schema validation (Fastify) -> prepareExecution -> job queue -> result capture (handlers)
 *        ├─ /v1/*      polyrun's API
 *        ├─ /api/v2/*  Piston-compatible API
 *        └─ /submissions, /languages, /statuses...  Judge0-compatible API (src/compat/judge0)
 *   system routes (/healthz, /readyz, /metrics, /openapi.json, /docs) are public.
 *
 * The queue's worker (executor.run) is started here too: one process is API and worker at once. Shutdown
 * is in shutdown.ts.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { errors } from '../contract/errors.js';
import { anonymousPolicy, anonymousUnlimited } from '../config/policy.js';
import type { PolyrunConfig } from '../config/schema.js';
import type { Executor } from '../executor/types.js';
import { authentication } from '../pipeline/auth.js';
import { ExecutionService } from '../pipeline/execution.js';
import { QuotaGuard, quotaCheck, type Quota } from '../pipeline/quota.js';
import { SharedQuota } from '../cluster/shared-quota.js';
import type { Redis } from 'ioredis';
import { SharedResults } from '../cluster/shared-results.js';
import type { ExecutionView } from '../store/results.js';
import { rateLimiting } from '../pipeline/rate-limit.js';
import { MemoryQueue } from '../queue/memory-queue.js';
import type { JobQueue } from '../queue/types.js';
import { KeyStore } from '../store/keys.js';
import { ResultStore } from '../store/results.js';
import { UsageStore } from '../store/usage.js';
import { createMetrics } from '../telemetry/metrics.js';
import { httpError, noRoute, sendError } from './errors.js';
import { gracefulShutdown } from './shutdown.js';
import { pistonConnectRoutes, v1ConnectRoutes } from './routes/connect.js';
import { judgeRoutes } from './routes/judge.js';
import { judge0Routes } from '../compat/judge0/routes.js';
import { pistonRoutes } from './routes/piston.js';
import { packageRoutes } from './routes/packages.js';
import { playgroundRoutes } from './routes/playground.js';
import { systemRoutes } from './routes/system.js';
import { v1Routes } from './routes/v1.js';
import { sessionRoutes } from './routes/sessions.js';
import { SessionManager, sessionBackend } from '../sessions/manager.js';
import type { AppServices } from './services.js';
import { mcpRoutes } from '../mcp/http.js';
import { countingWorker } from '../cluster/local-worker.js';
import { workersRoute, type WorkerRecord } from '../cluster/workers-route.js';

export interface BuildAppOptions {
  config: PolyrunConfig;
  executor: Executor;
  /** A pino logger; none means silent. */
  logger?: FastifyBaseLogger;
  /** Clock for quotas, rate limits and result TTLs (tests move it). */
  now?: () => number;
  /** Replace the in-process queue. */
  queue?: JobQueue;
  /** Close the executor when the app closes (default true). */
  closeExecutor?: boolean;
  /** Node process metrics on /metrics (default false; serve turns them on). */
  processMetrics?: boolean;
  /** Start a queue worker in this process (default true; false for an API-only node of a cluster). */
  runWorker?: boolean;
  /** The workers for GET /v1/workers (default: this process's own worker); a cluster reads its registry. */
  workers?: () => Promise<WorkerRecord[]>;
  /**
   * A cluster's Redis: rate limits and quotas are shared by all API nodes through it, and async results
   * this node does not know are looked up with `results` (src/cluster).
   */
  shared?: { redis: Redis; prefix: string; results?: (id: string, tenant: string) => Promise<ExecutionView | undefined> };
}

export interface PolyrunHandle {
  services: AppServices;
  /** Stop accepting, let executions finish within `graceMs`, cancel the rest, close everything. */
  shutdown(graceMs?: number): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    polyrun: PolyrunHandle;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function keysFilePath(config: PolyrunConfig): string {
  return config.keysFile ?? join(config.dataDir, 'keys.json');
}

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { config, executor } = options;
  const now = options.now ?? Date.now;

  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    // An incoming X-Request-Id is kept when it looks sane, so ids can be followed across services.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Our own 503 SHUTTING_DOWN replaces Fastify's plain-text one while closing.
    return503OnClosing: false,
    // Errors the router meets before any route or hook (a badly encoded URL, an over-long parameter).
    frameworkErrors: (err, request, reply) => sendError(httpError(err), request, reply),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Only JSON bodies: anything else is 415 (Fastify would otherwise accept text/plain).
  app.removeContentTypeParser('text/plain');

  const queue = options.queue ?? new MemoryQueue({ maxQueued: config.queue.maxQueued, waitTimeoutMs: config.queue.waitTimeoutMs });
  const runtimeNames = () => executor.runtimes().map((r) => r.name);
  const local = countingWorker((job, context) => executor.run(job, context), {
    slots: config.slots,
    runtimes: runtimeNames,
    ...(config.nodeName ? { host: config.nodeName } : {}),
  });
  // A queue shared by processes gives this worker only jobs of the runtimes it has (and publishes them).
  const worker =
    (options.runWorker ?? true)
      ? queue.work(local.processor, { concurrency: config.slots, runtimes: runtimeNames(), catalogue: executor.runtimes() })
      : null;
  const metrics = createMetrics({ processMetrics: options.processMetrics ?? false, queueStats: () => queue.stats() });
  // A failed store write (full disk) is counted and logged where it happens; the store reports degraded.
  const onStoreFailure = (store: string, err: Error) => {
    metrics.storeWriteFailures.inc({ store });
    app.log.error({ store, err: err.message }, 'data store write failed');
  };
  const usage = new UsageStore(join(config.dataDir, 'usage.sqlite'), onStoreFailure);
  const keys = config.auth ? new KeyStore(keysFilePath(config), now) : null;
  const resultOptions = { ...config.results, now, path: join(config.dataDir, 'results.sqlite'), onWriteFailure: onStoreFailure };
  const results = options.shared?.results ? new SharedResults(resultOptions, options.shared.results) : new ResultStore(resultOptions);
  const quota: Quota = options.shared
    ? new SharedQuota({ ...options.shared, metrics, now })
    : new QuotaGuard(usage, metrics, now);
  const executions = new ExecutionService({
    queue,
    results,
    metrics,
    queueWaitTimeoutMs: config.queue.waitTimeoutMs,
    compileCacheScope: config.sandbox?.compileCacheScope,
    auditIncludeSource: config.audit.includeSource,
  });
  const services: AppServices = { config, executor, executions, quota, results, usage, metrics };
  const sessions = new SessionManager({ backend: sessionBackend(executor), metrics, now, log: (level, msg, fields) => app.log[level](fields ?? {}, msg) });

  app.setErrorHandler((err, request, reply) => sendError(err, request, reply));
  app.setNotFoundHandler((request, reply) =>
    sendError(noRoute(request), request, reply),
  );

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ route }, reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'polyrun', version: '0.1.0', description: 'Run untrusted code in many languages inside sandboxes.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          judge0Token: { type: 'apiKey', in: 'header', name: 'X-Auth-Token' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // WebSocket upgrades go through the routes and their hooks like any request; a message may be as large as a body.
  await app.register(websocket, {
    options: { maxPayload: config.bodyLimitBytes },
    // A client's protocol error (an oversized or malformed frame) is logged at info, not as a server error.
    errorHandler: (err, socket, request) => {
      request.log.info({ err: err.message }, 'websocket closed on a protocol error');
      socket.terminate();
    },
  });

  await app.register(systemRoutes, { services });
  await app.register(playgroundRoutes);

  await app.register(async (api) => {
    // Draining refuses new work only; results, runtimes and usage stay readable until the app closes.
    api.addHook('onRequest', async (request) => {
      if (executions.draining && request.routeOptions.config?.execution) throw errors.shuttingDown();
    });
    await api.register(authentication, { config, keys, metrics });
    await api.register(rateLimiting, {
      metrics,
      now,
      unauthenticatedRate: anonymousPolicy(config).rate,
      unlimitedAnonymous: anonymousUnlimited(config),
      ...(options.shared ? { shared: options.shared } : {}),
    });
    await api.register(quotaCheck, { guard: quota });
    await api.register(v1Routes, { prefix: '/v1', services });
    await api.register(sessionRoutes, { prefix: '/v1', services, sessions });
    await api.register(judgeRoutes, { prefix: '/v1', services });
    await api.register(judge0Routes, { services, keys, queue, now });
    await api.register(pistonRoutes, { prefix: '/api/v2', services });
    await api.register(packageRoutes, { prefix: '/api/v2', services });
    await api.register(v1ConnectRoutes, { prefix: '/v1', services });
    await api.register(pistonConnectRoutes, { prefix: '/api/v2', services });
    await api.register(mcpRoutes, { services, sessions });
    await api.register(workersRoute, { prefix: '/v1', list: options.workers ?? local.list });
  });

  const shutdown = gracefulShutdown(app as unknown as FastifyInstance, executions, config.shutdownGraceMs);
  app.decorate('polyrun', { services, shutdown });

  app.addHook('onClose', async () => {
    // After shutdown() this finds nothing in flight; after a bare app.close() it cancels what still runs
    // rather than closing the executor under it.
    await executions.drain();
    executions.abortAll();
    await executions.waitIdle(10_000);
    await sessions.closeAll();
    await worker?.close();
    if (options.closeExecutor ?? true) await executor.close();
    usage.close();
    results.close();
  });

  return app as unknown as FastifyInstance;
}
