/**
 * The warm pool's bookkeeping per profile, without root: the pool starts fake sandboxes (startSandbox is
 * the one seam), so these tests check which list a sandbox goes to and comes from, targets, the maxSize
 * bound across profiles, per-profile shrinking and close. test/sandbox/pool.test.ts and
 * test/sandbox/streaming.test.ts run the same pool with real sandboxes.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_PROFILE, profileKey, type SandboxProfile } from '../../src/contract/profile.js';
import type { SandboxHost } from '../../src/sandbox/host.js';
import { SandboxPool, type PoolOptions } from '../../src/sandbox/pool.js';
import type { Sandbox, SandboxShape } from '../../src/sandbox/sandbox.js';

const LOOPBACK: SandboxProfile = { seccomp: 'default', network: 'loopback' };
const SHAPE: SandboxShape = { memoryBytes: 100, processes: 10, openFiles: 10, fileSizeBytes: 10, workDirBytes: 10, tmpBytes: 10 };

class FakeSandbox {
  static count = 0;
  readonly id = `fake-${FakeSandbox.count++}`;
  running = true;
  destroyed = false;
  constructor(readonly profile: SandboxProfile) {}
  promote(): void {}
  destroy(): Promise<void> {
    this.destroyed = true;
    this.running = false;
    return Promise.resolve();
  }
}

const pools: SandboxPool[] = [];
let startedSandboxes: FakeSandbox[] = [];
let failStarts = false;

class FakePool extends SandboxPool {
  protected override startSandbox(profile: SandboxProfile): Promise<Sandbox> {
    if (failStarts) return Promise.reject(new Error('cannot start'));
    const sandbox = new FakeSandbox(profile);
    startedSandboxes.push(sandbox);
    return Promise.resolve(sandbox as unknown as Sandbox);
  }
}

function pool(options: Partial<PoolOptions> = {}, busy = () => false): SandboxPool {
  const p = new FakePool({} as SandboxHost, SHAPE, { minSize: 1, maxSize: 4, shrinkAfterMs: 60_000, ...options }, busy);
  pools.push(p);
  return p;
}

afterEach(async () => {
  vi.useRealTimers();
  for (const p of pools.splice(0)) await p.close();
  startedSandboxes = [];
  failStarts = false;
});

const key = profileKey;
/** The shrink clock is faked; setImmediate stays real: the pool yields a turn of the event loop before a refill. */
const CLOCK_ONLY: Parameters<typeof vi.useFakeTimers>[0] = { toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] };

