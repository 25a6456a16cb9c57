/**
 * Bounded in-process queue: at most `slots` jobs run at once and at most `maxQueued` wait. Nothing here
 * grows without bound and every waiting job has a deadline, so a request can neither pile up memory nor
 * hang.
 */
import { PolyrunError } from '../contract/errors.js';
import type { EnqueueOptions, JobQueue, QueueStats } from './types.js';

interface Waiting {
  start: () => void;
}

export interface MemoryQueueOptions {
  slots: number;
  maxQueued: number;
  /** Default wait timeout when a job gives none. */
  waitTimeoutMs: number;
}

export class MemoryQueue implements JobQueue {
  private running = 0;
  private closed = false;
  private readonly waiting: Waiting[] = [];

  constructor(private readonly options: MemoryQueueOptions) {}

  hasRoom(): boolean {
    return !this.closed && (this.running < this.options.slots || this.waiting.length < this.options.maxQueued);
  }

  stats(): QueueStats {
    return {
      queued: this.waiting.length,
      running: this.running,
      slots: this.options.slots,
      maxQueued: this.options.maxQueued,
    };
  }

  close(): void {
    this.closed = true;
  }

  run<T>(job: () => Promise<T>, options: EnqueueOptions = {}): Promise<T> {
    if (this.closed) return Promise.reject(new PolyrunError('SHUTTING_DOWN', 'the service is shutting down'));
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    if (this.running < this.options.slots && this.waiting.length === 0) return this.execute(job, options);
    if (this.waiting.length >= this.options.maxQueued) {
      return Promise.reject(
        new PolyrunError('QUEUE_FULL', 'all sandboxes are busy and the queue is full; retry shortly', {
          queued: this.waiting.length,
          maxQueued: this.options.maxQueued,
        }),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const waitMs = options.waitTimeoutMs ?? this.options.waitTimeoutMs;
      const leave = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
      };
      const entry: Waiting = {
        start: () => {
          leave();
          this.execute(job, options).then(resolve, reject);
        },
      };
      const timer = setTimeout(() => {
        leave();
        reject(new PolyrunError('QUEUE_TIMEOUT', `no sandbox became free within ${waitMs} ms; retry later`, { waitMs }));
      }, waitMs);
      const onAbort = () => {
        leave();
        reject(options.signal!.reason);
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private async execute<T>(job: () => Promise<T>, options: EnqueueOptions): Promise<T> {
    this.running++;
    try {
      options.onStart?.();
      return await job();
    } finally {
      this.running--;
      this.waiting[0]?.start();
    }
  }
}
