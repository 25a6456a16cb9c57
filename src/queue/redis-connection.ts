/**
 * ioredis connections for the BullMQ queue. Two kinds:
 * - `commands` on API nodes: no offline queue, so that while Redis is down a request fails at once with
 *   QUEUE_UNAVAILABLE instead of hanging until Redis returns;
 * - `worker` on worker nodes (and subscribers): retry forever (BullMQ's requirement for workers), so that a
 *   worker simply carries on when Redis is back.
 * Both reconnect by themselves, with a capped backoff.
 */
import { Redis, type RedisOptions } from 'ioredis';

export type ConnectionKind = 'commands' | 'worker' | 'subscriber';

const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2_000);

export function connect(url: string, kind: ConnectionKind): Redis {
  const options: RedisOptions = {
    retryStrategy,
    maxRetriesPerRequest: kind === 'commands' ? 1 : null,
    enableOfflineQueue: kind !== 'commands',
    // The first connection is made lazily by the first command, so constructing never throws or logs.
    lazyConnect: false,
    connectionName: `polyrun-${kind}`,
  };
  const client = new Redis(url, options);
  // ioredis reports connection errors as 'error' events; unhandled they would crash the process. The
  // owner reads `status` for health (/readyz), so the event itself needs no handling.
  client.on('error', () => undefined);
  return client;
}

/** Whether a failed Redis call means "Redis is unreachable" (as opposed to a bug or a script error). */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return /Connection is closed|Stream isn't writeable|enableOfflineQueue|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|MaxRetriesPerRequest|Reached the max retries|connect ENOENT/i.test(
    err.message,
  );
}
