/**
 * A Server-Sent Events reader (the text/event-stream format of the HTML standard): lines ending in LF, CR
 * or CRLF; `event:`, `data:` (several join with LF), `id:`, `retry:` fields; `:` comments; a blank line
 * dispatches. Works on any `ReadableStream<Uint8Array>` (fetch bodies in Node and in browsers).
 */

export interface SseMessage {
  /** The `event:` field; "message" when absent. */
  event: string;
  data: string;
  id?: string;
}

/** The messages of an event stream, as they arrive. Cancelling the iteration cancels the body. */
export async function* readEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  let finished = false;

  /** One line: a message when it is the blank line that ends one. */
  const line = (text: string): SseMessage | null => {
    if (text === '') {
      // A blank line without data dispatches nothing.
      const message: SseMessage | null =
        data.length === 0 ? null : { event: event || 'message', data: data.join('\n'), ...(id !== undefined ? { id } : {}) };
      event = '';
      data = [];
      return message;
    }
    if (text.startsWith(':')) return null;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) id = value;
    return null;
  };

  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // Complete lines only; a CR at the very end may be the first half of a CRLF split across chunks.
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer[i];
        if (c !== '\n' && c !== '\r') continue;
        if (c === '\r' && i === buffer.length - 1 && !done) break;
        const message = line(buffer.slice(start, i));
        if (c === '\r' && buffer[i + 1] === '\n') i++;
        start = i + 1;
        if (message) yield message;
      }
      buffer = buffer.slice(start);
      if (done) break;
    }
    // A message not ended by a blank line is not dispatched (the stream broke off in the middle of it).
    finished = true;
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
