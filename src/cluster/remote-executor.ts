/**
 * The executor of an API node (`serve --role api`): it runs nothing itself. Its runtime catalogue is the
 * union of what the live workers published in Redis (refreshed every `refreshMs`), so a request is
 * validated against runtimes some worker really has; its health is Redis's. `run` is never called (the API
 * node starts no queue worker) and says so if it is.
 */
import { errors } from '../contract/errors.js';
import type { ExecutionJob } from '../contract/job.js';
import type { ExecutionResult } from '../contract/result.js';
import type { Executor, ExecutorHealth, RuntimeInfo } from '../executor/types.js';
import type { BullQueue } from '../queue/bullmq-queue.js';
import { versionMatches } from '../runtimes/catalogue.js';

/** Name or alias first, then file extension, case-insensitive: the same rule as the manifests' findManifest. */
export function findInfo(runtimes: readonly RuntimeInfo[], language: string, version?: string): RuntimeInfo | undefined {
  const key = language.trim().toLowerCase();
  if (key === '') return undefined;
  const named = runtimes.filter((r) => r.name.toLowerCase() === key || r.aliases.some((a) => a.toLowerCase() === key));
  const ext = key.startsWith('.') ? key : `.${key}`;
  const candidates = named.length > 0 ? named : runtimes.filter((r) => r.extensions.some((e) => e.toLowerCase() === ext));
  return candidates.find((r) => versionMatches(r.version, version));
}

/** One entry per runtime name and version, whichever worker published it first. */
export function unionOfCatalogues(catalogues: readonly unknown[][]): RuntimeInfo[] {
  const seen = new Map<string, RuntimeInfo>();
  for (const list of catalogues) {
    for (const info of list as RuntimeInfo[]) {
      const key = `${info.name}@${info.version}`;
      if (!seen.has(key)) seen.set(key, info);
    }
  }
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
}

export class RemoteExecutor implements Executor {
  private known: RuntimeInfo[] = [];
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly queue: BullQueue,
    refreshMs: number,
  ) {
    this.timer = setInterval(() => void this.refresh(), refreshMs);
    this.timer.unref();
  }

  static async create(queue: BullQueue, refreshMs = 2_000): Promise<RemoteExecutor> {
    const executor = new RemoteExecutor(queue, refreshMs);
    await executor.refresh();
    return executor;
  }

  /** Re-read the live workers' catalogues; keeps the last one while Redis is unreachable. */
  async refresh(): Promise<void> {
    try {
      this.known = unionOfCatalogues(await this.queue.catalogues());
    } catch {
      // Redis down: health() says so; validation keeps the last known runtimes.
    }
  }

  runtimes(): RuntimeInfo[] {
    return this.known;
  }

  findRuntime(language: string, version?: string): RuntimeInfo | undefined {
    return findInfo(this.known, language, version);
  }

  health(): ExecutorHealth {
    if (!this.queue.connected) return { ready: false, detail: 'the job queue (Redis) cannot be reached' };
    if (this.known.length === 0) return { ready: false, detail: 'no worker has registered yet' };
    return { ready: true, detail: `${this.known.length} runtimes offered by the workers` };
  }

  run(_job: ExecutionJob): Promise<ExecutionResult> {
    return Promise.reject(errors.internal('an API node runs no jobs itself'));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}

/** A worker-side executor whose health also needs Redis (`--role all` with redis.url). */
export function withQueueHealth<E extends Executor>(executor: E, queue: BullQueue): E {
  return new Proxy(executor, {
    get(target, prop, receiver) {
      if (prop === 'health') {
        return (): ExecutorHealth =>
          queue.connected ? target.health() : { ready: false, detail: 'the job queue (Redis) cannot be reached' };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
