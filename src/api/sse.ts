/**
 * Server-Sent Events framing. Written here rather than taken from a plugin: a frame is two lines, and the
 * stream's life (when headers go out, what ends it) belongs to the execution route, not to a library.
 */
import { PassThrough } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ExecutionEvent } from '../contract/events.js';
import type { ExecutionResult } from '../contract/result.js';
import { httpError } from './errors.js';

export function wantsEventStream(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return typeof accept === 'string' && accept.toLowerCase().includes('text/event-stream');
}

/** One event: its name and a JSON payload on one `data:` line (JSON never holds a raw newline). */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export interface EventStream {
  send(event: ExecutionEvent): void;
  /**
   * Write `result` when `done` resolves or `error` when it rejects, call `beforeEnd` with the result (null
   * on error), then end the stream.
   */
  finish<T extends ExecutionResult>(done: Promise<T>, beforeEnd?: (result: T | null) => void): void;
}

/** Answer `reply` with Server-Sent Events from now on. */
export function openEventStream(reply: FastifyReply): EventStream {
  const stream = new PassThrough();
  reply
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache')
    .header('x-accel-buffering', 'no')
    .send(stream);
  const send = (event: ExecutionEvent) => void stream.write(sseFrame(event.type, event));
  return {
    send,
    finish: (done, beforeEnd) => {
      done
        .then(
          (result) => {
            send({ type: 'result', result });
            return result;
          },
          (err: unknown) => {
            stream.write(sseFrame('error', httpError(err).toJSON()));
            return null;
          },
        )
        .then((result) => beforeEnd?.(result))
        .finally(() => stream.end());
    },
  };
}
