/**
 * Streaming stages and sandbox profiles, with real sandboxes: output arrives while the program runs, stdin
 * is fed turn by turn, signals reach the stage's process group, the caps and the CPU and wall limits hold
 * for interactive stages, the network mode of a profile is what the program gets, and the warm pool hands
 * out a sandbox only for its own profile. After each test nothing of its sandboxes is left on the host
 * (test/helpers/hostClean.ts).
 *
 * Needs root, runc and build/polyrun-init. No sleeps: the tests wait on output and on `done`.
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROFILE, type SandboxProfile } from '../../src/contract/profile.js';
import { DEFAULT_LIMITS, type StageLimits } from '../../src/limits/limits.js';
import { SandboxHost } from '../../src/sandbox/host.js';
import { testHostConfig } from '../helpers/host-config.js';
import { SandboxPool } from '../../src/sandbox/pool.js';
import { Sandbox, type OutputStream, type SandboxShape, type StageCommand } from '../../src/sandbox/sandbox.js';
import { hostLeftovers } from '../helpers/hostClean.js';

const MiB = 1024 * 1024;
const PYTHON = '/usr/bin/python3';
const LOOPBACK: SandboxProfile = { seccomp: 'default', network: 'loopback' };
const SHAPE: SandboxShape = {
  memoryBytes: 256 * MiB,
  processes: 64,
  openFiles: 256,
  fileSizeBytes: 16 * MiB,
  workDirBytes: 16 * MiB,
  tmpBytes: 16 * MiB,
};

let host: SandboxHost;
const started: Sandbox[] = [];

beforeAll(async () => {
  host = await SandboxHost.create(testHostConfig());
}, 60_000);

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.destroy()));
  const leftovers = await hostLeftovers({ host });
  expect(leftovers, `left on the host:\n${leftovers.join('\n')}`).toEqual([]);
});

afterAll(async () => {
  await host?.cleanup();
});

async function sandbox(profile?: SandboxProfile): Promise<Sandbox> {
  const sb = await Sandbox.start(host, SHAPE, { profile });
  started.push(sb);
  return sb;
}

function py(code: string, limits: Partial<StageLimits> = {}, extra: Partial<StageCommand> = {}): StageCommand {
  return { argv: [PYTHON, '-c', code], env: { PATH: '/usr/bin' }, limits: { ...DEFAULT_LIMITS.run, ...limits }, ...extra };
}

/** What onOutput delivered, and a way to wait until a stream's text satisfies a condition. */
class OutputLog {
  readonly text: Record<OutputStream, string> = { stdout: '', stderr: '' };
  readonly bytes: Record<OutputStream, number> = { stdout: 0, stderr: 0 };
  private waiters: { stream: OutputStream; test: (text: string) => boolean; resolve: (at: number) => void }[] = [];

  readonly onOutput = (stream: OutputStream, chunk: Buffer): void => {
    this.text[stream] += chunk.toString('utf8');
    this.bytes[stream] += chunk.length;
    const at = performance.now();
    this.waiters = this.waiters.filter((w) => {
      if (w.stream !== stream || !w.test(this.text[stream])) return true;
      w.resolve(at);
      return false;
    });
  };

  /** Resolves with the time of the chunk that made `test` true. */
  until(stream: OutputStream, test: (text: string) => boolean): Promise<number> {
    if (test(this.text[stream])) return Promise.resolve(performance.now());
    return new Promise((resolve) => this.waiters.push({ stream, test, resolve }));
  }
}

describe('streaming output', () => {
  it('delivers a chunk while the program still runs, long before the stage ends', async () => {
    const sb = await sandbox();
    const log = new OutputLog();
    // A 3 s sleep against a 2 s bound: the host may read "a" late on a loaded machine, never 1 s late.
    const stage = sb.startStage(py("import time\nprint('a', flush=True)\ntime.sleep(3)\nprint('b', flush=True)"), { onOutput: log.onOutput });
    const doneAt = stage.done.then(() => performance.now());
    const aAt = await log.until('stdout', (t) => t === 'a\n');
    const outcome = await stage.done;
    expect(outcome.exitCode).toBe(0);
    expect(outcome.stdout.toString()).toBe('a\nb\n');
    expect(log.text.stdout).toBe('a\nb\n');
    expect((await doneAt) - aAt).toBeGreaterThanOrEqual(2000);
  });

  it('runStage (kept for existing callers) streams through its onOutput too', async () => {
    const sb = await sandbox();
    const log = new OutputLog();
    const outcome = await sb.runStage(py("import sys\nprint('out')\nprint('err', file=sys.stderr)"), undefined, log.onOutput);
    expect(outcome.exitCode).toBe(0);
    expect(log.text).toEqual({ stdout: 'out\n', stderr: 'err\n' });
    expect(outcome.output.toString()).toMatch(/^(out\nerr\n|err\nout\n)$/);
  });
});

