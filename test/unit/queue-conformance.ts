/**
 * What every JobQueue must do (src/queue/types.ts), as one vitest `describe` an implementation's test file
 * calls: queue-memory.test.ts for MemoryQueue, a Redis/BullMQ queue's test later.
 *
 * No sleeps: the fake processors below hold each job until the test finishes it, and the tests await
 * promises they control. Only the timeout tests wait, for a short waitTimeoutMs, on the rejection itself.
 * Where a test shows that something did NOT happen (a job never ran), it enqueues a sentinel job behind it
 * and awaits that one: queues are FIFO, so the earlier job would have run first.
 */
import { Value } from '@sinclair/typebox/value';
import { afterEach, describe, expect, it } from 'vitest';
import { errors, PolyrunError } from '../../src/contract/errors.js';
import type { ExecutionControl, ExecutionEvent } from '../../src/contract/events.js';
import { ExecutionJobSchema, type ExecutionJob } from '../../src/contract/job.js';
import { DEFAULT_PROFILE } from '../../src/contract/profile.js';
import type { ExecutionResult } from '../../src/contract/result.js';
import { DEFAULT_LIMITS } from '../../src/limits/limits.js';
import type { JobContext, JobHandle, JobProcessor, JobQueue, QueueWorker } from '../../src/queue/types.js';

export type MakeQueue = (o: { maxQueued: number; waitTimeoutMs: number }) => Promise<JobQueue> | JobQueue;

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

let jobSeq = 0;

/** A valid ExecutionJob; `tag` lands in its stdin so results can name the job. */
export function makeJob(overrides: Partial<ExecutionJob> = {}): ExecutionJob {
  jobSeq++;
  return {
    id: `job-${process.pid}-${jobSeq}`,
    tenantId: 'tenant-a',
    runtime: { name: 'python', version: '3.12.0' },
    files: [{ content: Buffer.from('print(input())').toString('base64') }, { name: 'util.py', content: '' }],
    stdin: Buffer.from(`stdin of ${jobSeq}`).toString('base64'),
    interactive: false,
    args: ['--flag', 'ünïcødé ✓'],
    limits: structuredClone(DEFAULT_LIMITS),
    cacheScope: 'tenant:tenant-a',
    profile: { ...DEFAULT_PROFILE },
    ...overrides,
  };
}

/** A result whose run stdout names the job, so a test can tell whose result it got. */
export function resultFor(job: Pick<ExecutionJob, 'id'>, stdout = `ran ${job.id}`): ExecutionResult {
  return {
    language: 'python',
    version: '3.12.0',
    status: 'ok',
    compile: null,
    run: {
      status: 'ok',
      exitCode: 0,
      signal: null,
      stdout,
      stderr: '',
      stdoutTruncated: false,
      stderrTruncated: false,
      cpuTimeMs: 12,
      wallTimeMs: 34,
      memoryBytes: 5678,
    },
  };
}

/**
 * Ways to end every job a test left running (it failed half-way), so that afterEach's worker.close() does
 * not wait forever and turn one failure into a cascade of timeouts.
 */
const unfinished = new Set<() => void>();

interface HeldJob {
  job: ExecutionJob;
  context: JobContext;
  /** Let the processor return (the job's own result by default). */
  finish(result?: ExecutionResult): void;
  /** Let the processor throw. */
  fail(err: unknown): void;
}

/**
 * A processor that holds every job until the test finishes it, records start order and how many ran at once,
 * and lets the test await the n-th start.
 */
export function heldProcessor() {
  const started: HeldJob[] = [];
  const waiters = new Map<number, Deferred<HeldJob>>();
  let active = 0;
  let maxActive = 0;
  const processor: JobProcessor = (job, context) =>
    new Promise<ExecutionResult>((resolve, reject) => {
      active++;
      maxActive = Math.max(maxActive, active);
      const held: HeldJob = {
        job,
        context,
        finish: (result = resultFor(job)) => {
          if (!unfinished.delete(end)) return;
          active--;
          resolve(result);
        },
        fail: (err) => {
          if (!unfinished.delete(end)) return;
          active--;
          reject(err);
        },
      };
      const end = () => held.finish();
      unfinished.add(end);
      started.push(held);
      waiters.get(started.length - 1)?.resolve(held);
      waiters.delete(started.length - 1);
    });
  return {
    processor,
    started,
    /** The n-th job (from 0) this processor started, once it has. */
    nth(n: number): Promise<HeldJob> {
      const held = started[n];
      if (held) return Promise.resolve(held);
      const d = waiters.get(n) ?? deferred<HeldJob>();
      waiters.set(n, d);
      return d.promise;
    },
    get maxActive() {
      return maxActive;
    },
    ids: () => started.map((h) => h.job.id),
  };
}

