/**
 * The stage runner without a sandbox: a fake frame channel records what the host sends and plays
 * polyrun-init's frames back; a fake cgroup gives the accounting. test/sandbox/streaming.test.ts runs the
 * same with real sandboxes.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_LIMITS, type StageLimits } from '../../src/limits/limits.js';
import type { SandboxCgroup } from '../../src/sandbox/cgroups.js';
import type { FrameChannel, StageListener } from '../../src/sandbox/channel.js';
import { FRAME, FrameDecoder, MAX_STDIN_FRAME, type Frame } from '../../src/sandbox/protocol.js';
import {
  LimitWatchdog,
  OutputCollector,
  STDIN_BACKLOG_MAX,
  startStage,
  type StageCommand,
  type StageSandbox,
} from '../../src/sandbox/stage-runner.js';

class FakeChannel {
  open = true;
  backlogBytes = 0;
  runtimeStderr = '';
  sent: Frame[] = [];
  listener?: StageListener;
  private readonly decoder = new FrameDecoder();

  send(...frames: Buffer[]): void {
    if (!this.open) throw new Error('sandbox is not running');
    for (const f of frames) this.sent.push(...this.decoder.push(f));
  }
  beginStage(listener: StageListener): void {
    if (this.listener) throw new Error('a stage is already running');
    this.listener = listener;
  }
  endStage(listener: StageListener): void {
    if (this.listener === listener) this.listener = undefined;
  }
  get stageRunning(): boolean {
    return this.listener !== undefined;
  }
  /** polyrun-init's side */
  emit(type: string, payload: string | Buffer = ''): void {
    this.listener?.frame({ type, payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'latin1') });
  }
  close(): void {
    this.open = false;
    this.listener?.closed();
  }
  types(): string {
    return this.sent.map((f) => f.type).join('');
  }
}

class FakeCgroup {
  cpu = 1_000_000;
  peak = 5000;
  ooms = 0;
  limits: [number, number][] = [];
  gone = false;
  setLimits(memory: number, pids: number): void {
    this.limits.push([memory, pids]);
  }
  startPeakMeter() {
    return { sample: () => undefined, read: () => this.peakMemoryBytes(), close: () => undefined };
  }
  cpuUsageMicros(): number {
    if (this.gone) throw new Error('ENOENT');
    return this.cpu;
  }
  peakMemoryBytes(): number {
    if (this.gone) throw new Error('ENOENT');
    return this.peak;
  }
  oomKills(): number {
    if (this.gone) throw new Error('ENOENT');
    return this.ooms;
  }
}

function setup(shape = { memoryBytes: 64 << 20, processes: 32 }) {
  const channel = new FakeChannel();
  const cgroup = new FakeCgroup();
  const kills: number[] = [];
  const sandbox: StageSandbox = {
    channel: channel as unknown as FrameChannel,
    cgroup: cgroup as unknown as SandboxCgroup,
    shape,
    killContainer: () => {
      kills.push(1);
      cgroup.gone = true;
      channel.close();
    },
  };
  return { channel, cgroup, kills, sandbox };
}

const cmd = (over: Partial<StageCommand> = {}, limits: Partial<StageLimits> = {}): StageCommand => ({
  argv: ['/bin/true'],
  env: {},
  limits: { ...DEFAULT_LIMITS.run, ...limits },
  ...over,
});

afterEach(() => {
  vi.useRealTimers();
});

