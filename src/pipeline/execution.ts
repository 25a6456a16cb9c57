/**
 * Pipeline stages 5-7: queue -> sandboxed execution (executor.execute) -> result capture (usage, result
 * store, metrics, audit). One service for the synchronous, asynchronous and Piston routes. It tracks every
 * execution in flight so that shutdown can wait for them and then cancel what is left.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger } from 'fastify';
import { PolyrunError } from '../contract/errors.js';
import type { ExecutionRequest } from '../contract/request.js';
import type { ExecutionResult } from '../contract/result.js';
import type { Tenant } from '../config/policy.js';
import type { Executor } from '../executor/types.js';
import type { LimitTable } from '../limits/limits.js';
import type { JobQueue } from '../queue/types.js';
import type { ResultStore } from '../store/results.js';
import type { Metrics } from '../telemetry/metrics.js';
import { auditExecution, cpuMsOf, observeExecution } from '../telemetry/observe.js';
import type { QuotaLease } from './quota.js';

export type IdentifiedResult = { id: string } & ExecutionResult;

export interface ExecutionInput {
  tenant: Tenant;
  request: ExecutionRequest;
  maxLimits: LimitTable;
  lease: QuotaLease;
  log: FastifyBaseLogger;
  /** Aborting cancels the execution (e.g. the client of a synchronous request went away). */
  signal?: AbortSignal;
}

export interface ExecutionServiceOptions {
  executor: Executor;
  queue: JobQueue;
  results: ResultStore;
  metrics: Metrics;
  queueWaitTimeoutMs: number;
  auditIncludeSource: boolean;
  /** Compile cache per tenant (default) or one cache for everyone. */
  compileCacheScope?: 'tenant' | 'global';
}

const QUEUE_CODES = new Set(['QUEUE_FULL', 'QUEUE_TIMEOUT', 'SHUTTING_DOWN']);

export class ExecutionService {
  private readonly inflight = new Map<string, AbortController>();
  private readonly idleWaiters = new Set<() => void>();
  private isDraining = false;

  constructor(private readonly o: ExecutionServiceOptions) {}

  get draining(): boolean {
    return this.isDraining;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Run and wait. Rejects with PolyrunError when the execution could not run (queue, shutdown, executor). */
  run(input: ExecutionInput): Promise<IdentifiedResult> {
    return this.launch(input).done;
  }

  /** Start an execution in the background; its result goes to the result store. */
  start(input: ExecutionInput): { id: string } {
    const { id, done } = this.launch(input, true);
    done.then(
      (result) => this.o.results.complete(id, result),
      (err: unknown) => {
        const e = asPolyrunError(err);
        this.o.results.complete(id, { id, status: 'error', error: e.toJSON().error });
      },
    );
    return { id };
  }

  /** Refuse new executions from now on; running and queued ones carry on. */
  drain(): void {
    this.isDraining = true;
    this.o.queue.close();
  }

  /** Cancel every execution still queued or running. */
  abortAll(): void {
    for (const c of this.inflight.values()) c.abort(new PolyrunError('SHUTTING_DOWN', 'cancelled: the service is shutting down'));
  }

  /** Resolves true once nothing is in flight, or false after `timeoutMs`. */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.inflight.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (idle: boolean) => {
        clearTimeout(timer);
        this.idleWaiters.delete(onIdle);
        resolve(idle);
      };
      const onIdle = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.idleWaiters.add(onIdle);
    });
  }

  private launch(input: ExecutionInput, background = false): { id: string; done: Promise<IdentifiedResult> } {
    const { metrics, queue, executor, results } = this.o;
    if (this.draining) throw this.rejected(new PolyrunError('SHUTTING_DOWN', 'the service is shutting down; retry on another instance'));
    if (!queue.hasRoom()) {
      throw this.rejected(
        new PolyrunError('QUEUE_FULL', 'all sandboxes are busy and the queue is full; retry shortly', { retryAfterSeconds: 1 }),
      );
    }
    const id = randomUUID();
    const controller = new AbortController();
    const onCallerAbort = () => controller.abort(input.signal?.reason);
    input.signal?.addEventListener('abort', onCallerAbort, { once: true });
    this.inflight.set(id, controller);
    if (background) results.create(id, input.tenant.id);

    const admittedAt = performance.now();
    let startedAt = admittedAt;
    const done = queue
      .run(
        () =>
          executor.execute(input.request, {
            maxLimits: input.maxLimits,
            signal: controller.signal,
            cacheScope: this.o.compileCacheScope === 'global' ? 'global' : `tenant:${input.tenant.id}`,
          }),
        {
          signal: controller.signal,
          waitTimeoutMs: this.o.queueWaitTimeoutMs,
          onStart: () => {
            startedAt = performance.now();
            metrics.queueWait.observe((startedAt - admittedAt) / 1000);
            if (background) results.markRunning(id);
          },
        },
      )
      .then(
        (result): IdentifiedResult => {
          input.lease.settle(cpuMsOf(result));
          const record = {
            tenant: input.tenant.id,
            request: input.request,
            result,
            queueWaitMs: Math.round(startedAt - admittedAt),
            totalMs: Math.round(performance.now() - admittedAt),
            maxProcesses: input.maxLimits.run.processes,
          };
          const anomalies = observeExecution(metrics, record);
          auditExecution(input.log, { ...record, id, anomalies }, this.o.auditIncludeSource);
          return { id, ...result };
        },
        (err: unknown) => {
          input.lease.cancel();
          const e = asPolyrunError(err);
          if (QUEUE_CODES.has(e.code)) metrics.queueRejections.inc({ code: e.code });
          else if (e.code === 'INTERNAL') input.log.error({ err, executionId: id }, 'execution failed');
          throw e;
        },
      )
      .finally(() => {
        input.signal?.removeEventListener('abort', onCallerAbort);
        this.inflight.delete(id);
        if (this.inflight.size === 0) for (const wake of [...this.idleWaiters]) wake();
      });
    // The synchronous caller handles rejections; this keeps an abandoned promise from crashing the process.
    done.catch(() => {});
    return { id, done };
  }

  private rejected(e: PolyrunError): PolyrunError {
    this.o.metrics.queueRejections.inc({ code: e.code });
    return e;
  }
}

export function asPolyrunError(err: unknown): PolyrunError {
  if (err instanceof PolyrunError) return err;
  return new PolyrunError('INTERNAL', 'internal error');
}
