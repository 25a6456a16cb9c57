/**
 * The in-process JobQueue. It behaves as if its workers lived in another process, so that code written
 * against it also works with a queue that really does carry jobs elsewhere (Redis/BullMQ), and both pass
 * test/unit/queue-conformance.ts:
 * - the job is serialised at enqueue and the worker gets a parsed copy; events, control messages and
 *   results go through the same JSON round trip (they are small; output chunks are strings);
 * - jobs start on a later tick (setImmediate) than the one enqueue resolves on, so no event can overtake it.
 *
 * Nothing grows without bound: at most `maxQueued` jobs wait, each with a deadline; running jobs are bounded
 * by the workers' slots; a job's buffer of early control messages is capped.
 */
import { errors, toPolyrunError, type PolyrunError } from '../contract/errors.js';
import type { ExecutionControl } from '../contract/events.js';
import type { ExecutionJob } from '../contract/job.js';
import type { ExecutionResult } from '../contract/result.js';
import type {
  EnqueueOptions,
  JobContext,
  JobHandle,
  JobProcessor,
  JobQueue,
  QueueStats,
  QueueWorker,
  WorkerOptions,
} from './types.js';

export interface MemoryQueueOptions {
  /** Jobs that may wait while every worker slot is busy; 0 = none wait. */
  maxQueued: number;
  /** How long a job may wait when enqueue gives no waitTimeoutMs. */
  waitTimeoutMs: number;
}

/**
 * Control messages a job keeps until it has a listener (it has not started, or has not called onControl
 * yet). Beyond this they are dropped: a client flooding a job that cannot read must not grow memory.
 */
const MAX_BUFFERED_CONTROLS = 1_000;

const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // nobody has to observe `started` or `result`: no unhandled rejections
  return { promise, resolve, reject };
}

interface Entry {
  /** Serialised at enqueue: the worker gets what was enqueued, whatever the caller does with its object. */
  readonly job: string;
  readonly options: EnqueueOptions;
  state: 'waiting' | 'running' | 'done';
  timer?: NodeJS.Timeout;
  readonly abort: AbortController;
  readonly started: Deferred<void>;
  readonly result: Deferred<ExecutionResult>;
  /** Control messages sent while the job had no listener, replayed to the first one. */
  readonly buffered: ExecutionControl[];
  readonly listeners: ((message: ExecutionControl) => void)[];
}

interface Worker {
  readonly processor: JobProcessor;
  readonly concurrency: number;
  running: number;
  closed: boolean;
  idle?: Deferred<void>;
}

export class MemoryQueue implements JobQueue {
  private readonly waiting: Entry[] = [];
  /** Open workers; a closed one leaves this set (its running jobs still count in `running`). */
  private readonly workers = new Set<Worker>();
  private running = 0;
  private closed = false;
  private pumpScheduled = false;

  constructor(private readonly options: MemoryQueueOptions) {}

  async enqueue(job: ExecutionJob, options: EnqueueOptions = {}): Promise<JobHandle> {
    if (this.closed) throw errors.shuttingDown();
    // Jobs admitted on this tick have not taken their free slots yet, so free slots count as queue room.
    if (this.waiting.length >= this.freeSlots() + this.options.maxQueued) {
      throw errors.queueFull(this.waiting.length, this.options.maxQueued);
    }
    const entry: Entry = {
      job: JSON.stringify(job),
      options,
      state: 'waiting',
      abort: new AbortController(),
      started: deferred(),
      result: deferred(),
      buffered: [],
      listeners: [],
    };
    const waitMs = options.waitTimeoutMs ?? this.options.waitTimeoutMs;
    entry.timer = setTimeout(() => this.leave(entry, errors.queueTimeout(waitMs)), waitMs);
    this.waiting.push(entry);
    this.schedulePump();
    return {
      id: job.id,
      started: entry.started.promise,
      result: entry.result.promise,
      control: (message) => this.control(entry, message),
      cancel: (reason) => {
        if (entry.state === 'waiting') this.leave(entry, reason);
        else if (entry.state === 'running') entry.abort.abort(reason);
      },
    };
  }

  work(processor: JobProcessor, options: WorkerOptions): QueueWorker {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`worker concurrency must be a positive integer, got ${options.concurrency}`);
    }
    const worker: Worker = { processor, concurrency: options.concurrency, running: 0, closed: false };
    this.workers.add(worker);
    this.schedulePump();
    return {
      close: () => {
        worker.closed = true;
        this.workers.delete(worker);
        if (worker.running === 0) return Promise.resolve();
        worker.idle ??= deferred();
        return worker.idle.promise;
      },
    };
  }

  async stats(): Promise<QueueStats> {
    let slots = 0;
    for (const w of this.workers) slots += w.concurrency;
    return { queued: this.waiting.length, running: this.running, slots, maxQueued: this.options.maxQueued };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private freeSlots(): number {
    let free = 0;
    for (const w of this.workers) free += Math.max(0, w.concurrency - w.running);
    return free;
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      for (const worker of this.workers) {
        while (worker.running < worker.concurrency && this.waiting.length > 0) this.start(worker, this.waiting.shift()!);
      }
    });
  }

  /** A waiting job leaves the queue without running (timeout or cancel). */
  private leave(entry: Entry, reason: PolyrunError): void {
    if (entry.state !== 'waiting') return;
    const i = this.waiting.indexOf(entry);
    if (i >= 0) this.waiting.splice(i, 1);
    this.finish(entry);
    entry.started.reject(reason);
    entry.result.reject(reason);
  }

  private start(worker: Worker, entry: Entry): void {
    clearTimeout(entry.timer);
    entry.state = 'running';
    worker.running++;
    this.running++;
    entry.started.resolve();
    const context: JobContext = {
      signal: entry.abort.signal,
      emit: (event) => {
        if (entry.state === 'running') entry.options.onEvent?.(copy(event));
      },
      onControl: (listener) => {
        if (entry.state !== 'running') return;
        entry.listeners.push(listener);
        if (entry.listeners.length === 1) for (const message of entry.buffered.splice(0)) listener(message);
      },
    };
    // Counters drop before `result` settles, so whoever awaited it sees the slot free in stats().
    const done = (settle: () => void) => {
      this.finish(entry);
      worker.running--;
      this.running--;
      settle();
      if (worker.closed && worker.running === 0) worker.idle?.resolve();
      this.schedulePump();
    };
    new Promise<ExecutionResult>((resolve) => resolve(worker.processor(JSON.parse(entry.job) as ExecutionJob, context)))
      .then(copy)
      .then(
        (result) => done(() => entry.result.resolve(result)),
        (err: unknown) => done(() => entry.result.reject(toPolyrunError(err))),
      );
  }

  private control(entry: Entry, message: ExecutionControl): void {
    if (entry.state === 'done') return;
    const travelled = copy(message);
    if (entry.listeners.length > 0) for (const listener of entry.listeners) listener(travelled);
    else if (entry.buffered.length < MAX_BUFFERED_CONTROLS) entry.buffered.push(travelled);
  }

  private finish(entry: Entry): void {
    clearTimeout(entry.timer);
    entry.state = 'done';
    entry.buffered.length = 0;
    entry.listeners.length = 0;
  }
}
