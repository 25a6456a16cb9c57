/**
 * A worker of the BullMQ queue: takes jobs from the queues of the runtimes it has, at most `concurrency` at
 * once in total, and runs each with the processor (the sandboxed executor).
 *
 * BullMQ's own worker loop runs one queue with its own concurrency; a polyrun worker serves many runtime
 * queues from one set of slots, so it fetches by hand (BullMQ's "manually fetching jobs" pattern): one
 * manual BullMQ Worker per runtime queue for the atomic fetch, the lock and the stalled-job checker, and
 * one loop here that fills free slots round-robin over those queues. When nothing waits it sleeps until an
 * API node publishes on the wake channel, or `pollMs` passes (a wake lost in a reconnect, or a stalled
 * job put back by BullMQ, which publishes no wake).
 *
 * Faults: each running job's lock is extended every lockDuration/2; a worker that dies (SIGKILL) stops
 * extending, BullMQ's stalled checker on any other worker moves the job back to waiting, and the next
 * worker runs it again: at-least-once. The result of such a second run carries `attempts: 2`.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { errors, fromWireError, toPolyrunError, type PolyrunError } from '../contract/errors.js';
import type { ExecutionControl } from '../contract/events.js';
import type { ExecutionJob } from '../contract/job.js';
import type { ExecutionResult } from '../contract/result.js';
import type { QueuedJobData } from './bullmq-queue.js';
import { connect } from './redis-connection.js';
import { names, runtimeQueueName, type ControlMessage, type WorkerInfo, type WorkerMessage } from './redis-names.js';
import type { JobContext, JobProcessor, QueueWorker } from './types.js';

export interface BullWorkerOptions {
  url: string;
  prefix: string;
  concurrency: number;
  /** Runtime names this worker has; absent = any (every runtime queue there is). */
  runtimes?: readonly string[];
  /** How long a job's lock lasts without renewal: a dead worker's job is retried after about this. */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs (of any dead worker). */
  stalledIntervalMs?: number;
  /** How often the registry entry (GET /v1/workers) is refreshed. */
  heartbeatMs?: number;
  /** Longest sleep between looks at the queues when no wake arrives. */
  pollMs?: number;
  /** The name this worker reports (default: the host name). */
  host?: string;
  /** What this worker offers, published for API nodes (RuntimeInfo[]; opaque to the queue). */
  catalogue?: readonly unknown[];
}

const MAX_BUFFERED_CONTROLS = 1_000;
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

interface Running {
  abort: AbortController;
  listeners: ((message: ExecutionControl) => void)[];
  buffered: ExecutionControl[];
}

export class BullWorker implements QueueWorker {
  readonly id = randomUUID();
  private readonly keys: ReturnType<typeof names>;
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly fetchers = new Map<string, Worker>();
  private readonly running = new Map<string, Running>();
  private readonly info: WorkerInfo;
  private closing = false;
  private wakeSeq = 0;
  private wake: (() => void) | undefined;
  private roundRobin = 0;
  private wokenFor: string | undefined;
  private tokenSeq = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly loopDone: Promise<void>;
  private idle: (() => void) | undefined;
  private readonly lockDurationMs: number;
  /** Settles once the first registry write went through (or failed): the queue's stats() waits for it. */
  readonly registered: Promise<void>;

