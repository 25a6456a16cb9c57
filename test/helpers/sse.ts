/** Reading Server-Sent Events in tests: parse a whole body, or read a live response frame by frame. */

export interface SseEvent {
  event: string;
  data: unknown;
  /** performance.now() when the frame was read (live reads only). */
  at?: number;
}

export function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      return { event, data: JSON.parse(data) as unknown };
    });
}

/** Every frame of a streaming fetch response, each stamped with the time it arrived. */
export async function readSse(body: ReadableStream<Uint8Array>): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const [frame] = parseSse(buffered.slice(0, end + 2));
      buffered = buffered.slice(end + 2);
      if (frame) events.push({ ...frame, at: performance.now() });
    }
  }
  return events;
}
