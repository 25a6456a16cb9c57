/**
 * The warm pool, with real sandboxes: pooled executions are hits and share nothing with each other, a
 * request's own limits are applied to a sandbox started with the pool's (maximum) shape, the pool refills
 * and grows within its bounds, and closing it leaves nothing on the host (test/helpers/hostClean.ts).
 *
 * Needs root, runc and build/polyrun-init. No sleeps: the tests wait with `pool.warm()`.
 */
import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ExecutionRequest } from '../../src/contract/request.js';
import type { ExecutionResult, StageResult } from '../../src/contract/result.js';
import { createExecutor, type ExecutorOptions, type SandboxExecutor } from '../../src/executor/executor.js';
import type { PoolOptions, SandboxPool } from '../../src/sandbox/pool.js';
import { Sandbox } from '../../src/sandbox/sandbox.js';
import { hostLeftovers, processesInUidRange } from '../helpers/hostClean.js';
import { lines, run } from '../helpers/results.js';

const MiB = 1024 * 1024;
const DATA_DIR = join(import.meta.dirname, '..', '..', 'data');

type Limits = ExecutionRequest['limits'];

const executors: SandboxExecutor[] = [];

async function poolExecutor(pool: Partial<PoolOptions>, extra: ExecutorOptions = {}): Promise<SandboxExecutor> {
  const ex = await createExecutor({
    languages: ['python', 'bash'],
    dataDir: DATA_DIR,
    compileCache: false,
    slots: 2,
    pool,
    ...extra,
  });
  executors.push(ex);
  for (const lang of ['python', 'bash']) {
    if (!ex.findRuntime(lang)) throw new Error(`runtime ${lang} is not available: ${JSON.stringify(ex.unavailable)}`);
  }
  return ex;
}

afterAll(async () => {
  for (const ex of executors.splice(0)) {
    await ex.close();
    const leftovers = await hostLeftovers(ex);
    expect(leftovers, `left on the host after close:\n${leftovers.join('\n')}`).toEqual([]);
  }
});

function poolOf(ex: SandboxExecutor): SandboxPool {
  if (!ex.pool) throw new Error('the executor has no pool');
  return ex.pool;
}

/** The sandboxes the pool holds ready (private state, read for the host-clean checks). */
function readySandboxes(ex: SandboxExecutor): Sandbox[] {
  return (poolOf(ex) as unknown as { ready: Sandbox[] }).ready;
}

/**
 * Wait until the pool holds its target. warm() starts whatever refill is missing and waits for it; on a pool
 * that is already full it returns at once (see "warm() on a pool that is already full" below).
 */
async function refilled(ex: SandboxExecutor): Promise<void> {
  const pool = poolOf(ex);
  if (pool.snapshot().ready < pool.snapshot().target) expect(await pool.warm()).toBe(true);
  expect(pool.snapshot().ready).toBe(pool.snapshot().target);
}

/**
 * hostLeftovers minus the pool's ready sandboxes (started ahead, never used): each may hold its container,
 * its cgroup dirs, its bundle and exactly one process, its init (with bwrap also bwrap's own process).
 * Anything else is a leftover.
 */
async function leftoversBesidesPool(ex: SandboxExecutor): Promise<string[]> {
  await ex.settle();
  if (ex.pool) await refilled(ex); // no sandbox half started while we look
  const ids = readySandboxes(ex).map((s) => s.id);
  const owner = (line: string): string | undefined =>
    ids.find((id) => line.startsWith(`container ${id} `) || new RegExp(`/${id.replace(/[-]/g, '\\-')}(?=$|[/\\s])`).test(line));
  const problems: string[] = [];
  // init, and the backend's own process where it has one in the sandbox (bwrap's)
  const allowed = 1 + ex.host.backend.helperProcesses;
  const seen = new Map<string, number>();
  for (const line of await hostLeftovers(ex)) {
    const id = owner(line);
    if (id === undefined) problems.push(line);
    else if (line.startsWith('process ')) {
      seen.set(id, (seen.get(id) ?? 0) + 1);
      if (seen.get(id)! > allowed) problems.push(`another process in pooled sandbox ${id}: ${line}`);
    }
  }
  return problems;
}

