/**
 * The queue between the HTTP pipeline and the sandboxes. The in-process implementation is memory-queue.ts;
 * a distributed one (e.g. Redis/BullMQ with remote workers) would implement the same interface.
 */

export interface QueueStats {
  queued: number;
  running: number;
  slots: number;
  maxQueued: number;
}

export interface EnqueueOptions {
  /** Longest time the job may wait for a slot; then the promise rejects with QUEUE_TIMEOUT. */
  waitTimeoutMs?: number;
  /** Aborting removes a waiting job (rejects with the abort reason) and is passed on to a running one. */
  signal?: AbortSignal;
  /** Called when the job gets a slot, just before it runs. */
  onStart?: () => void;
}

export interface JobQueue {
  /**
   * Run `job` when a slot is free. Rejects with PolyrunError QUEUE_FULL at once when the queue is full,
   * QUEUE_TIMEOUT when the wait is too long, SHUTTING_DOWN after close().
   */
  run<T>(job: () => Promise<T>, options?: EnqueueOptions): Promise<T>;
  /** Whether run() would accept a job right now. */
  hasRoom(): boolean;
  stats(): QueueStats;
  /** Refuse new jobs; waiting and running jobs carry on. */
  close(): void;
}