/** Settles with the rejection of `p` (failing the test if it resolves instead). */
async function rejection(p: Promise<unknown>): Promise<PolyrunError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(PolyrunError);
    return err as PolyrunError;
  }
  throw new Error('expected a rejection, got a value');
}

/** Lets every pending callback of this process run: a check that something did not happen meanwhile. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

export function queueConformance(
  name: string,
  makeQueue: MakeQueue,
  cleanup?: (q: JobQueue) => Promise<void>,
): void {
  describe(`JobQueue conformance: ${name}`, () => {
    const made: JobQueue[] = [];
    const workers: QueueWorker[] = [];

    /**
     * A queue for this test. The default wait is generous, so that a job behind several Redis round trips on
     * a loaded machine still starts; it stays under the test timeout, so a broken queue fails on
     * QUEUE_TIMEOUT, not a hang.
     */
    async function queue(o: { maxQueued?: number; waitTimeoutMs?: number } = {}): Promise<JobQueue> {
      const q = await makeQueue({ maxQueued: o.maxQueued ?? 10, waitTimeoutMs: o.waitTimeoutMs ?? 30_000 });
      made.push(q);
      return q;
    }

    function work(q: JobQueue, processor: JobProcessor, concurrency = 1): QueueWorker {
      const w = q.work(processor, { concurrency });
      workers.push(w);
      return w;
    }

    afterEach(async () => {
      for (const end of [...unfinished]) end();
      await Promise.all(workers.splice(0).map((w) => w.close()));
      for (const q of made.splice(0)) {
        await q.close();
        await cleanup?.(q);
      }
    });

    it('delivers the result the processor returned, and resolves started first', async () => {
      const q = await queue();
      work(q, async (job) => resultFor(job, 'hello\n'));
      const job = makeJob();
      const handle = await q.enqueue(job);
      expect(typeof handle.id).toBe('string');
      expect(handle.id.length).toBeGreaterThan(0);
      let startedFirst = false;
      void handle.started.then(() => (startedFirst = true));
      const result = await handle.result;
      expect(startedFirst).toBe(true);
      expect(result).toEqual(resultFor(job, 'hello\n'));
    });

    it('the processor gets an equal copy of the job as it was enqueued: plain JSON, valid against the schema', async () => {
      const q = await queue();
      const p = heldProcessor();
      const job = makeJob();
      const snapshot = structuredClone(job);
      const handle = await q.enqueue(job);
      job.args.push('changed after enqueue'); // the job travelled at enqueue
      work(q, p.processor);
      const held = await p.nth(0);
      expect(held.job).not.toBe(job);
      expect(held.job).toEqual(snapshot);
      expect(Value.Check(ExecutionJobSchema, held.job)).toBe(true);
      held.finish();
      await handle.result;
    });

    it('delivers events in order, as copies, none before enqueue resolved and all before the result', async () => {
      const q = await queue();
      const emitted: ExecutionEvent[] = [];
      work(q, async (job, ctx) => {
        const publish = (e: ExecutionEvent) => {
          emitted.push(e);
          ctx.emit(e);
        };
        publish({ type: 'stage', stage: 'run' }); // at once, on start
        for (let i = 0; i < 50; i++) {
          publish({ type: i % 3 ? 'stdout' : 'stderr', stage: 'run', data: `chunk ${i} ✓\n` });
          if (i % 10 === 0) await Promise.resolve();
        }
        await settle();
        const result = resultFor(job);
        publish({ type: 'exit', stage: 'run', result: result.run! });
        publish({ type: 'result', result });
        return result;
      });
      const received: ExecutionEvent[] = [];
      let enqueued = false;
      let early = 0;
      const enqueue = q.enqueue(makeJob(), {
        onEvent: (e) => {
          if (!enqueued) early++;
          received.push(e);
        },
      });
      void enqueue.then(() => (enqueued = true));
      const handle = await enqueue;
      await handle.result;
      expect(early).toBe(0);
      expect(received).toEqual(emitted);
      expect(received).toHaveLength(53);
      received.forEach((e, i) => expect(e).not.toBe(emitted[i]));
    });

    it('runs at most `concurrency` jobs at once and starts them in FIFO order', async () => {
      const q = await queue({ maxQueued: 10 });
      const p = heldProcessor();
      const jobs = Array.from({ length: 6 }, () => makeJob());
      const handles: JobHandle[] = [];
      for (const job of jobs) handles.push(await q.enqueue(job)); // no worker yet: all wait
      expect(await q.stats()).toMatchObject({ queued: 6, running: 0 });
      work(q, p.processor, 2);
      await Promise.all([p.nth(0), p.nth(1), handles[0]!.started, handles[1]!.started]);
      expect(await q.stats()).toMatchObject({ queued: 4, running: 2, slots: 2 });
      await settle();
      expect(p.started).toHaveLength(2);
      // Each finished job frees one slot for the next in line.
      for (let i = 0; i < jobs.length; i++) {
        (await p.nth(i)).finish();
        expect(await handles[i]!.result).toEqual(resultFor(jobs[i]!));
        if (i + 2 < jobs.length) await p.nth(i + 2);
      }
      expect(p.ids()).toEqual(jobs.map((j) => j.id));
      expect(p.maxActive).toBe(2);
    });

    it('rejects QUEUE_FULL at once, with retryAfterSeconds, when every slot is busy and maxQueued jobs wait', async () => {
      const q = await queue({ maxQueued: 1 });
      const p = heldProcessor();
      work(q, p.processor, 1);
      const running = await q.enqueue(makeJob());
      await running.started;
      const waiting = await q.enqueue(makeJob());
      const err = await rejection(q.enqueue(makeJob()));
      expect(err.code).toBe('QUEUE_FULL');
      expect(err.httpStatus).toBe(503);
      expect(err.details).toMatchObject({ maxQueued: 1, retryAfterSeconds: expect.any(Number) });
      expect((err.details as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(0);
      expect(await q.stats()).toMatchObject({ queued: 1, running: 1 });
      // Room again once a job finished.
      (await p.nth(0)).finish();
      await running.result;
      await p.nth(1);
      const third = await q.enqueue(makeJob());
      (await p.nth(1)).finish();
      (await p.nth(2)).finish();
      await Promise.all([waiting.result, third.result]);
    });

    it('with maxQueued 0 nothing waits: QUEUE_FULL without a free slot', async () => {
      const q = await queue({ maxQueued: 0 });
      expect((await rejection(q.enqueue(makeJob()))).code).toBe('QUEUE_FULL'); // no worker at all
      const p = heldProcessor();
      work(q, p.processor, 1);
      const first = await q.enqueue(makeJob());
      expect((await rejection(q.enqueue(makeJob()))).code).toBe('QUEUE_FULL');
      (await p.nth(0)).finish();
      await first.result;
    });

    it('rejects QUEUE_TIMEOUT after the default wait, and the job never runs', async () => {
      const q = await queue({ waitTimeoutMs: 50 });
      const timedOut = makeJob();
      const handle = await q.enqueue(timedOut); // no worker
      const err = await rejection(handle.result);
      expect(err.code).toBe('QUEUE_TIMEOUT');
      expect(err.httpStatus).toBe(503);
      expect((await rejection(handle.started)).code).toBe('QUEUE_TIMEOUT');
      expect(await q.stats()).toMatchObject({ queued: 0, running: 0 });
      // Sentinel: had the timed-out job stayed in line, it would run first.
      const p = heldProcessor();
      work(q, p.processor, 1);
      const sentinel = makeJob();
      // A deadline of its own: the queue's 50 ms would also time out the sentinel on a loaded machine (a
      // new BullMQ worker connects and fetches within it only when the machine is idle).
      const next = await q.enqueue(sentinel, { waitTimeoutMs: 60_000 });
      (await p.nth(0)).finish();
      await next.result;
      expect(p.ids()).toEqual([sentinel.id]);
    });

    it('enqueue options.waitTimeoutMs overrides the default wait', async () => {
      const q = await queue({ waitTimeoutMs: 60_000 });
      const p = heldProcessor();
      work(q, p.processor, 1);
      const busy = await q.enqueue(makeJob());
      await busy.started;
      const handle = await q.enqueue(makeJob(), { waitTimeoutMs: 50 });
      expect((await rejection(handle.result)).code).toBe('QUEUE_TIMEOUT');
      (await p.nth(0)).finish();
      await busy.result;
      expect(p.started).toHaveLength(1);
    });

    it('cancel while waiting: the job leaves the queue with the reason and never reaches the processor', async () => {
      const q = await queue();
      const p = heldProcessor();
      work(q, p.processor, 1);
      const first = makeJob();
      const running = await q.enqueue(first);
      await running.started;
      const waiting = await q.enqueue(makeJob());
      expect(await q.stats()).toMatchObject({ queued: 1 });
      waiting.cancel(errors.clientClosed());
      const err = await rejection(waiting.result);
      expect(err.code).toBe('CLIENT_CLOSED');
      expect((await rejection(waiting.started)).code).toBe('CLIENT_CLOSED');
      expect(await q.stats()).toMatchObject({ queued: 0, running: 1 });
      waiting.cancel(errors.clientClosed()); // again: no effect
      const sentinel = makeJob();
      const next = await q.enqueue(sentinel);
      (await p.nth(0)).finish();
      await running.result;
      (await p.nth(1)).finish();
      await next.result;
      expect(p.ids()).toEqual([first.id, sentinel.id]);
    });

    it('cancel while running aborts the signal with the reason; the result is what the processor returns', async () => {
      const q = await queue();
      const aborted = deferred<unknown>();
      work(q, (job, ctx) => {
        expect(ctx.signal.aborted).toBe(false);
        return new Promise((resolve) => {
          const end = () => {
            unfinished.delete(end);
            resolve({ ...resultFor(job), status: 'runtime_error' });
          };
          unfinished.add(end);
          ctx.signal.addEventListener('abort', () => {
            aborted.resolve(ctx.signal.reason);
            end();
          });
        });
      });
      const job = makeJob();
      const handle = await q.enqueue(job);
      await handle.started;
      handle.cancel(errors.clientClosed());
      expect(await aborted.promise).toMatchObject({ code: 'CLIENT_CLOSED' });
      expect(await handle.result).toEqual({ ...resultFor(job), status: 'runtime_error' });
      handle.cancel(errors.clientClosed()); // after the end: no effect
    });

    it('delivers control messages in order, including those sent before the job started', async () => {
      const q = await queue();
      const p = heldProcessor();
      work(q, p.processor, 1);
      const blocker = await q.enqueue(makeJob());
      await blocker.started;

      const received: ExecutionControl[] = [];
      const ended = deferred();
      const handle = await q.enqueue(makeJob({ interactive: true }));
      const early: ExecutionControl[] = [
        { type: 'stdin', data: Buffer.from('one\n').toString('base64') },
        { type: 'signal', signal: 'SIGUSR1' },
        { type: 'stdin', data: Buffer.from('two\n').toString('base64') },
      ];
      for (const m of early) handle.control(m);
      (await p.nth(0)).finish();
      await blocker.result;

      const held = await p.nth(1);
      await settle(); // a processor may subscribe late: what was sent before must still arrive
      held.context.onControl((m) => {
        received.push(m);
        if (m.type === 'stdin_end') ended.resolve();
      });
      const late: ExecutionControl[] = [
        { type: 'stdin', data: Buffer.from('three\n').toString('base64') },
        { type: 'stdin_end' },
      ];
      for (const m of late) handle.control(m);
      await ended.promise;
      expect(received).toEqual([...early, ...late]);
      received.forEach((m) => expect([...early, ...late]).not.toContain(m)); // copies, not the sender's objects
      held.finish();
      await handle.result;
      handle.control({ type: 'stdin_end' }); // after the end: dropped, no error
    });

    it('a processor that throws fails the job with INTERNAL; a PolyrunError passes through', async () => {
      const q = await queue();
      const p = heldProcessor();
      work(q, p.processor, 1);
      const a = await q.enqueue(makeJob());
      (await p.nth(0)).fail(new Error('secret detail'));
      const internal = await rejection(a.result);
      expect(internal.code).toBe('INTERNAL');
      expect(internal.message).not.toContain('secret detail');
      await a.started;

      const b = await q.enqueue(makeJob());
      (await p.nth(1)).fail(errors.validationFailed('bad stdin', { field: 'stdin' }));
      const passed = await rejection(b.result);
      expect(passed).toMatchObject({ code: 'VALIDATION_FAILED', message: 'bad stdin', details: { field: 'stdin' } });

      // The worker carries on.
      const c = makeJob();
      const handle = await q.enqueue(c);
      (await p.nth(2)).finish();
      expect(await handle.result).toEqual(resultFor(c));
    });

    it('a processor that throws synchronously fails the job with INTERNAL', async () => {
      const q = await queue();
      work(q, (() => {
        throw new TypeError('not async');
      }) as JobProcessor);
      const handle = await q.enqueue(makeJob());
      expect((await rejection(handle.result)).code).toBe('INTERNAL');
    });

    it('close() refuses new jobs with SHUTTING_DOWN; waiting and running jobs carry on', async () => {
      const q = await queue();
      const p = heldProcessor();
      work(q, p.processor, 1);
      const a = makeJob();
      const b = makeJob();
      const running = await q.enqueue(a);
      await running.started;
      const waiting = await q.enqueue(b);
      await q.close();
      const err = await rejection(q.enqueue(makeJob()));
      expect(err.code).toBe('SHUTTING_DOWN');
      expect(err.httpStatus).toBe(503);
      (await p.nth(0)).finish();
      expect(await running.result).toEqual(resultFor(a));
      (await p.nth(1)).finish();
      expect(await waiting.result).toEqual(resultFor(b));
    });

    it('worker.close() takes no new jobs and resolves once its running jobs finished', async () => {
      const q = await queue();
      const p1 = heldProcessor();
      const w1 = work(q, p1.processor, 1);
      const a = await q.enqueue(makeJob());
      await a.started;
      let closed = false;
      const closing = w1.close().then(() => (closed = true));
      const b = makeJob();
      const waiting = await q.enqueue(b); // admitted: maxQueued room, though no open slot
      await q.stats();
      await settle();
      expect(closed).toBe(false);
      (await p1.nth(0)).finish();
      await closing;
      await a.result;
      expect(await q.stats()).toMatchObject({ running: 0, slots: 0, queued: 1 });
      // b waited for another worker; the closed one never took it.
      const p2 = heldProcessor();
      work(q, p2.processor, 1);
      (await p2.nth(0)).finish();
      expect(await waiting.result).toEqual(resultFor(b));
      expect(p1.started).toHaveLength(1);
      expect(p2.ids()).toEqual([b.id]);
    });

    it('worker.close() with nothing running resolves at once', async () => {
      const q = await queue();
      await q.work(async (job) => resultFor(job), { concurrency: 3 }).close();
      expect(await q.stats()).toMatchObject({ slots: 0, running: 0 });
    });

    it('stats() counts queued and running jobs and the slots of all workers', async () => {
      const q = await queue({ maxQueued: 5 });
      expect(await q.stats()).toEqual({ queued: 0, running: 0, slots: 0, maxQueued: 5 });
      const p = heldProcessor();
      work(q, p.processor, 2);
      work(q, p.processor, 1);
      expect(await q.stats()).toEqual({ queued: 0, running: 0, slots: 3, maxQueued: 5 });
      const handles: JobHandle[] = [];
      for (let i = 0; i < 5; i++) handles.push(await q.enqueue(makeJob()));
      await Promise.all([0, 1, 2].map((i) => handles[i]!.started));
      expect(await q.stats()).toEqual({ queued: 2, running: 3, slots: 3, maxQueued: 5 });
      for (let i = 0; i < 5; i++) (await p.nth(i)).finish();
      await Promise.all(handles.map((h) => h.result));
      expect(await q.stats()).toEqual({ queued: 0, running: 0, slots: 3, maxQueued: 5 });
      expect(p.maxActive).toBe(3);
    });

    it('rejections nobody observes (started, result) are not unhandled', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        // Each outcome is awaited through a later job only: the handles' own promises are never touched.
        const q = await queue({ waitTimeoutMs: 30 });
        const cancelled = await q.enqueue(makeJob());
        cancelled.cancel(errors.clientClosed());
        const timedOut = await q.enqueue(makeJob()); // no worker yet
        const probe = await q.enqueue(makeJob()); // same deadline, enqueued later
        expect((await rejection(probe.result)).code).toBe('QUEUE_TIMEOUT');
        const failing = makeJob();
        work(q, async (job) => {
          if (job.id === failing.id) throw new Error('boom');
          return resultFor(job);
        });
        // These two must not time out: only the first three jobs' deadline is short (a loaded machine can
        // take longer than 30 ms to finish the failing job before the sentinel starts).
        const failed = await q.enqueue(failing, { waitTimeoutMs: 60_000 });
        const sentinel = await q.enqueue(makeJob(), { waitTimeoutMs: 60_000 }); // one slot: starts once the failing job is over
        await sentinel.result;
        void [cancelled, timedOut, failed];
        await settle();
        await settle();
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });
  });
}