async function expectHostClean(ex: SandboxExecutor): Promise<void> {
  const leftovers = await leftoversBesidesPool(ex);
  expect(leftovers, `left on the host:\n${leftovers.join('\n')}`).toEqual([]);
}


function py(ex: SandboxExecutor, code: string, limits?: Limits, extra: Partial<ExecutionRequest> = {}): Promise<ExecutionResult> {
  return ex.execute({ language: 'python', files: [{ name: 'main.py', content: Buffer.from(code) }], limits, ...extra });
}

function sh(ex: SandboxExecutor, code: string, limits?: Limits): Promise<ExecutionResult> {
  return ex.execute({ language: 'bash', files: [{ name: 'main.sh', content: Buffer.from(code) }], limits });
}

/** Run `fn` and check it was served by exactly `hits` pool hits and no miss. */
async function fromPool<T>(ex: SandboxExecutor, fn: () => Promise<T>, hits = 1): Promise<T> {
  const before = poolOf(ex).snapshot();
  expect(before.ready).toBeGreaterThanOrEqual(hits);
  const result = await fn();
  const after = poolOf(ex).snapshot();
  expect(after.hits - before.hits, 'pool hits').toBe(hits);
  expect(after.misses - before.misses, 'pool misses').toBe(0);
  return result;
}

// What a program can see of its sandbox: its pid, its namespaces, the processes, files, env, cwd, umask.
const OBSERVE = `
import errno, json, os, socket
print('pid=' + str(os.getpid()))
print('ns=' + json.dumps({n: os.readlink('/proc/self/ns/' + n) for n in ('cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts')}, sort_keys=True))
print('procs=' + ','.join(sorted(p + ':' + open('/proc/%s/comm' % p).read().strip() for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid())))
print('env=' + json.dumps(dict(os.environ), sort_keys=True))
print('cwd=' + os.getcwd())
print('umask=' + oct(os.umask(0o22)))
print('hostname=' + socket.gethostname())
print('cgroup=' + open('/proc/self/cgroup').read().strip().replace('\\n', '|'))
files = []
for d in ('/box', '/tmp', '/dev/shm'):
    for root, dirs, names in os.walk(d):
        files += [os.path.join(root, n) for n in dirs + names]
print('files=' + ','.join(sorted(files)))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect('\\0polyrun-planted'); print('abstract=connected')
except OSError as e:
    print('abstract=' + errno.errorcode.get(e.errno, str(e.errno)))
`;

// Observes first, then leaves behind everything it can: files, a background process, a double-forked
// daemon listening on an abstract socket, env, cwd, umask, shell start-up files in HOME.
const PLANT = `${OBSERVE}
import subprocess, sys, time
secret = sys.argv[1]
for d in ('/box', '/tmp', '/dev/shm'):
    open(d + '/planted', 'w').write(secret)
os.makedirs('/tmp/dir/sub'); open('/tmp/dir/sub/f', 'w').write(secret)
for rc in ('.bashrc', '.profile', '.bash_profile'):
    open(os.path.join(os.environ['HOME'], rc), 'w').write('export PLANTED=' + secret + '\\n')
os.environ['PLANTED'] = secret
os.putenv('PLANTED', secret)
os.chdir('/tmp')
os.umask(0)
subprocess.Popen(['nohup', 'sleep', '1000'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind('\\0polyrun-planted'); srv.listen(8)
        os.write(w, b'x')
        while True:
            srv.accept()[0].sendall(secret.encode())
    os._exit(0)
os.wait()
os.read(r, 1)
print('after=' + ','.join(sorted(open('/proc/%s/comm' % p).read().strip() for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid()))))
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect('\\0polyrun-planted')
print('daemon=' + c.recv(100).decode())
`;

