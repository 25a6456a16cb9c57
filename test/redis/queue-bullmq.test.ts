/**
 * The queue conformance suite (test/unit/queue-conformance.ts) against the BullMQ queue on a real Redis
 * server (test/helpers/redis.ts). Each queue gets a key prefix of its own, removed after its test.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BullQueue } from '../../src/queue/bullmq-queue.js';
import { makeJob, queueConformance, resultFor } from '../unit/queue-conformance.js';
import { sharedRedis, uniquePrefix, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await sharedRedis();
});
afterAll(async () => {
  await redis.stop();
});

queueConformance(
  'BullQueue (Redis)',
  (o) => new BullQueue({ url: redis.url, prefix: uniquePrefix('conf'), ...o, worker: { pollMs: 200, heartbeatMs: 1_000 } }),
  async (q) => {
    const bull = q as BullQueue;
    await bull.disconnect();
    const admin = new Redis(redis.url);
    const keys = await admin.keys(`${bull.prefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
  },
);

describe('BullQueue beyond the common interface', () => {
  const queues: BullQueue[] = [];
  const make = (o: Partial<ConstructorParameters<typeof BullQueue>[0]> = {}) => {
    const q = new BullQueue({ url: redis.url, prefix: uniquePrefix('extra'), maxQueued: 10, waitTimeoutMs: 5_000, worker: { pollMs: 200, heartbeatMs: 1_000 }, ...o });
    queues.push(q);
    return q;
  };
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.disconnect();
  });

  it('a worker takes only jobs of the runtimes it has, and a job no worker can run waits', async () => {
    const q = make();
    const ran: Record<string, string[]> = { bashOnly: [], pythonOnly: [] };
    const closers = [
      q.work(async (job) => (ran.bashOnly!.push(job.runtime.name), resultFor(job)), { concurrency: 2, runtimes: ['bash'] }),
      q.work(async (job) => (ran.pythonOnly!.push(job.runtime.name), resultFor(job)), { concurrency: 2, runtimes: ['python'] }),
    ];
    const jobs = [0, 1, 2, 3, 4, 5].map((i) => makeJob({ runtime: { name: i % 2 ? 'bash' : 'python', version: '1' } }));
    const handles = await Promise.all(jobs.map((j) => q.enqueue(j)));
    const kotlin = await q.enqueue(makeJob({ runtime: { name: 'kotlin', version: '2' } }), { waitTimeoutMs: 300 });
    await Promise.all(handles.map((h) => h.result));
    expect(ran.bashOnly).toEqual(['bash', 'bash', 'bash']);
    expect(ran.pythonOnly).toEqual(['python', 'python', 'python']);
    await expect(kotlin.result).rejects.toMatchObject({ code: 'QUEUE_TIMEOUT' });
    await Promise.all(closers.map((w) => w.close()));
  });

  it('the registry lists live workers with their counts; an outcome is readable by id from another queue object', async () => {
    const q = make();
    const w = q.work(async (job) => resultFor(job), { concurrency: 3, runtimes: ['python'], catalogue: [{ name: 'python' }] });
    const job = makeJob();
    await (await q.enqueue(job)).result;
    const other = new BullQueue({ url: redis.url, prefix: q.prefix, maxQueued: 10, waitTimeoutMs: 5_000 });
    queues.push(other);
    expect(await other.lookup(job.id)).toMatchObject({ tenant: job.tenantId, state: 'completed', result: resultFor(job) });
    expect(await other.lookup('no-such-job')).toBeUndefined();
    expect(await other.catalogues()).toEqual([[{ name: 'python' }]]);
    const [info] = await other.workerList();
    expect(info).toMatchObject({ slots: 3, runtimes: ['python'], busy: 0, completed: 1, failed: 0 });
    await w.close();
    expect(await other.workerList()).toEqual([]);
  });
});