describe('stdin', () => {
  const TURNS = `
import sys
for _ in range(2):
    line = sys.stdin.readline()
    print('got ' + line.strip(), flush=True)
print('rest ' + repr(sys.stdin.read()), flush=True)
`;

  it('an interactive stage is driven turn by turn through write() and ends at endInput()', async () => {
    const sb = await sandbox();
    const log = new OutputLog();
    const stage = sb.startStage(py(TURNS, {}, { interactive: true }), { onOutput: log.onOutput });
    expect(stage.write(Buffer.from('one\n'))).toBe(true);
    await log.until('stdout', (t) => t.includes('got one\n'));
    expect(log.text.stdout).toBe('got one\n'); // the program waits for the next line
    stage.write(Buffer.from('two\n'));
    await log.until('stdout', (t) => t.includes('got two\n'));
    expect(log.text.stdout).toBe('got one\ngot two\n');
    stage.endInput();
    const outcome = await stage.done;
    expect(outcome.exitCode).toBe(0);
    expect(outcome.stdout.toString()).toBe("got one\ngot two\nrest ''\n");
    // after the end: no-ops
    expect(stage.write(Buffer.from('late\n'))).toBe(false);
    stage.endInput();
    stage.sendSignal('SIGKILL');
    expect(stage.inputOverflowed).toBe(false);
  });

  it('interactive: the initial stdin comes first, then writes', async () => {
    const sb = await sandbox();
    const log = new OutputLog();
    const stage = sb.startStage(py(TURNS, {}, { interactive: true, stdin: Buffer.from('one\n') }), { onOutput: log.onOutput });
    await log.until('stdout', (t) => t.includes('got one\n'));
    stage.write(Buffer.from('two\nthree'));
    stage.endInput();
    const outcome = await stage.done;
    expect(outcome.stdout.toString()).toBe("got one\ngot two\nrest 'three'\n");
  });

  it('non-interactive: all of stdin, larger than one frame, then end of input', async () => {
    const sb = await sandbox();
    const data = Buffer.alloc(3 * MiB + 12345);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 11)) & 0xff;
    const outcome = await sb.runStage(
      py("import sys, hashlib\nd = sys.stdin.buffer.read()\nprint(len(d), hashlib.sha256(d).hexdigest())", {}, { stdin: data }),
    );
    expect(outcome.exitCode).toBe(0);
    expect(outcome.stdout.toString()).toBe(`${data.length} ${createHash('sha256').update(data).digest('hex')}\n`);
  });

  it('stdin a program never read is discarded, and the sandbox serves the next stage and files', async () => {
    const sb = await sandbox();
    const first = await sb.runStage(py('pass', {}, { stdin: Buffer.alloc(3 * MiB, 0x61) }));
    expect(first.exitCode).toBe(0);
    const second = await sb.runStage({ argv: ['/usr/bin/cat'], env: {}, limits: DEFAULT_LIMITS.run, stdin: Buffer.from('fresh') });
    expect(second.stdout.toString()).toBe('fresh');
    await sb.putFiles([{ name: 'f.txt', content: Buffer.from('file'), mode: 0o644 }]);
    expect((await sb.getFile('f.txt'))?.content.toString()).toBe('file');
  });
});