describe('startStage: frames sent', () => {
  it('non-interactive: R, the stdin in frames of at most MAX_STDIN_FRAME, then C', () => {
    const { channel, sandbox } = setup();
    const stdin = Buffer.alloc(MAX_STDIN_FRAME + 1, 0x61);
    startStage(sandbox, cmd({ stdin }));
    expect(channel.types()).toBe('RIIC');
    expect(channel.sent[1]!.payload.length).toBe(MAX_STDIN_FRAME);
    expect(Buffer.concat([channel.sent[1]!.payload, channel.sent[2]!.payload]).equals(stdin)).toBe(true);
    channel.emit(FRAME.exit, '0\0-1\0');
  });

  it('non-interactive without stdin: R then C; write() and endInput() do nothing', () => {
    const { channel, sandbox } = setup();
    const stage = startStage(sandbox, cmd());
    expect(stage.write(Buffer.from('x'))).toBe(false);
    stage.endInput();
    expect(channel.types()).toBe('RC');
  });

  it('interactive: R and the initial stdin; writes as I frames; C once, at endInput()', async () => {
    const { channel, sandbox } = setup();
    const stage = startStage(sandbox, cmd({ interactive: true, stdin: Buffer.from('first') }));
    expect(channel.types()).toBe('RI');
    expect(stage.write(Buffer.from('second'))).toBe(true);
    stage.write(Buffer.alloc(0)); // nothing to send
    stage.endInput();
    stage.endInput();
    expect(stage.write(Buffer.from('late'))).toBe(false);
    expect(channel.types()).toBe('RIIC');
    expect(channel.sent.slice(1, 3).map((f) => f.payload.toString())).toEqual(['first', 'second']);
    channel.emit(FRAME.exit, '0\0-1\0');
    expect((await stage.done).exitCode).toBe(0);
  });

  it('sendSignal: an S frame with the signal number; nothing after the stage ended', async () => {
    const { channel, sandbox } = setup();
    const stage = startStage(sandbox, cmd({ interactive: true }));
    stage.sendSignal('SIGTERM');
    expect(channel.sent.at(-1)).toEqual({ type: 'S', payload: Buffer.from('15') });
    channel.emit(FRAME.exit, '-1\x0015\0');
    const outcome = await stage.done;
    expect(outcome.signal).toBe('SIGTERM');
    const count = channel.sent.length;
    stage.sendSignal('SIGKILL');
    stage.endInput();
    stage.write(Buffer.from('x'));
    expect(channel.sent.length).toBe(count);
  });

  it('drops writes once the backlog is over the bound, and every later one', () => {
    const { channel, sandbox } = setup();
    const stage = startStage(sandbox, cmd({ interactive: true }));
    channel.backlogBytes = STDIN_BACKLOG_MAX + 1;
    expect(stage.write(Buffer.from('a'))).toBe(false);
    expect(stage.inputOverflowed).toBe(true);
    channel.backlogBytes = 0;
    expect(stage.write(Buffer.from('b'))).toBe(false);
    stage.endInput();
    expect(channel.types()).toBe('RC');
  });
});

