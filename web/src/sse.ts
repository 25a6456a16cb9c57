/**
 * Server-Sent Events framing, for a fetch() response body (EventSource cannot POST or send headers).
 * A frame is lines up to a blank line: `event: NAME`, one or more `data: ...` (joined with newlines);
 * comment lines (`:`) and other fields are ignored.
 */
export interface SseFrame {
  event: string;
  data: string;
}

export class SseParser {
  private buffer = '';

  constructor(private readonly onFrame: (frame: SseFrame) => void) {}

  /** Text as it arrives; complete frames are handed out at once, a partial one waits for the rest. */
  push(text: string): void {
    this.buffer = (this.buffer + text).replace(/\r\n/g, '\n');
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      this.frame(block);
    }
  }

  /** The stream ended: a last frame without its blank line still counts. */
  end(): void {
    if (this.buffer.trim() !== '') this.frame(this.buffer);
    this.buffer = '';
  }

  private frame(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) this.onFrame({ event, data: data.join('\n') });
  }
}