describe('signals', () => {
  it('SIGINT ends a sleeping program with signal SIGINT', async () => {
    const sb = await sandbox();
    const log = new OutputLog();
    const stage = sb.startStage(
      { argv: ['/bin/sh', '-c', 'echo ready; exec sleep 30'], env: { PATH: '/usr/bin:/bin' }, limits: DEFAULT_LIMITS.run },
      { onOutput: log.onOutput },
    );
    await log.until('stdout', (t) => t === 'ready\n');
    stage.sendSignal('SIGINT');
    const outcome = await stage.done;
    expect(outcome.signal).toBe('SIGINT');
    expect(outcome.exitCode).toBeNull();
    expect(outcome.killedFor).toBeNull();
    expect(outcome.sandboxError).toBeNull();
    expect(outcome.wallTimeMs).toBeLessThan(5000);
  });

  it("a program's handler runs, and the signal reaches the whole process group", async () => {
    const sb = await sandbox();
    const log = new OutputLog();
    const stage = sb.startStage(
      py(`
import signal, subprocess
got = []
signal.signal(signal.SIGTERM, lambda s, f: got.append(s))
child = subprocess.Popen(['/usr/bin/sleep', '30'])
print('ready', flush=True)
child.wait()
print('handler=' + ','.join(map(str, got)) + ' child=' + str(child.returncode), flush=True)
`),
      { onOutput: log.onOutput },
    );
    await log.until('stdout', (t) => t === 'ready\n');
    stage.sendSignal('SIGTERM');
    const outcome = await stage.done;
    expect(outcome.exitCode).toBe(0);
    expect(outcome.stdout.toString()).toBe('ready\nhandler=15 child=-15\n');
  });
});

describe('limits still hold', () => {
  it('the output cap kills at the cap, and onOutput never gets more than the cap', async () => {
    const sb = await sandbox();
    const log = new OutputLog();
    const cap = 1000;
    const outcome = await sb.startStage(
      py("import sys, time\nsys.stdout.write('x' * 100000)\nsys.stdout.flush()\ntime.sleep(10)", { outputBytes: cap }, { interactive: true }),
      { onOutput: log.onOutput },
    ).done;
    expect(outcome.killedFor).toBe('output');
    expect(outcome.stdoutTruncated).toBe(true);
    expect(outcome.stdout.length).toBe(cap);
    expect(log.bytes.stdout).toBe(cap);
    expect(log.text.stdout).toBe('x'.repeat(cap));
    expect(outcome.output.length).toBe(cap);
    expect(outcome.wallTimeMs).toBeLessThan(5000);
  });

  it('the cap counts each stream on its own', async () => {
    const sb = await sandbox();
    const log = new OutputLog();
    const outcome = await sb.runStage(
      py("import sys\nsys.stdout.write('o' * 800)\nsys.stdout.flush()\nsys.stderr.write('e' * 800)", { outputBytes: 1000 }),
      undefined,
      log.onOutput,
    );
    expect(outcome.killedFor).toBeNull();
    expect(outcome.exitCode).toBe(0);
    expect(log.bytes).toEqual({ stdout: 800, stderr: 800 });
    expect(outcome.output.length).toBe(1600);
  });

  it('wall time ends an interactive stage that waits on stdin', async () => {
    const sb = await sandbox();
    const outcome = await sb.startStage(py('import sys\nsys.stdin.read()', { wallTimeMs: 1000 }, { interactive: true })).done;
    expect(outcome.killedFor).toBe('wall');
    expect(outcome.wallTimeMs).toBeGreaterThanOrEqual(1000);
    expect(outcome.wallTimeMs).toBeLessThan(4000);
    expect(outcome.cpuTimeMs).toBeLessThan(500);
  });

  it('CPU time ends an interactive stage that loops', async () => {
    const sb = await sandbox();
    const outcome = await sb.startStage(py('while True: pass', { cpuTimeMs: 500, wallTimeMs: 10_000 }, { interactive: true })).done;
    expect(outcome.killedFor).toBe('cpu');
    expect(outcome.cpuTimeMs).toBeGreaterThanOrEqual(500);
    expect(outcome.wallTimeMs).toBeLessThan(5000);
  });

  it('an abort ends an interactive stage', async () => {
    const sb = await sandbox();
    const log = new OutputLog();
    const abort = new AbortController();
    const stage = sb.startStage(py("import sys\nprint('ready', flush=True)\nsys.stdin.read()", {}, { interactive: true }), {
      signal: abort.signal,
      onOutput: log.onOutput,
    });
    await log.until('stdout', (t) => t === 'ready\n');
    abort.abort();
    const outcome = await stage.done;
    expect(outcome.killedFor).toBe('aborted');
    expect(sb.running).toBe(false);
  });

  it('one stage at a time; files move in and out while a stage runs (a kernel holds the stage for long)', async () => {
    const sb = await sandbox();
    const log = new OutputLog();
    const stage = sb.startStage(
      py("import sys\nprint('ready', flush=True)\nsys.stdin.read()\nprint(open('given.txt').read())\nopen('made.txt', 'w').write('by the stage')", {}, { interactive: true }),
      { onOutput: log.onOutput },
    );
    await log.until('stdout', (t) => t === 'ready\n');
    const second = await sb.startStage(py('pass')).done;
    expect(second.sandboxError).toMatch(/already running/);
    expect(await sb.listFiles()).toEqual([]);
    await sb.putFiles([{ name: 'given.txt', content: Buffer.from('from the host'), mode: 0o644 }]);
    expect(await sb.listFiles()).toEqual(['given.txt']);
    stage.endInput();
    const outcome = await stage.done;
    expect(outcome.exitCode).toBe(0);
    expect(outcome.stdout.toString()).toBe('ready\nfrom the host\n');
    expect((await sb.getFile('made.txt'))?.content.toString()).toBe('by the stage');
  });
});

