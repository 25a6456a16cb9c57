/**
 * Control messages (stdin, end of input, signals) for the stages of one run: an execution's (the runner)
 * or a session exec's. Pure routing, no I/O of its own: it holds what arrives early and hands it to the
 * stage that is running.
 */
import type { ExecutionControl, StageName } from '../contract/events.js';
import type { RunningStage } from '../sandbox/sandbox.js';

/**
 * Control messages for the stages of one execution. Stdin belongs to the run stage: bytes sent before it
 * starts (while queued or compiling) wait here, up to the request's stdin bound; beyond it they are
 * dropped, as a program that never reads would otherwise make polyrun hold them. A signal goes to the
 * stage running when it arrives.
 */
export class StageControls {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private inputEnded = false;
  private current?: RunningStage;
  private runStage?: RunningStage;

  constructor(private readonly maxPendingBytes: number) {}

  handle(message: ExecutionControl): void {
    if (message.type === 'signal') {
      this.current?.sendSignal(message.signal);
    } else if (message.type === 'stdin_end') {
      this.inputEnded = true;
      this.runStage?.endInput();
    } else if (this.runStage) {
      this.runStage.write(Buffer.from(message.data, 'base64'));
    } else {
      const data = Buffer.from(message.data, 'base64');
      if (this.pendingBytes + data.length > this.maxPendingBytes) return;
      this.pending.push(data);
      this.pendingBytes += data.length;
    }
  }

  attach(running: RunningStage, stage: StageName): void {
    this.current = running;
    if (stage !== 'run') return;
    this.runStage = running;
    for (const data of this.pending.splice(0)) running.write(data);
    this.pendingBytes = 0;
    if (this.inputEnded) running.endInput();
  }

  detach(): void {
    this.current = undefined;
    this.runStage = undefined;
  }
}