describe('warm pool (minSize 2)', () => {
  let ex: SandboxExecutor;

  beforeAll(async () => {
    ex = await poolExecutor({ minSize: 2 });
    expect(await poolOf(ex).warm()).toBe(true);
    // the readiness proof's sandbox is removed off the start-up path: wait for it before counting
    await ex.settle();
  }, 120_000);

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('starts with its target of sandboxes ready and nothing else on the host', async () => {
    expect(poolOf(ex).snapshot()).toMatchObject({ ready: 2, target: 2, hits: 0, misses: 0, startFailures: 0 });
    const all = await hostLeftovers(ex);
    // two started sandboxes: each a container, a bundle (OCI runtimes only), cgroup dirs and its init
    // process (with bwrap, bwrap's own process too)
    expect(all.filter((l) => l.startsWith('container '))).toHaveLength(2);
    expect(all.filter((l) => l.startsWith('bundle '))).toHaveLength(ex.host.runtime ? 2 : 0);
    expect(all.filter((l) => l.startsWith('process '))).toHaveLength(2 * (1 + ex.host.backend.helperProcesses));
    await expectHostClean(ex);
  });

  it('two consecutive executions are pool hits and share nothing', async () => {
    await refilled(ex);
    const pooled = readySandboxes(ex).map((s) => s.id);
    expect(pooled).toHaveLength(2);
    const putFiles = vi.spyOn(Sandbox.prototype, 'putFiles');
    const secret = `planted-${randomBytes(8).toString('hex')}`;

    const first = await fromPool(ex, () => py(ex, PLANT, { wallTimeMs: 5000 }, { args: [secret] }));
    expect(first.status, run(first).stderr).toBe('ok');
    const a = lines(run(first).stdout);
    // the planting worked while the first program ran
    expect(a.daemon).toBe(secret);
    const after = a.after!.split(',');
    expect(after).toHaveLength(2); // the background process and the daemon
    expect(after).toContain('python3');
    expect(after.some((n) => n === 'sleep' || n === 'nohup')).toBe(true);
    await expectHostClean(ex);

    const second = await fromPool(ex, () => py(ex, OBSERVE));
    expect(second.status, run(second).stderr).toBe('ok');
    const b = lines(run(second).stdout);
    expect(run(second).stdout).not.toContain(secret);

    // nothing of the first is in the second
    expect(b.files).toBe('/box/main.py');
    expect(b.procs).toBe('1:init'); // its pid namespace holds init and the program only
    expect(b.abstract).toBe('ECONNREFUSED');
    expect(b.cwd).toBe('/box');
    expect(b.umask).toBe('0o22');
    expect(JSON.parse(b.env!)).not.toHaveProperty('PLANTED');
    // a pristine start: exactly what the first program saw before it changed anything
    for (const k of ['procs', 'env', 'cwd', 'umask', 'hostname', 'cgroup', 'files', 'abstract'] as const) {
      expect(b[k], k).toBe(a[k]);
    }
    // a fresh pid namespace: the program is one of its first processes (the exact pid depends on how many
    // short-lived helpers the runtime ran at start)
    expect(Number(b.pid)).toBeLessThan(10);
    expect(Number(a.pid)).toBeLessThan(10);
    // every namespace is a new one: not the first execution's, not the host's
    const nsA = JSON.parse(a.ns!) as Record<string, string>;
    const nsB = JSON.parse(b.ns!) as Record<string, string>;
    expect(Object.keys(nsB)).toHaveLength(7);
    for (const [name, id] of Object.entries(nsB)) {
      expect(id, name).toMatch(/^\w+:\[\d+\]$/);
      expect(id, name).not.toBe(nsA[name]);
      expect(id, `${name} (host)`).not.toBe(readlinkSync(`/proc/self/ns/${name}`));
    }

    // on the host: two different sandboxes, both the ones the pool had ready
    const used = [...new Set(putFiles.mock.contexts.map((s) => (s as Sandbox).id))];
    expect(used).toEqual(pooled);
    expect(readySandboxes(ex).map((s) => s.id)).not.toContain(used[0]);
    expect(readySandboxes(ex).map((s) => s.id)).not.toContain(used[1]);
    await expectHostClean(ex);
  });

  describe('a request\'s own limits apply to a pooled sandbox (the pool\'s shape is the maximum)', () => {
    /** Touches 150 MiB in 10 MiB chunks, then says so. */
    const ALLOCATE_150_MIB = `
chunks = []
for i in range(15):
    chunks.append(bytearray(b'\\x01' * (10 << 20)))
print('allocated', flush=True)
`;

    it('memoryBytes 64 MiB: allocating 150 MiB ends in memory_limit', async () => {
      await refilled(ex);
      expect(readySandboxes(ex)[0]!.shape.memoryBytes).toBeGreaterThan(150 * MiB);
      const r = await fromPool(ex, () =>
        py(ex, ALLOCATE_150_MIB, { memoryBytes: 64 * MiB, wallTimeMs: 5000 }),
      );
      expect(r.status).toBe('memory_limit');
      expect(run(r).stdout).not.toContain('allocated');
      expect(run(r).memoryBytes).toBeLessThanOrEqual(64 * MiB);
      await expectHostClean(ex);
    });

    it('the same allocation within the default memory limit succeeds on a pooled sandbox', async () => {
      await refilled(ex);
      const r = await fromPool(ex, () =>
        py(ex, ALLOCATE_150_MIB, { memoryBytes: 256 * MiB, wallTimeMs: 5000 }),
      );
      expect(r.status).toBe('ok');
      expect(run(r).stdout).toBe('allocated\n');
      expect(run(r).memoryBytes).toBeGreaterThan(150 * MiB);
      await expectHostClean(ex);
    });

    it('processes 8: a fork loop is refused at the limit', async () => {
      await refilled(ex);
      expect(readySandboxes(ex)[0]!.shape.processes).toBeGreaterThan(100);
      const r = await fromPool(ex, () =>
        py(ex, `
import errno, os, signal
n = 0
while True:
    try:
        p = os.fork()
    except OSError as e:
        print('forked=%d' % n); print('errno=' + errno.errorcode[e.errno]); break
    if p == 0:
        signal.pause(); os._exit(0)
    n += 1
    if n > 1000:
        print('forked=%d' % n); print('errno=none'); break
`, { processes: 8, wallTimeMs: 5000 }),
      );
      expect(r.status, run(r).stderr).toBe('ok');
      const v = lines(run(r).stdout);
      expect(v.errno).toBe('EAGAIN');
      // init and the program count too
      expect(Number(v.forked)).toBeGreaterThan(0);
      expect(Number(v.forked)).toBeLessThanOrEqual(6);
      await expectHostClean(ex);
    });

    it('processes 8: an endless fork bomb is stopped, the host is fine', async () => {
      await refilled(ex);
      const r = await fromPool(ex, () =>
        py(ex, `
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
`, { processes: 8, cpuTimeMs: 500, wallTimeMs: 2000 }),
      );
      expect(r.status).not.toBe('ok');
      expect(['time_limit', 'runtime_error', 'memory_limit']).toContain(r.status);
      await expectHostClean(ex);
    });

    it('cpuTimeMs 300: a busy loop ends in time_limit', async () => {
      await refilled(ex);
      const r = await fromPool(ex, () => py(ex, 'while True: pass\n', { cpuTimeMs: 300, wallTimeMs: 5000 }));
      expect(r.status).toBe('time_limit');
      expect(run(r).cpuTimeMs).toBeGreaterThanOrEqual(300);
      expect(run(r).wallTimeMs).toBeLessThan(5000);
      await expectHostClean(ex);
    });

    it('openFiles 20 and fileSizeBytes 1 MiB are the rlimits of the stage', async () => {
      await refilled(ex);
      expect(readySandboxes(ex)[0]!.shape.openFiles).toBeGreaterThan(100);
      const r = await fromPool(ex, () =>
        py(ex, `
import errno, os, resource
print('nofile=%d,%d' % resource.getrlimit(resource.RLIMIT_NOFILE))
fds = []
try:
    while len(fds) < 5000:
        fds.append(os.open('/dev/null', os.O_RDONLY))
except OSError as e:
    print('open_errno=' + errno.errorcode[e.errno])
print('opened=%d' % len(fds))
for fd in fds: os.close(fd)
try:
    with open('/tmp/big', 'wb') as f:
        f.write(b'x' * (2 << 20))
    print('write=OK')
except OSError as e:
    print('write=' + errno.errorcode[e.errno])
print('size=%d' % os.path.getsize('/tmp/big'))
`, { openFiles: 20, fileSizeBytes: MiB, wallTimeMs: 5000 }),
      );
      expect(r.status, run(r).stderr).toBe('ok');
      const v = lines(run(r).stdout);
      expect(v.nofile).toBe('20,20');
      expect(v.open_errno).toBe('EMFILE');
      expect(Number(v.opened)).toBeLessThanOrEqual(17);
      expect(v.write).toBe('EFBIG');
      expect(Number(v.size)).toBeLessThanOrEqual(MiB);
      await expectHostClean(ex);
    });

    it('a lowered limit does not stay with the pool: the next pooled run gets the defaults', async () => {
      await refilled(ex);
      const r = await fromPool(ex, () =>
        py(ex, `
import resource
print('nofile=%d' % resource.getrlimit(resource.RLIMIT_NOFILE)[0])
print('fsize=%d' % resource.getrlimit(resource.RLIMIT_FSIZE)[0])
`),
      );
      expect(r.status, run(r).stderr).toBe('ok');
      const v = lines(run(r).stdout);
      const info = ex.findRuntime('python')!;
      expect(Number(v.nofile)).toBe(info.limits.defaults.run.openFiles);
      expect(Number(v.fsize)).toBe(info.limits.defaults.run.fileSizeBytes);
      await expectHostClean(ex);
    });
  });
});

