/**
 * Server-Sent Events framing. Written here rather than taken from a plugin: a frame is two lines, and the
 * stream's life (when headers go out, what ends it) belongs to the execution route, not to a library.
 */
import type { FastifyRequest } from 'fastify';

export function wantsEventStream(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return typeof accept === 'string' && accept.toLowerCase().includes('text/event-stream');
}

/** One event: its name and a JSON payload on one `data:` line (JSON never holds a raw newline). */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
