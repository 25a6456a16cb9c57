/**
 * FrameChannel: the host's side of the frame protocol with one sandbox's polyrun-init, over the OCI
 * runtime process's stdio (fd 0 and fd 1 of the container's first process; the runtime's own messages
 * arrive on its stderr).
 *
 * It decodes frames and routes them: 'H' to the hello wait, 'D' (and 'N' while a request waits) to the
 * oldest request, everything else ('O', 'E', 'X', and an 'N' about a run frame) to the current stage
 * listener. Requests ('F', 'G', 'L', 'U') are answered in order, between stages and while one runs (a
 * session's files stay reachable while its kernel runs). An 'N' answering a malformed run frame (which
 * the host's encoder never produces) would be taken for a waiting request's answer.
 */
import { FRAME, FrameDecoder, type Frame } from './protocol.js';
import type { SandboxProcess } from './oci.js';

/** What the running stage receives from the channel. */
export interface StageListener {
  frame(frame: Frame): void;
  /** The channel closed (the container ended) while the stage was running. */
  closed(): void;
}

type Waiter = { resolve: (f: Frame) => void; reject: (e: Error) => void };

const RUNTIME_STDERR_MAX = 8192;

export class FrameChannel {
  private readonly decoder = new FrameDecoder();
  private readonly replies: Waiter[] = [];
  private helloWaiter?: Waiter;
  private stage?: StageListener;
  private readonly closedListeners: (() => void)[] = [];
  private stderrText = '';
  private isOpen = true;
  /** Resolves when the runtime process has exited and its stdio is closed. */
  readonly exited: Promise<void>;

  constructor(
    private readonly proc: SandboxProcess,
    /** Names the runtime in error messages. */
    private readonly runtimeName: string,
  ) {
    proc.stdin.on('error', () => undefined); // EPIPE once the container is gone: the stdout side reports it
    proc.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    proc.stdout.on('close', () => this.onClosed());
    proc.stderr.on('data', (chunk: Buffer) => {
      if (this.stderrText.length < RUNTIME_STDERR_MAX) this.stderrText += chunk.toString('utf8');
    });
    this.exited = new Promise<void>((resolve) => proc.on('close', () => resolve()));
  }

  /** Whether frames can still be sent (init's stdout has not closed). */
  get open(): boolean {
    return this.isOpen;
  }

  /** What the runtime wrote on its stderr (bounded), trimmed. */
  get runtimeStderr(): string {
    return this.stderrText.trim();
  }

  /** Bytes handed to the runtime's stdin that the pipe has not taken yet. */
  get backlogBytes(): number {
    return this.proc.stdin.writableLength;
  }

  /** Resolves on polyrun-init's hello; rejects if the runtime fails, the channel closes, or on timeout. */
  async hello(timeoutMs: number): Promise<void> {
    const hello = new Promise<Frame>((resolve, reject) => (this.helloWaiter = { resolve, reject }));
    const failed = new Promise<never>((_, reject) => {
      this.proc.on('error', reject);
      this.proc.on('exit', (code) =>
        reject(new Error(`${this.runtimeName} could not start the sandbox (exit ${code}): ${this.runtimeStderr}`)),
      );
    });
    failed.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('sandbox did not become ready in time')), timeoutMs);
    });
    try {
      await Promise.race([hello, failed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Write frames to init; throws when the channel is closed. */
  send(...frames: Buffer[]): void {
    if (!this.isOpen) throw new Error('sandbox is not running');
    for (const frame of frames) this.proc.stdin.write(frame);
  }

  /** Send a request frame ('F', 'G', 'L', 'U') and wait for its answer ('D' or 'N'). */
  request(frame: Buffer): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      this.replies.push({ resolve, reject });
      try {
        this.send(frame);
      } catch (err) {
        this.replies.pop();
        reject(err as Error);
      }
    });
  }

  /** Route stage frames to `listener` until `endStage`. One stage at a time. */
  beginStage(listener: StageListener): void {
    if (this.stage) throw new Error('a stage is already running');
    this.stage = listener;
  }

  endStage(listener: StageListener): void {
    if (this.stage === listener) this.stage = undefined;
  }

  get stageRunning(): boolean {
    return this.stage !== undefined;
  }

  /** Called once when the channel closes. */
  onClose(listener: () => void): void {
    if (this.isOpen) this.closedListeners.push(listener);
    else listener();
  }

  /** Close init's stdin: polyrun-init exits at EOF, and the runtime removes the container. */
  end(): void {
    this.proc.stdin.end();
  }

  private onData(chunk: Buffer): void {
    for (const frame of this.decoder.push(chunk)) {
      if (frame.type === FRAME.hello && this.helloWaiter) {
        this.helloWaiter.resolve(frame);
        this.helloWaiter = undefined;
      } else if (frame.type === FRAME.data || (frame.type === FRAME.error && this.replies.length > 0)) {
        this.replies.shift()?.resolve(frame);
      } else {
        this.stage?.frame(frame);
      }
    }
  }

  private onClosed(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    const err = new Error(`sandbox channel closed${this.runtimeStderr ? `: ${this.runtimeStderr}` : ''}`);
    this.helloWaiter?.reject(err);
    this.helloWaiter = undefined;
    for (const w of this.replies.splice(0)) w.reject(err);
    this.stage?.closed();
    for (const listener of this.closedListeners.splice(0)) listener();
  }
}