describe('startStage: outcome', () => {
  it('applies the stage limits within the shape and reports accounting', async () => {
    const { channel, cgroup, sandbox } = setup({ memoryBytes: 100, processes: 1000 });
    const stage = startStage(sandbox, cmd({}, { memoryBytes: 200, processes: 10 }));
    expect(cgroup.limits).toEqual([[100, 10]]);
    cgroup.cpu += 42_000;
    cgroup.ooms = 1;
    channel.emit(FRAME.stdout, 'out');
    channel.emit(FRAME.stderr, 'err');
    channel.emit(FRAME.exit, '3\0-1\0');
    const o = await stage.done;
    expect(o).toMatchObject({ exitCode: 3, signal: null, cpuTimeMs: 42, memoryBytes: 5000, oomKilled: true, killedFor: null, sandboxError: null });
    expect([o.stdout.toString(), o.stderr.toString(), o.output.toString()]).toEqual(['out', 'err', 'outerr']);
    expect(channel.stageRunning).toBe(false);
  });

  it('the output cap: kills, keeps and delivers only up to the cap', async () => {
    const { channel, kills, sandbox } = setup();
    const delivered: string[] = [];
    const stage = startStage(sandbox, cmd({}, { outputBytes: 4 }), { onOutput: (s, c) => delivered.push(`${s}:${c}`) });
    channel.emit(FRAME.stdout, 'abc');
    channel.emit(FRAME.stdout, 'defg');
    const o = await stage.done;
    expect(kills).toHaveLength(1);
    expect(o).toMatchObject({ killedFor: 'output', stdoutTruncated: true, stderrTruncated: false, signal: 'SIGKILL', sandboxError: null });
    expect(o.stdout.toString()).toBe('abcd');
    expect(delivered).toEqual(['stdout:abc', 'stdout:d']);
    // read before the kill: the cgroup is gone afterwards
    expect(o.memoryBytes).toBe(5000);
  });

  it('a channel that closes without a kill is a sandbox error', async () => {
    const { channel, sandbox } = setup();
    channel.runtimeStderr = 'runc: boom';
    const stage = startStage(sandbox, cmd());
    channel.close();
    const o = await stage.done;
    expect(o.sandboxError).toBe('sandbox ended unexpectedly: runc: boom');
    expect(o.signal).toBe('SIGKILL');
  });

  it("init's answer to a bad run frame ends the stage with that error", async () => {
    const { channel, sandbox } = setup();
    const stage = startStage(sandbox, cmd());
    channel.emit(FRAME.error, 'bad run frame');
    expect((await stage.done).sandboxError).toBe('bad run frame');
  });

  it('a stage that cannot start resolves with a sandbox error', async () => {
    const { channel, sandbox } = setup();
    channel.open = false;
    expect((await startStage(sandbox, cmd()).done).sandboxError).toBe('sandbox is not running');
    channel.open = true;
    startStage(sandbox, cmd());
    expect((await startStage(sandbox, cmd()).done).sandboxError).toMatch(/already running/);
  });

  it('the wall limit and an abort kill the container', async () => {
    vi.useFakeTimers();
    const wall = setup();
    const stage = startStage(wall.sandbox, cmd({ interactive: true }, { wallTimeMs: 1000 }));
    await vi.advanceTimersByTimeAsync(999);
    expect(wall.kills).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect((await stage.done).killedFor).toBe('wall');

    const aborted = setup();
    const abort = new AbortController();
    const stage2 = startStage(aborted.sandbox, cmd({ interactive: true }), { signal: abort.signal });
    abort.abort();
    expect((await stage2.done).killedFor).toBe('aborted');
  });

  it('the CPU limit, from the cgroup, is never reported as less than the limit', async () => {
    vi.useFakeTimers();
    const { cgroup, sandbox } = setup();
    const stage = startStage(sandbox, cmd({}, { cpuTimeMs: 100, wallTimeMs: 10_000 }));
    cgroup.cpu += 100_000;
    await vi.advanceTimersByTimeAsync(50);
    const o = await stage.done;
    expect(o.killedFor).toBe('cpu');
    expect(o.cpuTimeMs).toBe(100);
  });
});

describe('OutputCollector', () => {
  it('counts each stream against the cap on its own', () => {
    const seen: [string, string][] = [];
    const c = new OutputCollector(3, (s, chunk) => seen.push([s, chunk.toString()]));
    expect(c.push('stdout', Buffer.from('ab'))).toBe(false);
    expect(c.push('stderr', Buffer.from('xyz'))).toBe(false);
    expect(c.push('stdout', Buffer.from('cd'))).toBe(true);
    expect(c.push('stdout', Buffer.from('e'))).toBe(true);
    expect(seen).toEqual([['stdout', 'ab'], ['stderr', 'xyz'], ['stdout', 'c']]);
    const r = c.result();
    expect([r.stdout.toString(), r.stderr.toString(), r.output.toString()]).toEqual(['abc', 'xyz', 'abxyzc']);
    expect([r.stdoutTruncated, r.stderrTruncated]).toEqual([true, false]);
  });

  it('a listener that throws gets nothing more, and the output is still kept', () => {
    let calls = 0;
    const c = new OutputCollector(10, () => {
      calls++;
      throw new Error('listener bug');
    });
    c.push('stdout', Buffer.from('a'));
    c.push('stdout', Buffer.from('b'));
    expect(calls).toBe(1);
    expect(c.result().stdout.toString()).toBe('ab');
  });
});

describe('LimitWatchdog', () => {
  it('stops its timers', async () => {
    vi.useFakeTimers();
    const hits: string[] = [];
    const w = new LimitWatchdog({ cpuTimeMs: 10, wallTimeMs: 100 }, () => 0, (r) => hits.push(r));
    w.start();
    w.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(hits).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an already aborted signal fires at start', () => {
    const hits: string[] = [];
    const w = new LimitWatchdog({ cpuTimeMs: 10, wallTimeMs: 100 }, () => 0, (r) => hits.push(r), AbortSignal.abort());
    w.start();
    w.stop();
    expect(hits).toEqual(['aborted']);
  });
});

