/**
 * The one worker of a single-process service, described like a cluster worker (GET /v1/workers): a job
 * processor wrapped to count what it ran.
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { JobProcessor } from '../queue/types.js';
import type { WorkerRecord } from './workers-route.js';

export function countingWorker(processor: JobProcessor, o: { slots: number; runtimes: () => string[]; host?: string; now?: () => number }) {
  const now = o.now ?? Date.now;
  const record = { id: randomUUID(), host: o.host ?? os.hostname(), pid: process.pid, startedAt: now(), busy: 0, completed: 0, failed: 0 };
  const counted: JobProcessor = async (job, context) => {
    record.busy++;
    try {
      const result = await processor(job, context);
      record.completed++;
      return result;
    } catch (err) {
      record.failed++;
      throw err;
    } finally {
      record.busy--;
    }
  };
  return {
    processor: counted,
    list: async (): Promise<WorkerRecord[]> => [{ ...record, runtimes: o.runtimes(), slots: o.slots, lastSeen: now() }],
  };
}
