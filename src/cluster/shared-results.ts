/**
 * Async results in a cluster: each API node keeps its own ResultStore for the executions it started (with
 * waiters, no polling); an id it does not know is looked up in Redis, where BullMQ keeps every job's
 * outcome for resultTtlMs. So a result is readable by id from any API node, also when the node that took
 * the request died before the job finished (the worker still finished it and stored the outcome).
 *
 * A long-poll (?wait=MS) on a job another node started re-reads Redis every `pollMs` until it finished or
 * the wait is over: a fallback path, not the common one.
 */
import type { BullQueue } from '../queue/bullmq-queue.js';
import { ResultStore, type ExecutionView, type ResultStoreOptions } from '../store/results.js';

const QUEUED_STATES = new Set(['waiting', 'prioritized', 'delayed', 'waiting-children']);

/** A job's view from Redis, for its tenant only (another tenant's id reads as unknown). */
export async function clusterView(queue: BullQueue, id: string, tenant: string): Promise<ExecutionView | undefined> {
  const found = await queue.lookup(id);
  if (!found || found.tenant !== tenant) return undefined;
  if (found.result) return { id, ...found.result };
  if (found.error) return { id, status: 'error', error: found.error.toJSON().error };
  if (found.state === 'active') return { id, status: 'running' };
  if (QUEUED_STATES.has(found.state)) return { id, status: 'queued' };
  return undefined;
}

export class SharedResults extends ResultStore {
  constructor(
    options: ResultStoreOptions,
    private readonly cluster: (id: string, tenant: string) => Promise<ExecutionView | undefined>,
    private readonly pollMs = 250,
  ) {
    super(options);
  }

  override async wait(id: string, tenant: string, waitMs: number): Promise<ExecutionView | undefined> {
    const local = await super.wait(id, tenant, waitMs);
    if (local) return local;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const view = await this.cluster(id, tenant).catch(() => undefined);
      const pending = view && 'status' in view && (view.status === 'queued' || view.status === 'running');
      const left = deadline - Date.now();
      if (!pending || left <= 0) return view;
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.pollMs, left)));
    }
  }
}
