/**
 * Every Redis key and channel the BullMQ queue uses, in one place (pure). All live under one prefix, so
 * several polyrun clusters (or test runs) can share a Redis server without seeing each other.
 *
 * - one BullMQ queue per runtime name (`run.<runtime>`): a worker only fetches from the queues of the
 *   runtimes it has, so a worker without Kotlin never takes a Kotlin job;
 * - `<prefix>:pr:runtimes` (set): the runtime queues that ever had a job, for stats and "all runtimes" workers;
 * - `<prefix>:pr:workers` (hash): worker id -> its registry entry (WorkerInfo JSON), refreshed by heartbeat;
 * - channels: `pr:wake` (a job was added; payload: its queue), `pr:ev:<id>` (worker -> API node: started,
 *   events, result), `pr:ctl:<id>` (API node -> worker: control messages, cancel).
 */

export const DEFAULT_PREFIX = 'polyrun';

/** BullMQ queue names may not contain ':'; runtime names are [a-z0-9+#.-] but anything odd is escaped. */
export function runtimeQueueName(runtime: string): string {
  return `run.${encodeURIComponent(runtime).replace(/:/g, '%3A')}`;
}

export function runtimeOfQueue(queueName: string): string {
  return decodeURIComponent(queueName.slice('run.'.length));
}

export function names(prefix: string) {
  return {
    runtimes: `${prefix}:pr:runtimes`,
    workers: `${prefix}:pr:workers`,
    /** worker id -> the runtimes it offers, as RuntimeInfo JSON (API nodes validate requests against it). */
    catalogues: `${prefix}:pr:catalogues`,
    wake: `${prefix}:pr:wake`,
    events: (jobId: string) => `${prefix}:pr:ev:${jobId}`,
    control: (jobId: string) => `${prefix}:pr:ctl:${jobId}`,
    /** execution id -> {queue, tenant}: lets any node find a job (and check its owner) by id alone. */
    job: (jobId: string) => `${prefix}:pr:job:${jobId}`,
    /** Prefix of the event channels, to recover the job id from a message's channel. */
    eventsPrefix: `${prefix}:pr:ev:`,
    controlPrefix: `${prefix}:pr:ctl:`,
  };
}

/** What travels on a job's event channel, worker -> API node, in order. */
export type WorkerMessage =
  | { t: 'started'; attempt: number; worker: string }
  | { t: 'event'; e: unknown }
  | { t: 'result'; r: unknown }
  | { t: 'error'; e: { code?: unknown; message?: unknown; details?: unknown } };

/** What travels on a job's control channel, API node -> worker. */
export type ControlMessage = { t: 'control'; m: unknown } | { t: 'cancel'; reason: { code?: unknown; message?: unknown; details?: unknown } };

/** A worker's entry in the registry (GET /v1/workers). */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  /** Runtime names this worker takes; ["*"] for any. */
  runtimes: string[];
  slots: number;
  busy: number;
  completed: number;
  failed: number;
  startedAt: number;
  lastSeen: number;
}

/** A worker whose heartbeat is older than this many intervals is taken for dead (its slots no longer count). */
export const HEARTBEAT_LIVES = 3;