describe('pool sizing and lifecycle', () => {
  it('refills after takes, with new sandboxes', async () => {
    const ex = await poolExecutor({ minSize: 2, maxSize: 4 });
    await refilled(ex);
    const first = readySandboxes(ex).map((s) => s.id);
    // both taken at once (takes are synchronous in execute), then the pool is filled again
    const results = await fromPool(ex, () => Promise.all([sh(ex, 'echo a'), sh(ex, 'echo b')]), 2);
    expect(results.map((r) => run(r).stdout)).toEqual(['a\n', 'b\n']);
    await refilled(ex);
    const snap = poolOf(ex).snapshot();
    expect(snap).toMatchObject({ ready: 2, target: 2, hits: 2, misses: 0 });
    const second = readySandboxes(ex).map((s) => s.id);
    for (const id of second) expect(first).not.toContain(id);
    await expectHostClean(ex);
    const more = await fromPool(ex, () => sh(ex, 'echo c'));
    expect(run(more).stdout).toBe('c\n');
    await refilled(ex);
    expect(poolOf(ex).snapshot()).toMatchObject({ ready: 2, target: 2, hits: 3, misses: 0 });
    await expectHostClean(ex);
  });

  it('a miss raises the target, up to maxSize and no further', async () => {
    const ex = await poolExecutor({ minSize: 1, maxSize: 3 });
    await refilled(ex);
    expect(poolOf(ex).snapshot()).toMatchObject({ ready: 1, target: 1, hits: 0, misses: 0 });

    const burst = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => sh(ex, `echo ${i}`)));
    const r1 = await burst(4); // 1 hit, 3 misses (cold starts)
    expect(r1.map((r) => run(r).stdout)).toEqual(['0\n', '1\n', '2\n', '3\n']);
    expect(poolOf(ex).snapshot()).toMatchObject({ hits: 1, misses: 3, target: 3 });
    await refilled(ex);
    expect(poolOf(ex).snapshot()).toMatchObject({ ready: 3, target: 3 });

    const r2 = await burst(5); // 3 hits, 2 misses: the target stays at maxSize
    expect(r2.every((r) => r.status === 'ok')).toBe(true);
    expect(poolOf(ex).snapshot()).toMatchObject({ hits: 4, misses: 5, target: 3 });
    await refilled(ex);
    expect(poolOf(ex).snapshot()).toMatchObject({ ready: 3, target: 3 });
    const all = await hostLeftovers(ex);
    expect(all.filter((l) => l.startsWith('container '))).toHaveLength(3);
    await expectHostClean(ex);
  });

  it('a pool with minSize 0 starts empty and grows on a miss', async () => {
    const ex = await poolExecutor({ minSize: 0, maxSize: 2 });
    expect(poolOf(ex).snapshot()).toMatchObject({ ready: 0, target: 0 });
    const r = await sh(ex, 'echo cold');
    expect(run(r).stdout).toBe('cold\n');
    expect(poolOf(ex).snapshot()).toMatchObject({ misses: 1, target: 1 });
    expect(await poolOf(ex).warm(5000)).toBe(true);
    expect(poolOf(ex).snapshot()).toMatchObject({ ready: 1, target: 1 });
    await fromPool(ex, () => sh(ex, 'echo warm'));
    await expectHostClean(ex);
  }, 20_000);

  it('warm() on a pool that is already full does not stop later refills', async () => {
    const ex = await poolExecutor({ minSize: 2 });
    expect(await poolOf(ex).warm()).toBe(true);
    expect(await poolOf(ex).warm()).toBe(true); // already full
    await fromPool(ex, () => sh(ex, 'echo one'));
    expect(await poolOf(ex).warm(5000)).toBe(true);
    expect(poolOf(ex).snapshot()).toMatchObject({ ready: 2, target: 2 });
    await expectHostClean(ex);
  }, 20_000);

  it('a pooled sandbox that died while waiting is never handed out', async () => {
    const ex = await poolExecutor({ minSize: 2, maxSize: 2 });
    await refilled(ex);
    const [dead, alive] = readySandboxes(ex) as [Sandbox, Sandbox];
    // kill the init of the first pooled sandbox from the host, and wait until the sandbox has noticed
    const init = processesInUidRange().filter(
      (p) => p.name === 'init' && (p.cgroup.includes(`/${dead.id}\n`) || p.cgroup.endsWith(`/${dead.id}`)),
    );
    expect(init).toHaveLength(1);
    process.kill(init[0]!.pid, 'SIGKILL');
    await (dead as unknown as { exited: Promise<void> }).exited;
    expect(dead.running).toBe(false);

    const putFiles = vi.spyOn(Sandbox.prototype, 'putFiles');
    try {
      const r = await fromPool(ex, () => sh(ex, 'echo survived'));
      expect(r.status).toBe('ok');
      expect(run(r).stdout).toBe('survived\n');
      expect(putFiles.mock.contexts.map((s) => (s as Sandbox).id)).toEqual([alive.id]);
    } finally {
      putFiles.mockRestore();
    }
    // take() removes the dead sandbox in the background, where ex.settle() does not wait: wait for it here
    await dead.destroy();
    await refilled(ex);
    expect(readySandboxes(ex).map((s) => s.id)).not.toContain(dead.id);
    await expectHostClean(ex);
  });

  it('close() removes every pre-started sandbox, also one being started', async () => {
    const ex = await poolExecutor({ minSize: 3, maxSize: 3 });
    await refilled(ex);
    const started = await hostLeftovers(ex);
    expect(started.filter((l) => l.startsWith('container '))).toHaveLength(3);
    expect(started.filter((l) => l.startsWith('process '))).toHaveLength(3 * (1 + ex.host.backend.helperProcesses));

    // a take starts a refill; close while it runs
    const pending = sh(ex, 'echo during-close');
    await poolOf(ex).close();
    expect(poolOf(ex).snapshot().ready).toBe(0);
    expect(run(await pending).stdout).toBe('during-close\n');
    await ex.settle();
    const leftovers = await hostLeftovers(ex);
    expect(leftovers, `left on the host:\n${leftovers.join('\n')}`).toEqual([]);

    // the executor still works without its pool (cold starts), and starts nothing in the background
    const after = await sh(ex, 'echo cold');
    expect(run(after).stdout).toBe('cold\n');
    await ex.settle();
    expect(poolOf(ex).snapshot().ready).toBe(0);
    expect(await hostLeftovers(ex)).toEqual([]);
  });
});
