/**
 * Pipeline stages 5-7 on the API side: a prepared execution becomes a job in the queue; its events and
 * result come back from whichever worker ran it; result capture follows (usage charged to the quota lease,
 * async result stored, metrics, audit). One service for the synchronous, streaming, asynchronous and
 * Piston routes. It tracks every execution in flight so that shutdown can wait for them and then cancel
 * what is left.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger } from 'fastify';
import { errors, toPolyrunError, type PolyrunError } from '../contract/errors.js';
import type { ExecutionControl, ExecutionEvent } from '../contract/events.js';
import type { ExecutionResult } from '../contract/result.js';
import type { Tenant } from '../config/policy.js';
import type { JobHandle, JobQueue } from '../queue/types.js';
import type { ResultStore } from '../store/results.js';
import type { Metrics } from '../telemetry/metrics.js';
import { auditExecution, cpuMsOf, observeExecution } from '../telemetry/observe.js';
import { toJob, type PreparedExecution } from './prepare.js';
import type { QuotaLease } from './quota.js';

export type IdentifiedResult = { id: string } & ExecutionResult;

export interface ExecutionInput {
  tenant: Tenant;
  prepared: PreparedExecution;
  lease: QuotaLease;
  log: FastifyBaseLogger;
  /** Aborting cancels the execution (e.g. the client of a synchronous request went away). */
  signal?: AbortSignal;
  /** The job's events as they happen (streaming routes). */
  onEvent?: (event: ExecutionEvent) => void;
  /** Keep stdin open for `control` messages. */
  interactive?: boolean;
}

/** An admitted execution. */
export interface Launched {
  id: string;
  /** Resolves when a worker starts it; rejects with the queue's error (QUEUE_TIMEOUT, SHUTTING_DOWN...) when it never does. */
  started: Promise<void>;
  /** The captured result; rejects with a PolyrunError when the execution could not run. */
  done: Promise<IdentifiedResult>;
  control(message: ExecutionControl): void;
}

export interface ExecutionServiceOptions {
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
  /** Executions admitted and not finished; `cancelled` once the caller or the shutdown cancelled them. */
  private readonly inflight = new Map<string, { handle: JobHandle; cancelled: boolean }>();
  private readonly idleWaiters = new Set<() => void>();
  private isDraining = false;

  constructor(private readonly o: ExecutionServiceOptions) {}

  get draining(): boolean {
    return this.isDraining;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Run and wait. Rejects with PolyrunError when the execution could not run (queue, shutdown, worker). */
  async run(input: ExecutionInput): Promise<IdentifiedResult> {
    return (await this.launch(input)).done;
  }

  /** Start an execution in the background; its result goes to the result store. */
  async start(input: ExecutionInput): Promise<{ id: string }> {
    const launched = await this.launch(input);
    const { id } = launched;
    // Handlers attached after `create` run whenever the job settles, so the record always exists first.
    this.o.results.create(id, input.tenant.id);
    launched.started.then(() => this.o.results.markRunning(id), () => undefined);
    launched.done
      .then(
        (result) => this.o.results.complete(id, result),
        (err: unknown) => this.o.results.complete(id, { id, status: 'error', error: toPolyrunError(err).toJSON().error }),
      )
      // The store keeps its own failures (a full disk) to itself; anything else is a bug worth a log line,
      // never an unhandled rejection that would stop the process.
      .catch((err: unknown) => input.log.error({ err, executionId: id }, 'storing an async result failed'));
    return { id };
  }

  /** Admit an execution into the queue. Rejects with SHUTTING_DOWN or QUEUE_FULL before anything runs. */
  async launch(input: ExecutionInput, id: string = randomUUID()): Promise<Launched> {
    if (this.draining) throw this.rejected(errors.shuttingDown());
    const cacheScope = this.o.compileCacheScope === 'global' ? 'global' : `tenant:${input.tenant.id}`;
    const job = toJob(input.prepared, { id, tenantId: input.tenant.id, cacheScope, interactive: input.interactive ?? false });
    let handle: JobHandle;
    try {
      handle = await this.o.queue.enqueue(job, {
        waitTimeoutMs: this.o.queueWaitTimeoutMs,
        ...(input.onEvent ? { onEvent: input.onEvent } : {}),
      });
    } catch (err) {
      throw this.rejected(toPolyrunError(err));
    }
    const tracked = { handle, cancelled: false };
    this.inflight.set(id, tracked);
    const onCallerAbort = () => this.cancel(tracked, toPolyrunError(input.signal?.reason ?? errors.clientClosed()));
    input.signal?.addEventListener('abort', onCallerAbort, { once: true });
    if (input.signal?.aborted) onCallerAbort();

    const admittedAt = performance.now();
    let startedAt = admittedAt;
    const started = handle.started.then(() => {
      startedAt = performance.now();
      this.o.metrics.queueWait.observe((startedAt - admittedAt) / 1000);
    });
    const done = handle.result
      .then(
        (result) => this.capture(input, id, result, { queueWaitMs: startedAt - admittedAt, totalMs: performance.now() - admittedAt, cancelled: tracked.cancelled }),
        (err: unknown) => {
          input.lease.cancel();
          const e = toPolyrunError(err);
          if (QUEUE_CODES.has(e.code)) this.o.metrics.queueRejections.inc({ code: e.code });
          else if (e.code === 'INTERNAL') input.log.error({ err, executionId: id }, 'execution failed');
          throw e;
        },
      )
      .finally(() => {
        input.signal?.removeEventListener('abort', onCallerAbort);
        this.inflight.delete(id);
        if (this.inflight.size === 0) for (const wake of [...this.idleWaiters]) wake();
      });
    // Callers handle rejections; these keep an abandoned promise from crashing the process.
    started.catch(() => undefined);
    done.catch(() => undefined);
    return { id, started, done, control: (message) => handle.control(message) };
  }

  /** Result capture: usage, metrics, audit. */
  private cancel(tracked: { handle: JobHandle; cancelled: boolean }, reason: PolyrunError): void {
    tracked.cancelled = true;
    tracked.handle.cancel(reason);
  }

  private capture(
    input: ExecutionInput,
    id: string,
    result: ExecutionResult,
    timing: { queueWaitMs: number; totalMs: number; cancelled: boolean },
  ): IdentifiedResult {
    input.lease.settle(cpuMsOf(result));
    const record = {
      tenant: input.tenant.id,
      files: input.prepared.files,
      result,
      queueWaitMs: Math.round(timing.queueWaitMs),
      totalMs: Math.round(timing.totalMs),
      cancelled: timing.cancelled,
      maxProcesses: input.prepared.limits.run.processes,
    };
    const anomalies = observeExecution(this.o.metrics, record);
    auditExecution(input.log, { ...record, id, anomalies }, this.o.auditIncludeSource);
    return { id, ...result };
  }

  /** Refuse new executions from now on; running and queued ones carry on. */
  async drain(): Promise<void> {
    this.isDraining = true;
    await this.o.queue.close();
  }

  /** Cancel every execution still queued or running. */
  abortAll(): void {
    for (const tracked of this.inflight.values()) this.cancel(tracked, errors.shuttingDown());
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

  private rejected(e: PolyrunError): PolyrunError {
    this.o.metrics.queueRejections.inc({ code: e.code });
    return e;
  }
}
