/**
 * Graceful shutdown: stop admitting executions (503 SHUTTING_DOWN with Retry-After), keep answering
 * everything else (results of async executions that are finishing, health, metrics), let executions
 * finish within the grace period, cancel the rest, then close the listener and the app (whose onClose hook
 * closes the worker, the executor and the stores). Apart from the composition in app.ts because it is a
 * sequence over time, not a part of the pipeline.
 */
import type { FastifyInstance } from 'fastify';
import type { ExecutionService } from '../pipeline/execution.js';

export function gracefulShutdown(app: FastifyInstance, executions: ExecutionService, defaultGraceMs: number): (graceMs?: number) => Promise<void> {
  let closing: Promise<void> | null = null;
  return (graceMs = defaultGraceMs) => {
    closing ??= (async () => {
      await executions.drain(); // new executions: 503 SHUTTING_DOWN; reads carry on
      if (!(await executions.waitIdle(graceMs))) {
        app.log.warn({ inflight: executions.inflightCount }, 'grace period over: cancelling executions');
        executions.abortAll();
        await executions.waitIdle(10_000);
      }
      // Only now: app.close() stops listening and runs onClose (executor.close()), which must not pull the
      // sandbox from under a run; clients still reading results got them while the executions finished.
      await app.close();
    })();
    return closing;
  };
}
