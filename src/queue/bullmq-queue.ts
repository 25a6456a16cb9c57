/**
 * The JobQueue on Redis with BullMQ: API nodes enqueue, worker processes (bullmq-worker.ts) run, any
 * number of each. It passes the same conformance suite as MemoryQueue (test/redis/queue-bullmq.test.ts).
 *
 * What goes where:
 * - the job itself: a BullMQ job in the queue of its runtime (redis-names.ts), id = execution id; BullMQ
 *   gives the atomic hand-over to one worker, locks, stalled-job detection and retention of the outcome
 *   (`resultTtlMs`, so an async result can be read by id from any node);
 * - started / events / result: the worker publishes them in order on the job's event channel; this node
 *   subscribed before adding the job, so nothing is missed, and holds them back until enqueue resolved;
 * - control messages and cancel: published on the job's control channel once the worker said it started
 *   (it subscribes before saying so); those sent earlier are kept here and sent then, in order;
 * - wait deadline and cancel of a waiting job: `Queue.remove` (atomic: it fails once a worker holds the
 *   job's lock, and then the worker's own messages decide the outcome).
 *
 * Bounds: a job is admitted while waiting < free slots + maxQueued, counted from Redis. Two API nodes
 * admitting at the same instant can each pass the check, so the bound may be exceeded by the number of
 * concurrent enqueues (never more): it is a backpressure bound, not an exact one.
 *
 * Redis unreachable: enqueue and stats reject with QUEUE_UNAVAILABLE (503); a job in flight whose worker's
 * messages were lost while the subscriber was disconnected is looked up in BullMQ when it reconnects.
 */
import { Queue, Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { errors, fromWireError, toPolyrunError, PolyrunError } from '../contract/errors.js';
import type { ExecutionControl, ExecutionEvent } from '../contract/events.js';
import type { ExecutionJob } from '../contract/job.js';
import type { ExecutionResult } from '../contract/result.js';
import { connect, isConnectionError } from './redis-connection.js';
import { BullWorker, type BullWorkerOptions } from './bullmq-worker.js';
import {
  DEFAULT_PREFIX,
  HEARTBEAT_LIVES,
  names,
  runtimeQueueName,
  type ControlMessage,
  type WorkerInfo,
  type WorkerMessage,
} from './redis-names.js';
import type { EnqueueOptions, JobHandle, JobProcessor, JobQueue, QueueStats, QueueWorker, WorkerOptions } from './types.js';

export interface BullQueueOptions {
  /** redis://[:password@]host:port[/db] or a unix socket path (redis+unix / unix:/path). */
  url: string;
  /** Namespace of every key and channel (several clusters or test runs can share one Redis). */
  prefix?: string;
  maxQueued: number;
  waitTimeoutMs: number;
  /** How long a finished job and its outcome stay in Redis (the async result TTL). */
  resultTtlMs?: number;
  /** Worker tuning, for workers started by `work()` (see bullmq-worker.ts). */
  worker?: Partial<Pick<BullWorkerOptions, 'lockDurationMs' | 'stalledIntervalMs' | 'heartbeatMs' | 'pollMs' | 'host'>>;
}

/** The data of a BullMQ job: the ExecutionJob as enqueued (a string, so the worker parses an exact copy). */
export interface QueuedJobData {
  job: string;
  /** Epoch ms after which a job that never started must not start (the API node answered QUEUE_TIMEOUT). */
  deadline: number;
}

const MAX_BUFFERED_CONTROLS = 1_000;
const DEFAULT_HEARTBEAT_MS = 5_000;
/** How long a node that has never reached Redis waits for it before a request fails with QUEUE_UNAVAILABLE. */
const FIRST_CONNECT_MS = 5_000;
/** How long a cancelled job's worker has to report its outcome before the caller gets the cancel reason. */
const CANCEL_GRACE_MS = 10_000;

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
  promise.catch(() => {}); // nobody has to observe `started` or `result`
  return { promise, resolve, reject };
}

