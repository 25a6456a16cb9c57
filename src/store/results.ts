/**
 * Asynchronous executions and their results, in memory: bounded by entry count and by a TTL counted from
 * completion. Pending entries (queued/running) are never evicted; their number is bounded by the queue.
 * Readers may wait for completion (long-poll) without polling.
 */
import type { ExecutionResult } from '../contract/result.js';

export type FinalRecord =
  | (ExecutionResult & { id: string })
  | { id: string; status: 'error'; error: { code: string; message: string; details?: unknown } };

export type ExecutionView = { id: string; status: 'queued' | 'running' } | FinalRecord;

interface Entry {
  id: string;
  tenant: string;
  state: 'queued' | 'running' | 'done';
  final?: FinalRecord;
  expiresAt: number;
  waiters: Set<() => void>;
}

export interface ResultStoreOptions {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

export class ResultStore {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly options: ResultStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  create(id: string, tenant: string): void {
    this.prune();
    this.entries.set(id, { id, tenant, state: 'queued', expiresAt: Infinity, waiters: new Set() });
  }

  markRunning(id: string): void {
    const e = this.entries.get(id);
    if (e && e.state === 'queued') e.state = 'running';
  }

  complete(id: string, final: FinalRecord): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.state = 'done';
    e.final = final;
    e.expiresAt = this.now() + this.options.ttlMs;
    // Re-insert so the Map's order is completion order: eviction then drops the oldest results first.
    this.entries.delete(id);
    this.entries.set(id, e);
    for (const wake of e.waiters) wake();
    e.waiters.clear();
    this.prune();
  }

  /** The view of an execution, or undefined when unknown, expired or owned by another tenant. */
  get(id: string, tenant: string): ExecutionView | undefined {
    const e = this.entries.get(id);
    if (!e || e.tenant !== tenant) return undefined;
    if (e.state === 'done') {
      if (e.expiresAt <= this.now()) {
        this.entries.delete(id);
        return undefined;
      }
      return e.final!;
    }
    return { id, status: e.state };
  }

  /** Like get, but waits up to `waitMs` for the execution to finish. */
  async wait(id: string, tenant: string, waitMs: number): Promise<ExecutionView | undefined> {
    const e = this.entries.get(id);
    if (e && e.tenant === tenant && e.state !== 'done' && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          e.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, waitMs);
        e.waiters.add(wake);
      });
    }
    return this.get(id, tenant);
  }

  private prune(): void {
    const now = this.now();
    let finished = 0;
    for (const e of this.entries.values()) if (e.state === 'done') finished++;
    for (const [id, e] of this.entries) {
      if (e.state !== 'done') continue;
      if (e.expiresAt <= now || finished > this.options.maxEntries) {
        this.entries.delete(id);
        finished--;
      }
    }
  }
}
