/**
 * The pieces `polyrun serve` assembles per role when redis.url is set (serve.ts decides, this builds):
 *
 *   --role all     API + worker in one process, on the shared queue (a cluster of identical nodes)
 *   --role api     HTTP only: enqueues, validates against the runtimes the live workers published
 *   --role worker  runs jobs; serves /healthz, /readyz and /metrics only, on the same host/port settings
 *
 * Without redis.url, `all` is the single process with its in-memory queue and none of this is used.
 */
import os from 'node:os';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { PolyrunConfig } from '../config/schema.js';
import type { Executor } from '../executor/types.js';
import { BullQueue } from '../queue/bullmq-queue.js';
import type { QueueWorker } from '../queue/types.js';
import { createMetrics } from '../telemetry/metrics.js';

export function nodeName(config: PolyrunConfig): string {
  return config.nodeName ?? os.hostname();
}

/** The shared queue of a cluster node. */
export function clusterQueue(config: PolyrunConfig): BullQueue {
  if (!config.redis.url) throw new Error('clusterQueue needs redis.url');
  const lockDurationMs = config.redis.lockDurationMs;
  return new BullQueue({
    url: config.redis.url,
    prefix: config.redis.prefix,
    maxQueued: config.queue.maxQueued,
    waitTimeoutMs: config.queue.waitTimeoutMs,
    resultTtlMs: config.results.ttlMs,
    worker: {
      lockDurationMs,
      // Look for stalled jobs as often as a lock lasts: a dead worker's job runs again within ~2 locks.
      stalledIntervalMs: lockDurationMs,
      heartbeatMs: Math.min(5_000, Math.max(250, Math.floor(lockDurationMs / 2))),
      host: nodeName(config),
    },
  });
}

export interface WorkerNode {
  app: FastifyInstance;
  worker: QueueWorker;
  /** Take no new jobs, finish the running ones, close everything. */
  shutdown(): Promise<void>;
}

/**
 * A worker process: takes jobs for the runtimes its executor has, up to `slots` at once. Its small HTTP
 * server is for probes and scrapes only; it takes no executions over HTTP.
 */
export async function startWorkerNode(o: {
  config: PolyrunConfig;
  executor: Executor;
  queue: BullQueue;
  logger?: FastifyBaseLogger;
}): Promise<WorkerNode> {
  const { config, executor, queue } = o;
  const worker = queue.work((job, context) => executor.run(job, context), {
    concurrency: config.slots,
    runtimes: executor.runtimes().map((r) => r.name),
    catalogue: executor.runtimes(),
  });
  const metrics = createMetrics({ processMetrics: true, queueStats: () => queue.stats() });
  metrics.registry.setDefaultLabels({ node: nodeName(config), role: 'worker' });
  const app = Fastify(o.logger ? { loggerInstance: o.logger } : { logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const health = executor.health();
    const redis = queue.connected;
    const ready = health.ready && redis && executor.runtimes().length > 0;
    const detail = !redis ? 'the job queue (Redis) cannot be reached' : health.ready ? `${executor.runtimes().length} runtimes` : health.detail;
    return reply.code(ready ? 200 : 503).send(
      ready
        ? { status: 'ready', runtimes: executor.runtimes().length }
        : { error: { code: 'NOT_READY', message: detail } },
    );
  });
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  let closing: Promise<void> | undefined;
  return {
    app,
    worker,
    shutdown: () =>
      (closing ??= (async () => {
        await worker.close(); // finishes its running jobs first
        await app.close();
        await executor.close();
        await queue.disconnect();
      })()),
  };
}