interface Pending {
  readonly id: string;
  readonly queue: Queue;
  readonly options: EnqueueOptions;
  state: 'waiting' | 'running' | 'done';
  /** Messages are held back until enqueue has resolved, so no event overtakes it. */
  open: boolean;
  readonly held: WorkerMessage[];
  readonly started: Deferred<void>;
  readonly result: Deferred<ExecutionResult>;
  /** Control messages (and a cancel) to send once the worker has subscribed. */
  readonly outbox: ControlMessage[];
  timer?: NodeJS.Timeout;
}

const wire = (e: PolyrunError) => e.toJSON().error;

export class BullQueue implements JobQueue {
  readonly prefix: string;
  private readonly keys: ReturnType<typeof names>;
  private readonly client: Redis;
  private subscriber: Redis | undefined;
  private subscriberReady: Promise<void> | undefined;
  private readonly queues = new Map<string, Queue>();
  private readonly pending = new Map<string, Pending>();
  private readonly workers = new Set<BullWorker>();
  private closed = false;
  private wasReady = false;

  constructor(private readonly options: BullQueueOptions) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.keys = names(this.prefix);
    this.client = connect(options.url, 'commands');
    this.client.once('ready', () => (this.wasReady = true));
  }

  /** Whether this node can reach Redis now (/readyz). */
  get connected(): boolean {
    return this.client.status === 'ready';
  }

  /**
   * Resolves once the command connection is up. The first connection of a starting node may take a moment;
   * once a node has been connected, a lost connection fails at once with QUEUE_UNAVAILABLE (the client
   * reconnects in the background and the next request goes through).
   */
  private ready(): Promise<void> {
    if (this.client.status === 'ready') return Promise.resolve();
    if (this.wasReady) return Promise.reject(errors.queueUnavailable());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off('ready', onReady);
        reject(errors.queueUnavailable());
      }, FIRST_CONNECT_MS);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.client.once('ready', onReady);
    });
  }

  async enqueue(job: ExecutionJob, options: EnqueueOptions = {}): Promise<JobHandle> {
    if (this.closed) throw errors.shuttingDown();
    await this.ready();
    const queue = this.queueFor(job.runtime.name);
    const id = job.id;
    const entry: Pending = {
      id,
      queue,
      options,
      state: 'waiting',
      open: false,
      held: [],
      started: deferred(),
      result: deferred(),
      outbox: [],
    };
    try {
      // Subscribed before the job exists, so the worker's first message cannot be missed; meanwhile the
      // admission check (both are round trips to Redis, done at once).
      this.pending.set(id, entry);
      const [stats] = await Promise.all([this.stats(), this.ensureSubscriber().then(() => this.subscriber!.subscribe(this.keys.events(id)))]);
      if (stats.queued >= Math.max(0, stats.slots - stats.running) + stats.maxQueued) {
        throw errors.queueFull(stats.queued, stats.maxQueued);
      }
      const waitMs = options.waitTimeoutMs ?? this.options.waitTimeoutMs;
      const data: QueuedJobData = { job: JSON.stringify(job), deadline: Date.now() + waitMs };
      const ttlSeconds = Math.ceil((this.options.resultTtlMs ?? 15 * 60_000) / 1000);
      await this.client
        .multi()
        .sadd(this.keys.runtimes, queue.name)
        // Kept while its outcome is: a job of up to ~10 min of queue wait and run, then resultTtlMs.
        .set(this.keys.job(id), JSON.stringify({ queue: queue.name, tenant: job.tenantId }), 'PX', waitMs + ttlSeconds * 1000 + 10 * 60_000)
        .exec();
      await queue.add(job.runtime.name, data, {
        jobId: id,
        removeOnComplete: { age: ttlSeconds },
        removeOnFail: { age: ttlSeconds },
      });
      // Not awaited: a wake that is lost costs a worker's poll interval, not this request a round trip.
      this.client.publish(this.keys.wake, queue.name).catch(() => undefined);
      entry.timer = setTimeout(() => void this.expire(entry, errors.queueTimeout(waitMs)), waitMs);
    } catch (err) {
      this.forget(entry);
      if (err instanceof PolyrunError) throw err;
      throw isConnectionError(err) ? errors.queueUnavailable() : toPolyrunError(err);
    }
    // Messages that arrived meanwhile are delivered after the caller has its handle.
    setImmediate(() => {
      entry.open = true;
      for (const message of entry.held.splice(0)) this.deliver(entry, message);
    });
    return {
      id,
      started: entry.started.promise,
      result: entry.result.promise,
      control: (message) => this.send(entry, { t: 'control', m: message }),
      cancel: (reason) => void this.cancel(entry, reason),
    };
  }

  work(processor: JobProcessor, options: WorkerOptions): QueueWorker {
    const worker = new BullWorker(processor, {
      url: this.options.url,
      prefix: this.prefix,
      concurrency: options.concurrency,
      ...(options.runtimes ? { runtimes: options.runtimes } : {}),
      ...(options.catalogue ? { catalogue: options.catalogue } : {}),
      ...this.options.worker,
    });
    this.workers.add(worker);
    return {
      close: async () => {
        await worker.close();
        this.workers.delete(worker);
      },
    };
  }

  async stats(): Promise<QueueStats> {
    await this.ready();
    // Workers this node started count from the moment work() returned.
    await Promise.all([...this.workers].map((w) => w.registered));
    try {
      const [queueNames, registry] = await Promise.all([this.client.smembers(this.keys.runtimes), this.workerList()]);
      let queued = 0;
      let running = 0;
      const all = await Promise.all(queueNames.map((name) => this.queueFor(name, true).getJobCounts('waiting', 'prioritized', 'active')));
      for (const counts of all) {
        queued += (counts.waiting ?? 0) + (counts.prioritized ?? 0);
        running += counts.active ?? 0;
      }
      const slots = registry.reduce((sum, w) => sum + w.slots, 0);
      return { queued, running, slots, maxQueued: this.options.maxQueued };
    } catch (err) {
      throw isConnectionError(err) ? errors.queueUnavailable() : err;
    }
  }

  /** The live workers of this cluster (GET /v1/workers): those whose heartbeat is recent. */
  async workerList(now = Date.now()): Promise<WorkerInfo[]> {
    await this.ready();
    const raw = await this.client.hgetall(this.keys.workers);
    const heartbeatMs = this.options.worker?.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    const all = Object.values(raw).map((json) => JSON.parse(json) as WorkerInfo);
    // Long dead (SIGKILLed, never deregistered): dropped from the registry, by whichever node looks first.
    const buried = all.filter((w) => now - w.lastSeen > heartbeatMs * HEARTBEAT_LIVES * 20).map((w) => w.id);
    if (buried.length > 0) await this.client.hdel(this.keys.workers, ...buried).then(() => this.client.hdel(this.keys.catalogues, ...buried));
    return all
      .filter((w) => now - w.lastSeen <= heartbeatMs * HEARTBEAT_LIVES)
      .sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
  }

  /** What the live workers offer (their `catalogue`s), one list per worker. */
  async catalogues(now = Date.now()): Promise<unknown[][]> {
    await this.ready();
    const [live, raw] = await Promise.all([this.workerList(now), this.client.hgetall(this.keys.catalogues)]);
    return live.flatMap((w) => (raw[w.id] ? [JSON.parse(raw[w.id]!) as unknown[]] : []));
  }

  /**
   * A job by id, from any node, while Redis keeps it (resultTtlMs): what an API node that did not enqueue
   * it (or that enqueued it and died) can tell about it. `state` is BullMQ's (waiting, active, completed...).
   */
  async lookup(id: string): Promise<{ tenant: string; state: string; result?: ExecutionResult; error?: PolyrunError } | undefined> {
    await this.ready();
    const indexed = await this.client.get(this.keys.job(id));
    if (!indexed) return undefined;
    const { queue, tenant } = JSON.parse(indexed) as { queue: string; tenant: string };
    const job = await Job.fromId<QueuedJobData, ExecutionResult>(this.queueFor(queue, true), id);
    if (!job) return undefined;
    const state = await job.getState();
    if (state === 'completed') return { tenant, state, result: job.returnvalue };
    if (state === 'failed') return { tenant, state, error: parseFailure(job.failedReason) };
    return { tenant, state };
  }

  /** Cancel a job by id from any node: a waiting one is removed, a running one is told to stop. */
  async cancelById(id: string, reason: PolyrunError): Promise<void> {
    await this.ready();
    const local = this.pending.get(id);
    if (local) return this.cancel(local, reason);
    const indexed = await this.client.get(this.keys.job(id));
    if (!indexed) return;
    const removed = await this.queueFor((JSON.parse(indexed) as { queue: string }).queue, true).remove(id);
    if (removed !== 1) await this.client.publish(this.keys.control(id), JSON.stringify({ t: 'cancel', reason: wire(reason) } satisfies ControlMessage));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Close the Redis connections (after close(), once nothing is in flight). */
  async disconnect(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.workers].map((w) => w.close()));
    for (const entry of this.pending.values()) this.settleError(entry, errors.shuttingDown());
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => undefined)));
    this.subscriber?.disconnect();
    this.client.disconnect();
  }

  private queueFor(runtimeOrQueue: string, isQueueName = false): Queue {
    const name = isQueueName ? runtimeOrQueue : runtimeQueueName(runtimeOrQueue);
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.client, prefix: this.prefix });
      queue.on('error', () => undefined); // connection errors surface through the calls that fail
      this.queues.set(name, queue);
    }
    return queue;
  }

  private ensureSubscriber(): Promise<void> {
    if (this.subscriberReady) return this.subscriberReady;
    const sub = connect(this.options.url, 'subscriber');
    this.subscriber = sub;
    sub.on('message', (channel: string, text: string) => {
      if (!channel.startsWith(this.keys.eventsPrefix)) return;
      const entry = this.pending.get(channel.slice(this.keys.eventsPrefix.length));
      if (!entry) return;
      let message: WorkerMessage;
      try {
        message = JSON.parse(text) as WorkerMessage;
      } catch {
        return;
      }
      if (entry.open) this.deliver(entry, message);
      else entry.held.push(message);
    });
    // After a reconnect, what was published meanwhile is lost: the state of every job still pending is read
    // back from BullMQ, strictly after its channel is subscribed again (acknowledged). Then a job seen
    // unfinished has not been completed yet, and its worker publishes the outcome after completing it, to a
    // channel this node listens on again: nothing falls between the two.
    let first = true;
    sub.on('ready', () => {
      if (first) {
        first = false;
        return;
      }
      const entries = [...this.pending.values()];
      if (entries.length === 0) return;
      sub.subscribe(...entries.map((e) => this.keys.events(e.id))).then(
        () => entries.forEach((entry) => void this.reconcile(entry)),
        () => undefined, // lost again: the next 'ready' retries
      );
    });
    this.subscriberReady = new Promise<void>((resolve, reject) => {
      if (sub.status === 'ready') resolve();
      sub.once('ready', () => resolve());
      sub.once('error', (err) => {
        if (sub.status !== 'ready') reject(err);
      });
    }).catch((err: unknown) => {
      // Let the next enqueue try again with a fresh connection.
      this.subscriberReady = undefined;
      this.subscriber = undefined;
      sub.disconnect();
      throw err;
    });
    return this.subscriberReady;
  }

  private deliver(entry: Pending, message: WorkerMessage): void {
    if (entry.state === 'done') return;
    switch (message.t) {
      case 'started':
        this.markStarted(entry);
        break;
      case 'event':
        if (entry.state === 'running') entry.options.onEvent?.(message.e as ExecutionEvent);
        break;
      case 'result':
        this.markStarted(entry);
        this.forget(entry);
        entry.result.resolve(message.r as ExecutionResult);
        break;
      case 'error': {
        const e = fromWireError(message.e);
        if (entry.state === 'waiting') entry.started.reject(e);
        this.forget(entry);
        entry.result.reject(e);
        break;
      }
    }
  }

  private markStarted(entry: Pending): void {
    if (entry.state !== 'waiting') return;
    clearTimeout(entry.timer);
    entry.state = 'running';
    entry.started.resolve();
    for (const message of entry.outbox.splice(0)) this.publishControl(entry, message);
  }

  private send(entry: Pending, message: ControlMessage): void {
    if (entry.state === 'done') return;
    if (entry.state === 'running') this.publishControl(entry, message);
    else if (entry.outbox.length < MAX_BUFFERED_CONTROLS || message.t === 'cancel') entry.outbox.push(message);
  }

  private publishControl(entry: Pending, message: ControlMessage): void {
    this.client.publish(this.keys.control(entry.id), JSON.stringify(message)).catch(() => undefined);
  }

  private async cancel(entry: Pending, reason: PolyrunError): Promise<void> {
    if (entry.state === 'done') return;
    if (entry.state === 'waiting' && (await this.removeWaiting(entry))) {
      this.settleError(entry, reason);
      return;
    }
    this.send(entry, { t: 'cancel', reason: wire(reason) });
    // The worker answers a cancel with the job's outcome. If it cannot (it died, or the message was lost
    // while Redis was away), the caller still gets an answer: the reason, after a grace period.
    const timer = setTimeout(() => this.settleError(entry, reason), CANCEL_GRACE_MS);
    timer.unref();
    void entry.result.promise.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
  }

  /** The wait deadline passed: the job leaves the queue unless a worker took it meanwhile. */
  private async expire(entry: Pending, reason: PolyrunError): Promise<void> {
    if (entry.state === 'waiting' && (await this.removeWaiting(entry))) this.settleError(entry, reason);
    // Not removed: a worker holds it; its `started` (or, past the deadline, its QUEUE_TIMEOUT) is on the way.
  }

  private async removeWaiting(entry: Pending): Promise<boolean> {
    try {
      return (await entry.queue.remove(entry.id)) === 1 && entry.state === 'waiting';
    } catch {
      return false;
    }
  }

  private async reconcile(entry: Pending): Promise<void> {
    try {
      const job = await Job.fromId<QueuedJobData, ExecutionResult>(entry.queue, entry.id);
      if (entry.state === 'done') return;
      // Gone: Redis lost its data (restarted without persistence) or the outcome expired meanwhile.
      if (!job) return this.settleError(entry, errors.queueUnavailable());
      const state = await job.getState();
      if (state === 'completed') this.deliver(entry, { t: 'result', r: job.returnvalue });
      else if (state === 'failed') this.deliver(entry, { t: 'error', e: wire(parseFailure(job.failedReason)) });
      else if (state === 'active') this.markStarted(entry);
    } catch {
      // Redis went away again; the next 'ready' tries again.
    }
  }

  private settleError(entry: Pending, e: PolyrunError): void {
    if (entry.state === 'done') return;
    this.forget(entry);
    entry.started.reject(e);
    entry.result.reject(e);
  }

  private forget(entry: Pending): void {
    clearTimeout(entry.timer);
    entry.state = 'done';
    entry.outbox.length = 0;
    entry.held.length = 0;
    if (this.pending.get(entry.id) === entry) {
      this.pending.delete(entry.id);
      this.subscriber?.unsubscribe(this.keys.events(entry.id)).catch(() => undefined);
    }
  }
}

/** A failed BullMQ job's reason is the PolyrunError the worker failed it with, as JSON. */
export function parseFailure(reason: string | undefined): PolyrunError {
  try {
    return fromWireError(JSON.parse(reason ?? '') as Record<string, unknown>);
  } catch {
    return errors.internal();
  }
}
