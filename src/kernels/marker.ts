/**
 * The host's side of the cell protocol's end markers, pure. A driver ends a cell by writing "\x1e<id>\n" on
 * stderr, then "\x1e<id> <json>\n" on stdout, where <id> is the random id the host gave the cell. A
 * MarkerScanner watches one stream: bytes before the marker are the cell's output (released as soon as
 * they cannot be the start of the marker), the line after it is the driver's reply.
 */
export class MarkerScanner {
  private readonly marker: Buffer;
  private held = Buffer.alloc(0);
  private after: Buffer | null = null;
  private line: string | null = null;

  constructor(id: string) {
    this.marker = Buffer.from(`\x1e${id}`, 'utf8');
  }

  /** Take a chunk; returns the bytes of it that are the cell's output (possibly empty). */
  push(chunk: Buffer): Buffer {
    if (this.line !== null) return Buffer.alloc(0); // the cell is over: later bytes are not its output
    if (this.after !== null) {
      this.takeReply(chunk);
      return Buffer.alloc(0);
    }
    const data = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const at = data.indexOf(this.marker);
    if (at >= 0) {
      this.held = Buffer.alloc(0);
      this.after = Buffer.alloc(0);
      this.takeReply(data.subarray(at + this.marker.length));
      return data.subarray(0, at);
    }
    const keep = this.partialMarkerAtEnd(data);
    this.held = Buffer.from(data.subarray(data.length - keep));
    return data.subarray(0, data.length - keep);
  }

  /** Whether the marker's line has arrived whole. */
  get complete(): boolean {
    return this.line !== null;
  }

  /** What followed the marker on its line (without the newline), once complete. */
  get reply(): string | null {
    return this.line;
  }

  private takeReply(bytes: Buffer): void {
    this.after = Buffer.concat([this.after ?? Buffer.alloc(0), bytes]);
    const nl = this.after.indexOf(0x0a);
    if (nl >= 0) this.line = this.after.subarray(0, nl).toString('utf8');
  }

  /** Length of the longest suffix of `data` that is a proper prefix of the marker. */
  private partialMarkerAtEnd(data: Buffer): number {
    for (let n = Math.min(this.marker.length - 1, data.length); n > 0; n--) {
      if (data.subarray(data.length - n).equals(this.marker.subarray(0, n))) return n;
    }
    return 0;
  }
}
