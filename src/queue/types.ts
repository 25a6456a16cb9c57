/**
 * The queue between the API (which prepares and admits executions) and the workers (which run them in
 * sandboxes). Jobs, events, control messages and results are plain JSON, so an implementation may carry
 * them between processes: the in-process MemoryQueue is the first; a Redis/BullMQ one implements the same
 * interface and must pass the same conformance suite (test/unit/queue-conformance.ts).
 *
 * Errors are PolyrunErrors built by the factories in src/contract/errors.ts: QUEUE_FULL (with
 * retryAfterSeconds), QUEUE_TIMEOUT, SHUTTING_DOWN.
 */
import type { ExecutionControl, ExecutionEvent } from '../contract/events.js';
import type { PolyrunError } from '../contract/errors.js';
import type { ExecutionJob } from '../contract/job.js';
import type { ExecutionResult } from '../contract/result.js';

export interface QueueStats {
  queued: number;
  running: number;
  /** Jobs the registered workers run at once, in total. */
  slots: number;
  maxQueued: number;
}

export interface EnqueueOptions {
  /** Longest time the job may wait for a worker; then `result` rejects with QUEUE_TIMEOUT. */
  waitTimeoutMs?: number;
  /**
   * Receives the job's events in order. Given here, not on the handle, so that no event can be published
   * before the listener exists.
   */
  onEvent?: (event: ExecutionEvent) => void;
}

export interface JobHandle {
  readonly id: string;
  /** Resolves when a worker starts the job; rejects like `result` when the job never starts. */
  readonly started: Promise<void>;
  /**
   * What the worker returned; rejects with QUEUE_TIMEOUT, SHUTTING_DOWN, the reason given to `cancel`
   * while the job waited, or the PolyrunError the worker failed with (INTERNAL for anything else).
   */
  readonly result: Promise<ExecutionResult>;
  /** Deliver a control message to the job; messages sent before it starts are delivered, in order, when it does. */
  control(message: ExecutionControl): void;
  /** A waiting job leaves the queue (`result` rejects with `reason`); a running one has its signal aborted with it. */
  cancel(reason: PolyrunError): void;
}

export interface JobContext {
  /** Aborted (with the PolyrunError given to `cancel`) when the job is cancelled while it runs. */
  signal: AbortSignal;
  /** Publish an event to the job's `onEvent` listener. */
  emit(event: ExecutionEvent): void;
  /** Receive control messages, in order; those sent before the job started are replayed at once. */
  onControl(listener: (message: ExecutionControl) => void): void;
}

/** Runs one job. Never throws for what the program did: that is a result with a status. */
export type JobProcessor = (job: ExecutionJob, context: JobContext) => Promise<ExecutionResult>;

export interface WorkerOptions {
  /** Jobs this worker runs at once. */
  concurrency: number;
  /**
   * Runtime names this worker can run (a queue that spans processes gives it only their jobs); absent = any.
   * The in-process queue ignores it: its one worker has the one catalogue the API validated against.
   */
  runtimes?: readonly string[];
  /** What this worker offers (RuntimeInfo[]), for API nodes of a multi-process queue; opaque to the queue. */
  catalogue?: readonly unknown[];
}

export interface QueueWorker {
  /** Take no new jobs; resolves when the jobs it runs have finished. */
  close(): Promise<void>;
}

export interface JobQueue {
  /** Admit a job. Rejects with QUEUE_FULL when the queue is full, SHUTTING_DOWN after close(). */
  enqueue(job: ExecutionJob, options?: EnqueueOptions): Promise<JobHandle>;
  /** Start a worker that takes jobs from this queue. */
  work(processor: JobProcessor, options: WorkerOptions): QueueWorker;
  stats(): Promise<QueueStats>;
  /** Refuse new jobs; waiting and running jobs carry on. */
  close(): Promise<void>;
}