const SOCKETS = `
import errno, socket
try:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
except OSError as e:
    print('socket=' + errno.errorcode.get(e.errno, str(e.errno)))
    raise SystemExit(0)
srv.bind(('127.0.0.1', 0))
srv.listen(1)
client = socket.create_connection(srv.getsockname())
conn, _ = srv.accept()
client.sendall(b'ping')
print('received=' + conn.recv(4).decode())
`;

describe('profiles', () => {
  it("'loopback': a TCP server and its client talk over 127.0.0.1 inside the sandbox", async () => {
    const sb = await sandbox(LOOPBACK);
    expect(sb.profile).toEqual(LOOPBACK);
    const outcome = await sb.runStage(py(SOCKETS));
    expect(outcome.stderr.toString()).toBe('');
    expect(outcome.stdout.toString()).toBe('received=ping\n');
  });

  it('the default profile cannot create an AF_INET socket', async () => {
    const sb = await sandbox();
    expect(sb.profile).toEqual(DEFAULT_PROFILE);
    const outcome = await sb.runStage(py(SOCKETS));
    expect(outcome.stdout.toString()).toMatch(/^socket=(EPERM|EACCES)\n$/);
  });

  it("'loopback' still has no interface but loopback", async () => {
    const sb = await sandbox(LOOPBACK);
    const dev = await sb.runStage({ argv: ['/usr/bin/cat', '/proc/net/dev'], env: {}, limits: DEFAULT_LIMITS.run });
    const names = dev.stdout.toString().split('\n').slice(2).filter(Boolean).map((l) => l.split(':')[0]!.trim());
    expect(names).toEqual(['lo']);
  });

  it('the pool hands out a sandbox only for its own profile', async () => {
    const pool = new SandboxPool(host, SHAPE, { minSize: 1, maxSize: 3, shrinkAfterMs: 600_000 }, () => false);
    try {
      expect(await pool.warm()).toBe(true);
      expect(pool.snapshot()).toMatchObject({ ready: 1, target: 1, profiles: { 'default/none': { ready: 1, target: 1 } } });

      // a loopback request does not get the pooled default sandbox: a miss, and loopback gets a target
      expect(pool.take(SHAPE, LOOPBACK)).toBeUndefined();
      expect(pool.snapshot()).toMatchObject({ ready: 1, misses: 1, profiles: { 'default/loopback': { ready: 0, target: 1 } } });
      pool.executionFinished();
      expect(await pool.warm()).toBe(true);
      expect(pool.snapshot().profiles).toEqual({ 'default/none': { ready: 1, target: 1 }, 'default/loopback': { ready: 1, target: 1 } });

      // a default request gets the default sandbox; the next one misses although a loopback one is ready
      const plain = pool.take(SHAPE)!;
      started.push(plain);
      expect(plain.profile).toEqual(DEFAULT_PROFILE);
      expect(pool.take(SHAPE)).toBeUndefined();
      expect(pool.snapshot().profiles['default/loopback']).toEqual({ ready: 1, target: 1 });
      expect((await plain.runStage(py(SOCKETS))).stdout.toString()).toMatch(/^socket=(EPERM|EACCES)\n$/);

      // and the other way round
      const loop = pool.take(SHAPE, LOOPBACK)!;
      started.push(loop);
      expect(loop.profile).toEqual(LOOPBACK);
      expect(pool.take(SHAPE, LOOPBACK)).toBeUndefined();
      expect((await loop.runStage(py(SOCKETS))).stdout.toString()).toBe('received=ping\n');
      // every miss raised its own profile's target, within maxSize across profiles
      expect(pool.snapshot()).toMatchObject({ hits: 2, misses: 3, target: 3 });
      expect(pool.snapshot().profiles).toEqual({ 'default/none': { ready: 0, target: 2 }, 'default/loopback': { ready: 0, target: 1 } });
    } finally {
      await pool.close();
    }
  });
});
