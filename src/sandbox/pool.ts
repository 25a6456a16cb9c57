/**
 * Warm pool: sandboxes started ahead of time, so the request path only hands over files and the command.
 *
 * Every pooled sandbox is started with the pool's shape (the service's maximum bounds); a stage's own
 * limits are written to its cgroup and rlimits just before the stage starts, so one pool serves every
 * runtime and every request. A sandbox's profile (seccomp policy, network mode) is part of its OCI spec and
 * fixed when it starts, so the pool keeps one ready list per profile and hands a sandbox out only for its
 * own profile. Each sandbox is used for exactly one execution and then destroyed: nothing is ever shared
 * between executions.
 *
 * Sizing, per profile: each profile aims at its own `target` of ready sandboxes. The default profile
 * starts at the pool's initial size and never goes below `minSize`; another profile starts at 0. A take
 * that finds its profile's list empty (a miss) raises that profile's target by one, as long as the targets
 * of all profiles together stay within `maxSize`; a profile without a miss for `shrinkAfterMs` has its
 * target lowered by one. Refills start when an execution ends (never on the path of the one that took the
 * sandbox), run one at a time (the profile furthest below its target first), wait while every execution
 * slot is busy, and start sandboxes in the background (low-priority runtime, minimal CPU share until
 * taken), so preparing sandboxes does not compete with running programs for CPU.
 */
import { DEFAULT_PROFILE, profileKey, type SandboxProfile } from '../contract/profile.js';
import { Sandbox, type SandboxShape } from './sandbox.js';
import type { SandboxHost } from './host.js';

export interface PoolOptions {
  minSize: number;
  maxSize: number;
  /** Starting target of the default profile; defaults to minSize. */
  initialSize?: number;
  /** Lower a profile's target by one after this long without a miss on it. */
  shrinkAfterMs: number;
}

/** A profile's target drops by one after this long without a miss (sizes come from the configuration). */
export const POOL_SHRINK_AFTER_MS = 30_000;

export interface PoolStats {
  /** Ready sandboxes and targets, summed over the profiles. */
  ready: number;
  target: number;
  hits: number;
  misses: number;
  startFailures: number;
  /** Per profile (profileKey), for the profiles the pool currently keeps. */
  profiles: Record<string, { ready: number; target: number }>;
}

/** One profile's ready list and sizing. */
interface ProfileList {
  profile: SandboxProfile;
  ready: Sandbox[];
  target: number;
  /** The lowest target: minSize for the default profile, 0 for the others. */
  floor: number;
  lastMiss: number;
}