  constructor(
    private readonly processor: JobProcessor,
    private readonly o: BullWorkerOptions,
  ) {
    if (!Number.isInteger(o.concurrency) || o.concurrency < 1) {
      throw new RangeError(`worker concurrency must be a positive integer, got ${o.concurrency}`);
    }
    this.keys = names(o.prefix);
    this.lockDurationMs = o.lockDurationMs ?? 30_000;
    this.client = connect(o.url, 'worker');
    this.subscriber = connect(o.url, 'subscriber');
    const now = Date.now();
    this.info = {
      id: this.id,
      host: o.host ?? os.hostname(),
      pid: process.pid,
      runtimes: o.runtimes ? [...o.runtimes] : ['*'],
      slots: o.concurrency,
      busy: 0,
      completed: 0,
      failed: 0,
      startedAt: now,
      lastSeen: now,
    };
    // Registered at once (commands on one connection run in order, so a stats() issued after work() on the
    // same process sees this worker's slots once this write is through).
    this.registered = this.register();
    this.heartbeat = setInterval(() => void this.register(), o.heartbeatMs ?? 5_000);
    this.heartbeat.unref();
    this.subscriber.on('message', (channel: string, text: string) => this.onMessage(channel, text));
    this.loopDone = this.loop();
  }

  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      clearInterval(this.heartbeat);
      this.wake?.();
      // Out of the registry first: its slots stop counting at once.
      await this.client
        .multi()
        .hdel(this.keys.workers, this.id)
        .hdel(this.keys.catalogues, this.id)
        .exec()
        .catch(() => undefined);
    }
    await this.loopDone;
    if (this.running.size > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await Promise.all([...this.fetchers.values()].map((w) => w.close().catch(() => undefined)));
    this.subscriber.disconnect();
    this.client.disconnect();
  }

  private register(): Promise<void> {
    if (this.closing) return Promise.resolve();
    this.info.lastSeen = Date.now();
    this.info.busy = this.running.size;
    const writes = this.client.multi().hset(this.keys.workers, this.id, JSON.stringify(this.info));
    if (this.o.catalogue) writes.hset(this.keys.catalogues, this.id, JSON.stringify(this.o.catalogue));
    return writes.exec().then(
      () => undefined,
      () => undefined,
    );
  }

  private onMessage(channel: string, text: string): void {
    if (channel === this.keys.wake) {
      this.wokenFor = text; // the queue that got a job: looked at first
      this.wakeSeq++;
      this.wake?.();
      return;
    }
    if (!channel.startsWith(this.keys.controlPrefix)) return;
    const job = this.running.get(channel.slice(this.keys.controlPrefix.length));
    if (!job) return;
    let message: ControlMessage;
    try {
      message = JSON.parse(text) as ControlMessage;
    } catch {
      return;
    }
    if (message.t === 'cancel') {
      if (!job.abort.signal.aborted) job.abort.abort(fromWireError(message.reason));
    } else if (job.listeners.length > 0) {
      for (const listener of job.listeners) listener(message.m as ExecutionControl);
    } else if (job.buffered.length < MAX_BUFFERED_CONTROLS) {
      job.buffered.push(message.m as ExecutionControl);
    }
  }

  /** Fill free slots; sleep when nothing waits. Never throws: a Redis outage is waited out. */
  private async loop(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.keys.wake);
    } catch {
      // Retried by ioredis on reconnect (it resubscribes); polling covers the meantime.
    }
    while (!this.closing) {
      if (this.running.size >= this.o.concurrency) {
        await this.sleep();
        continue;
      }
      const seq = this.wakeSeq;
      let found = false;
      try {
        found = await this.fetchOne();
      } catch {
        found = false; // Redis unreachable: wait and try again
      }
      if (found || this.closing) continue;
      if (seq === this.wakeSeq) await this.sleep(this.o.pollMs ?? 1_000);
    }
  }

  private sleep(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wake === done) self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  private async queueNames(): Promise<string[]> {
    if (this.o.runtimes) return this.o.runtimes.map(runtimeQueueName);
    return (await this.client.smembers(this.keys.runtimes)).sort();
  }

  private fetcher(queueName: string): Worker {
    let w = this.fetchers.get(queueName);
    if (!w) {
      w = new Worker(queueName, null, {
        connection: this.client,
        prefix: this.o.prefix,
        autorun: false,
        lockDuration: this.lockDurationMs,
        stalledInterval: this.o.stalledIntervalMs ?? 30_000,
        maxStalledCount: 1,
      });
      w.on('error', () => undefined); // connection errors: the loop retries
      void w.startStalledCheckTimer().catch(() => undefined);
      this.fetchers.set(queueName, w);
    }
    return w;
  }

  /** Take one job from the next queue that has one; false when none has. */
  private async fetchOne(): Promise<boolean> {
    const queueNames = await this.queueNames();
    const woken = this.wokenFor;
    this.wokenFor = undefined;
    const first = woken === undefined ? -1 : queueNames.indexOf(woken);
    if (first >= 0) this.roundRobin = first;
    for (let i = 0; i < queueNames.length; i++) {
      if (this.closing) return false;
      const name = queueNames[(this.roundRobin + i) % queueNames.length]!;
      const token = `${this.id}:${++this.tokenSeq}`;
      const job = (await this.fetcher(name).getNextJob(token, { block: false })) as Job<QueuedJobData, ExecutionResult> | undefined;
      if (job) {
        this.roundRobin = (this.roundRobin + i + 1) % queueNames.length;
        void this.run(job, token); // even if close() began meanwhile: close waits for it
        return true;
      }
    }
    return false;
  }

  private async run(job: Job<QueuedJobData, ExecutionResult>, token: string): Promise<void> {
    const id = job.id!;
    const state: Running = { abort: new AbortController(), listeners: [], buffered: [] };
    this.running.set(id, state);
    void this.register(); // busy, for GET /v1/workers
    const publish = (message: WorkerMessage) => this.client.publish(this.keys.events(id), JSON.stringify(message)).catch(() => 0);
    const lock = setInterval(() => void job.extendLock(token, this.lockDurationMs).catch(() => undefined), this.lockDurationMs / 2);
    const attempt = Math.max(1, job.attemptsStarted);
    let ok = false;
    try {
      // Only a first attempt can be late: a stalled job retried after its deadline must still finish.
      if (attempt === 1 && Date.now() > job.data.deadline) {
        const late = errors.queueTimeout(0);
        await job.moveToFailed(new Error(JSON.stringify(late.toJSON().error)), token, false);
        await publish({ t: 'error', e: late.toJSON().error });
        return;
      }
      await this.subscriber.subscribe(this.keys.control(id));
      // Not awaited: every later message of this job goes out on the same connection, after it.
      void publish({ t: 'started', attempt, worker: this.id });
      const context: JobContext = {
        signal: state.abort.signal,
        emit: (event) => void publish({ t: 'event', e: event }),
        onControl: (listener) => {
          state.listeners.push(listener);
          if (state.listeners.length === 1) for (const m of state.buffered.splice(0)) listener(m);
        },
      };
      let outcome: { result: ExecutionResult } | { error: PolyrunError };
      try {
        const parsed = JSON.parse(job.data.job) as ExecutionJob;
        const result = copy(await new Promise<ExecutionResult>((resolve) => resolve(this.processor(parsed, context))));
        outcome = { result: attempt > 1 ? { ...result, attempts: attempt } : result };
      } catch (err) {
        outcome = { error: toPolyrunError(err) };
      }
      if ('result' in outcome) {
        await job.moveToCompleted(outcome.result, token, false);
        ok = true;
        await publish({ t: 'result', r: outcome.result });
      } else {
        const e = outcome.error.toJSON().error;
        await job.moveToFailed(new Error(JSON.stringify(e)), token, false);
        await publish({ t: 'error', e });
      }
    } catch {
      // Redis failed under us: the lock lapses and the stalled checker gives the job to another worker.
    } finally {
      clearInterval(lock);
      this.running.delete(id);
      this.subscriber.unsubscribe(this.keys.control(id)).catch(() => undefined);
      if (ok) this.info.completed++;
      else this.info.failed++;
      void this.register();
      this.wake?.();
      if (this.running.size === 0) this.idle?.();
    }
  }
}
