/**
 * A JobContext for running a job in this process without a queue (the CLI, self-tests, the library API):
 * events go to one listener, control messages are pushed by the caller.
 */
import type { ExecutionControl, ExecutionEvent } from '../contract/events.js';
import type { JobContext } from '../queue/types.js';

export class LocalJobContext implements JobContext {
  private listener?: (message: ExecutionControl) => void;
  private readonly early: ExecutionControl[] = [];

  constructor(
    readonly signal: AbortSignal = new AbortController().signal,
    private readonly onEvent?: (event: ExecutionEvent) => void,
  ) {}

  emit(event: ExecutionEvent): void {
    this.onEvent?.(event);
  }

  onControl(listener: (message: ExecutionControl) => void): void {
    this.listener = listener;
    for (const message of this.early.splice(0)) listener(message);
  }

  control(message: ExecutionControl): void {
    if (this.listener) this.listener(message);
    else this.early.push(message);
  }
}
