/**
 * The queue conformance suite (test/unit/queue-conformance.ts) against the BullMQ queue on a real Redis
 * server (test/helpers/redis.ts). Each queue gets a key prefix of its own, removed after its test.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { BullQueue } from '../../src/queue/bullmq-queue.js';
import { queueConformance } from '../unit/queue-conformance.js';
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
