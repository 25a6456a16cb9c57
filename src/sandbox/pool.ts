/**
 * Warm pool: sandboxes started ahead of time, so the request path only hands over files and the command.
 *
 * Every pooled sandbox is started with the pool's shape (the service's maximum bounds); a stage's own
 * limits are written to its cgroup and rlimits just before the stage starts, so one pool serves every
 * runtime and every request. Each sandbox is used for exactly one execution and then destroyed: nothing is
 * ever shared between executions.
 *
 * Sizing: the pool aims at `target` ready sandboxes, between `minSize` and `maxSize`. A take that finds the
 * pool empty (a miss) raises the target; a full idle period lowers it. Refills start when an execution
 * ends (never on the path of the one that took the sandbox), run one at a time, wait
 * while every execution slot is busy, and start sandboxes in the background (low-priority runtime, minimal
 * CPU share until taken), so preparing sandboxes does not compete with running programs for CPU.
 */
import { Sandbox, type SandboxShape } from './sandbox.js';
import type { SandboxHost } from './host.js';

export interface PoolOptions {
  minSize: number;
  maxSize: number;
  /** Starting target; defaults to minSize. */
  initialSize?: number;
  /** Lower the target by one after this long without a miss. */
  shrinkAfterMs: number;
}

export const DEFAULT_POOL_OPTIONS: PoolOptions = { minSize: 1, maxSize: 8, shrinkAfterMs: 30_000 };

export interface PoolStats {
  ready: number;
  target: number;
  hits: number;
  misses: number;
  startFailures: number;
}

export class SandboxPool {
  private readonly ready: Sandbox[] = [];
  private target: number;
  private refilling?: Promise<void>;
  private readyWaiters: (() => void)[] = [];
  private closed = false;
  private lastMiss = Date.now();
  private shrinkTimer: NodeJS.Timeout;
  private wake?: () => void;
  readonly stats = { hits: 0, misses: 0, startFailures: 0 };

  constructor(
    private readonly host: SandboxHost,
    readonly shape: SandboxShape,
    private readonly options: PoolOptions,
    /** True while every execution slot is busy: refills wait until it is false. */
    private readonly busy: () => boolean,
    private readonly onError: (err: Error) => void = () => undefined,
    /** Receives every removal the pool starts itself, so the owner can wait for them (settle). */
    private readonly track: (cleanup: Promise<void>) => void = (cleanup) => void cleanup,
  ) {
    this.target = Math.min(options.maxSize, Math.max(options.minSize, options.initialSize ?? options.minSize));
    this.shrinkTimer = setInterval(() => this.maybeShrink(), Math.max(1000, options.shrinkAfterMs / 2));
    this.shrinkTimer.unref();
    this.refill();
  }

  /** A started, unused sandbox whose shape covers `need`, or undefined (the caller starts a cold one). */
  take(need: SandboxShape): Sandbox | undefined {
    if (!covers(this.shape, need)) return undefined;
    while (this.ready.length > 0) {
      const sandbox = this.ready.shift()!;
      if (sandbox.running) {
        try {
          sandbox.promote();
        } catch (err) {
          this.onError(err as Error);
          this.track(sandbox.destroy());
          continue;
        }
        this.stats.hits++;
        return sandbox;
      }
      this.track(sandbox.destroy());
    }
    this.stats.misses++;
    this.lastMiss = Date.now();
    this.target = Math.min(this.options.maxSize, this.target + 1);
    return undefined;
  }

  /**
   * Called when an execution ends. Refills start here, not at `take()`: starting a sandbox spawns the
   * runtime from this event loop, which would otherwise delay the very execution that took the sandbox.
   */
  executionFinished(): void {
    this.wake?.();
    this.refill();
  }

  snapshot(): PoolStats {
    return { ready: this.ready.length, target: this.target, ...this.stats };
  }

  /** Resolves when the pool holds its target (tests and benchmarks use it to start from a warm state). */
  async warm(timeoutMs = 30_000): Promise<boolean> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      for (const w of this.readyWaiters.splice(0)) w();
    }, timeoutMs);
    this.refill();
    while (this.ready.length < this.target && !timedOut && this.refilling) {
      await new Promise<void>((resolve) => this.readyWaiters.push(resolve));
    }
    clearTimeout(timer);
    return this.ready.length >= this.target;
  }

  private maybeShrink(): void {
    if (Date.now() - this.lastMiss < this.options.shrinkAfterMs) return;
    if (this.target <= this.options.minSize) return;
    this.target--;
    this.lastMiss = Date.now();
    const extra = this.ready.length > this.target ? this.ready.pop() : undefined;
    if (extra) this.track(extra.destroy());
  }

  private refill(): void {
    if (this.refilling || this.closed || this.ready.length >= this.target) return;
    this.refilling = (async () => {
      // Yield first: `finally` below must run after `this.refilling` is assigned, never before.
      await null;
      try {
        while (!this.closed && this.ready.length < this.target) {
          while (this.busy() && !this.closed) {
            await new Promise<void>((resolve) => (this.wake = resolve));
          }
          if (this.closed) break;
          try {
            const sandbox = await Sandbox.start(this.host, this.shape, { background: true });
            if (this.closed) await sandbox.destroy();
            else this.ready.push(sandbox);
            for (const w of this.readyWaiters.splice(0)) w();
          } catch (err) {
            this.stats.startFailures++;
            this.onError(err as Error);
            break;
          }
        }
      } finally {
        this.refilling = undefined;
        for (const w of this.readyWaiters.splice(0)) w();
      }
    })();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.shrinkTimer);
    this.wake?.();
    await this.refilling;
    await Promise.all(this.ready.splice(0).map((s) => s.destroy()));
  }
}

function covers(have: SandboxShape, need: SandboxShape): boolean {
  return (Object.keys(need) as (keyof SandboxShape)[]).every((k) => have[k] >= need[k]);
}