describe('SandboxPool per profile', () => {
  it('starts with the default profile at its initial size and nothing else', async () => {
    const p = pool({ minSize: 1, initialSize: 2 });
    expect(await p.warm()).toBe(true);
    expect(p.snapshot()).toEqual({
      ready: 2,
      target: 2,
      hits: 0,
      misses: 0,
      startFailures: 0,
      profiles: { [key(DEFAULT_PROFILE)]: { ready: 2, target: 2 } },
    });
    expect(startedSandboxes.map((s) => s.profile)).toEqual([DEFAULT_PROFILE, DEFAULT_PROFILE]);
  });

  it('hands a sandbox out only for its own profile; a miss raises that profile\'s target', async () => {
    const p = pool();
    await p.warm();
    expect(p.take(SHAPE, LOOPBACK)).toBeUndefined();
    expect(p.snapshot()).toMatchObject({ ready: 1, target: 2, misses: 1, profiles: { [key(LOOPBACK)]: { ready: 0, target: 1 } } });
    p.executionFinished();
    expect(await p.warm()).toBe(true);
    const loop = p.take(SHAPE, LOOPBACK) as unknown as FakeSandbox;
    expect(loop.profile).toEqual(LOOPBACK);
    expect(p.take(SHAPE, LOOPBACK)).toBeUndefined(); // the default sandbox is not handed out for it
    const plain = p.take(SHAPE) as unknown as FakeSandbox;
    expect(plain.profile).toEqual(DEFAULT_PROFILE);
    expect(p.take(SHAPE)).toBeUndefined();
    expect(p.snapshot()).toMatchObject({ hits: 2, misses: 3 });
  });

  it('keeps the targets of all profiles together within maxSize', async () => {
    const p = pool({ minSize: 1, maxSize: 2 });
    await p.warm();
    expect(p.take(SHAPE)).toBeDefined();
    expect(p.take(SHAPE)).toBeUndefined(); // default target 2: the maximum
    expect(p.take(SHAPE, LOOPBACK)).toBeUndefined(); // no room left for loopback
    expect(p.snapshot()).toMatchObject({ target: 2, profiles: { [key(DEFAULT_PROFILE)]: { target: 2 }, [key(LOOPBACK)]: { target: 0 } } });
    p.executionFinished();
    await p.warm();
    expect(p.snapshot().ready).toBe(2);
    expect(startedSandboxes.filter((s) => s.profile.network === 'loopback')).toEqual([]);
  });

  it('refills the profile furthest below its target first', async () => {
    let busy = true;
    const p = pool({ minSize: 1, maxSize: 5 }, () => busy);
    await Promise.resolve(); // the refill for the default profile now waits for a free slot
    await Promise.resolve();
    expect(p.take(SHAPE, LOOPBACK)).toBeUndefined();
    expect(p.take(SHAPE, LOOPBACK)).toBeUndefined();
    busy = false;
    p.executionFinished();
    await p.warm();
    // loopback was 2 short, default 1: loopback first, then alternating by what is missing
    expect(startedSandboxes.map((s) => s.profile.network)).toEqual(['loopback', 'none', 'loopback']);
  });

  it('waits while every slot is busy', async () => {
    let busy = true;
    const p = pool({}, () => busy);
    await Promise.resolve();
    await Promise.resolve();
    expect(startedSandboxes).toEqual([]);
    busy = false;
    p.executionFinished();
    expect(await p.warm()).toBe(true);
    expect(startedSandboxes).toHaveLength(1);
  });

  it('shrinks each profile on its own: loopback to 0 (and forgotten), default to minSize', async () => {
    vi.useFakeTimers(CLOCK_ONLY);
    const p = pool({ minSize: 1, maxSize: 4, shrinkAfterMs: 10_000 });
    expect(p.take(SHAPE)).toBeUndefined(); // default target 2 (the first start may still run)
    await p.warm();
    expect(p.take(SHAPE, LOOPBACK)).toBeUndefined();
    p.executionFinished();
    await p.warm();
    expect(p.snapshot().profiles).toEqual({ [key(DEFAULT_PROFILE)]: { ready: 2, target: 2 }, [key(LOOPBACK)]: { ready: 1, target: 1 } });
    const loop = startedSandboxes.find((s) => s.profile.network === 'loopback')!;

    await vi.advanceTimersByTimeAsync(10_000);
    expect(p.snapshot().profiles).toEqual({ [key(DEFAULT_PROFILE)]: { ready: 1, target: 1 } });
    expect(loop.destroyed).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(p.snapshot().profiles).toEqual({ [key(DEFAULT_PROFILE)]: { ready: 1, target: 1 } }); // minSize holds
  });

  it('a recent miss keeps a profile from shrinking', async () => {
    vi.useFakeTimers(CLOCK_ONLY);
    const p = pool({ minSize: 0, maxSize: 4, shrinkAfterMs: 10_000 });
    expect(p.take(SHAPE, LOOPBACK)).toBeUndefined();
    p.executionFinished();
    await p.warm();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(p.take(SHAPE, LOOPBACK)).toBeDefined(); // a hit does not count as a miss
    expect(p.take(SHAPE, LOOPBACK)).toBeUndefined(); // a miss: target 2
    await vi.advanceTimersByTimeAsync(5_000);
    expect(p.snapshot().profiles[key(LOOPBACK)]?.target).toBe(2);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(p.snapshot().profiles[key(LOOPBACK)]?.target).toBe(1);
  });

  it('never hands out a sandbox that died while waiting, and removes it', async () => {
    const p = pool({ minSize: 2 });
    await p.warm();
    const [dead, alive] = startedSandboxes;
    dead!.running = false;
    expect(p.take(SHAPE)).toBe(alive);
    expect(dead!.destroyed).toBe(true);
  });

  it('does not hand out a sandbox too small for the request, and does not count it as a miss', async () => {
    const p = pool();
    await p.warm();
    expect(p.take({ ...SHAPE, memoryBytes: SHAPE.memoryBytes + 1 }, DEFAULT_PROFILE)).toBeUndefined();
    expect(p.snapshot()).toMatchObject({ ready: 1, misses: 0, target: 1 });
  });

  it('counts a failed start and stops refilling until the next execution ends', async () => {
    failStarts = true;
    const errors: Error[] = [];
    const p = new FakePool({} as SandboxHost, SHAPE, { minSize: 1, maxSize: 2, shrinkAfterMs: 60_000 }, () => false, (e) => errors.push(e));
    pools.push(p);
    expect(await p.warm(1000)).toBe(false);
    expect(p.snapshot()).toMatchObject({ ready: 0, startFailures: 1 });
    expect(errors.map((e) => e.message)).toEqual(['cannot start']);
    failStarts = false;
    p.executionFinished();
    expect(await p.warm()).toBe(true);
  });

  it('close() removes the ready sandboxes of every profile', async () => {
    const p = pool();
    expect(p.take(SHAPE, LOOPBACK)).toBeUndefined();
    p.executionFinished();
    await p.warm();
    expect(startedSandboxes).toHaveLength(2);
    await p.close();
    expect(startedSandboxes.every((s) => s.destroyed)).toBe(true);
    expect(p.snapshot().ready).toBe(0);
  });
});