export class SandboxPool {
  private readonly lists = new Map<string, ProfileList>();
  private refilling?: Promise<void>;
  private readyWaiters: (() => void)[] = [];
  private closed = false;
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
    const defaults = this.listFor(DEFAULT_PROFILE);
    defaults.floor = Math.min(options.minSize, options.maxSize);
    defaults.target = Math.min(options.maxSize, Math.max(options.minSize, options.initialSize ?? options.minSize));
    this.shrinkTimer = setInterval(() => this.maybeShrink(), Math.max(1000, options.shrinkAfterMs / 2));
    this.shrinkTimer.unref();
    this.refill();
  }

  /** Every ready sandbox, all profiles together (the tests inspect them). */
  get ready(): Sandbox[] {
    return [...this.lists.values()].flatMap((list) => list.ready);
  }

  /**
   * A started, unused sandbox of `profile` whose shape covers `need`, or undefined (the caller starts a
   * cold one). A sandbox of another profile is never handed out.
   */
  take(need: SandboxShape, profile: SandboxProfile = DEFAULT_PROFILE): Sandbox | undefined {
    if (!covers(this.shape, need)) return undefined;
    const list = this.listFor(profile);
    while (list.ready.length > 0) {
      const sandbox = list.ready.shift()!;
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
    list.lastMiss = Date.now();
    if (this.totalTarget() < this.options.maxSize) list.target++;
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
    const profiles: PoolStats['profiles'] = {};
    for (const [key, list] of this.lists) profiles[key] = { ready: list.ready.length, target: list.target };
    return { ready: this.ready.length, target: this.totalTarget(), ...this.stats, profiles };
  }

  /** Resolves when every profile holds its target (tests and benchmarks use it to start from a warm state). */
  async warm(timeoutMs = 30_000): Promise<boolean> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      for (const w of this.readyWaiters.splice(0)) w();
    }, timeoutMs);
    this.refill();
    while (this.neediest() && !timedOut && this.refilling) {
      await new Promise<void>((resolve) => this.readyWaiters.push(resolve));
    }
    clearTimeout(timer);
    return this.neediest() === undefined;
  }

  /** How the pool starts a sandbox (a unit test replaces it). */
  protected startSandbox(profile: SandboxProfile): Promise<Sandbox> {
    return Sandbox.start(this.host, this.shape, { background: true, profile });
  }

  private listFor(profile: SandboxProfile): ProfileList {
    const key = profileKey(profile);
    let list = this.lists.get(key);
    if (!list) {
      list = { profile: { ...profile }, ready: [], target: 0, floor: 0, lastMiss: Date.now() };
      this.lists.set(key, list);
    }
    return list;
  }

  private totalTarget(): number {
    let total = 0;
    for (const list of this.lists.values()) total += list.target;
    return total;
  }

  /** The profile furthest below its target, if any is below. */
  private neediest(): ProfileList | undefined {
    let best: ProfileList | undefined;
    for (const list of this.lists.values()) {
      const missing = list.target - list.ready.length;
      if (missing > 0 && (!best || missing > best.target - best.ready.length)) best = list;
    }
    return best;
  }

  private maybeShrink(): void {
    const now = Date.now();
    for (const [key, list] of this.lists) {
      if (now - list.lastMiss < this.options.shrinkAfterMs || list.target <= list.floor) continue;
      list.target--;
      list.lastMiss = now;
      const extra = list.ready.length > list.target ? list.ready.pop() : undefined;
      if (extra) this.track(extra.destroy());
      if (list.target === 0 && list.ready.length === 0 && key !== profileKey(DEFAULT_PROFILE)) this.lists.delete(key);
    }
  }

  private refill(): void {
    if (this.refilling || this.closed || !this.neediest()) return;
    this.refilling = (async () => {
      // Yield a whole turn of the event loop, not just a microtask: starting a sandbox does synchronous work
      // (bwrap: the cgroup's directories and limits, the spawn) that would otherwise run before the result of
      // the execution that just ended reaches its caller (measured: +8 ms per warm execution on bwrap).
      // It also keeps `finally` below after `this.refilling` is assigned.
      await new Promise<void>((resolve) => setImmediate(resolve));
      try {
        while (!this.closed && this.neediest()) {
          while (this.busy() && !this.closed) {
            await new Promise<void>((resolve) => (this.wake = resolve));
          }
          // chosen after the wait: takes while it waited may have changed which profile is furthest below
          const list = this.neediest();
          if (this.closed || !list) break;
          let sandbox: Sandbox;
          try {
            sandbox = await this.startSandbox(list.profile);
          } catch (err) {
            this.stats.startFailures++;
            this.onError(err as Error);
            break;
          }
          await this.keep(list.profile, sandbox);
        }
      } finally {
        this.refilling = undefined;
        for (const w of this.readyWaiters.splice(0)) w();
      }
    })();
  }

  /**
   * A sandbox just started: ready, unless the pool closed meanwhile (removed before close() returns) or
   * its profile's target shrank meanwhile (removed in the background).
   */
  private async keep(profile: SandboxProfile, sandbox: Sandbox): Promise<void> {
    const list = this.lists.get(profileKey(profile));
    if (this.closed) await sandbox.destroy();
    else if (!list || list.ready.length >= list.target) this.track(sandbox.destroy());
    else list.ready.push(sandbox);
    for (const w of this.readyWaiters.splice(0)) w();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.shrinkTimer);
    this.wake?.();
    await this.refilling;
    await Promise.all([...this.lists.values()].flatMap((list) => list.ready.splice(0)).map((s) => s.destroy()));
  }
}

function covers(have: SandboxShape, need: SandboxShape): boolean {
  return (Object.keys(need) as (keyof SandboxShape)[]).every((k) => have[k] >= need[k]);
}
