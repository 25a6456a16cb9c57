/**
 * The cgroup v2 suite: runs only inside the VM that scripts/cgroup2-vm boots (Debian 12, Linux 6.1, cgroup2
 * alone at /sys/fs/cgroup with every controller enabled), never on the host (whose cgroups are v1 hybrid),
 * so that the v2 code paths of src/sandbox/cgroups.ts are exercised for real. test/vm/cgroup2-vm.test.ts
 * runs it on the host (`npm run test:vm`) and asserts that it passed.
 *
 * Every case runs with each backend that applies in the guest: the oci backend with crun and with runc,
 * and bwrap. Each checks limits and the statuses they give (CPU, wall, memory with memory_limit and the
 * peak, pids), the accounting, per-stage peak memory (memory.peak cannot be reset before Linux 6.12),
 * that nothing is left behind, the start-up sweep of a crashed service's sandbox, and a few attacks on the
 * cgroup itself.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { ExecutionRequest } from '../../src/contract/request.js';
import type { ExecutionResult } from '../../src/contract/result.js';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { DEFAULT_LIMITS } from '../../src/limits/limits.js';
import type { BackendName } from '../../src/sandbox/backend.js';
import { detectCgroupLayout, hierarchyBases } from '../../src/sandbox/cgroups.js';
import { SandboxHost } from '../../src/sandbox/host.js';
import { Sandbox } from '../../src/sandbox/sandbox.js';
import { hostLeftovers } from '../helpers/hostClean.js';
import { testHostConfig } from '../helpers/host-config.js';
import { lines, run } from '../helpers/results.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MiB = 1024 * 1024;
const CGROUP = '/sys/fs/cgroup';

interface Case {
  name: string;
  backend: BackendName;
  ociRuntime: string;
}
const ALL: Case[] = [
  { name: 'crun', backend: 'oci', ociRuntime: 'crun' },
  { name: 'runc', backend: 'oci', ociRuntime: 'runc' },
  { name: 'bwrap', backend: 'bwrap', ociRuntime: 'auto' },
];
// POLYRUN_VM_ONLY=crun (scripts/cgroup2-vm passes it through) narrows the run for a developer.
const only = process.env.POLYRUN_VM_ONLY?.split(',').filter(Boolean);
const CASES = only?.length ? ALL.filter((c) => only.includes(c.name)) : ALL;

const SHAPE = { memoryBytes: 256 * MiB, processes: 32, openFiles: 64, fileSizeBytes: 8 * MiB, workDirBytes: 8 * MiB, tmpBytes: 8 * MiB };

it('runs in the VM: cgroup v2 only, every controller enabled for children', () => {
  expect(detectCgroupLayout()).toEqual({ mode: 'v2', base: { '': CGROUP } });
  expect(hierarchyBases()).toEqual([CGROUP]);
  const enabled = readFileSync(join(CGROUP, 'cgroup.subtree_control'), 'utf8').trim().split(' ');
  for (const c of ['cpu', 'memory', 'pids']) expect(enabled).toContain(c);
});

/** A python program that holds `mib` MiB (every page touched) for `holdS` seconds, then prints its size. */
/**
 * How to start test/fixtures/crashing-service.ts: the bundle scripts/cgroup2-vm made of it on the host
 * (starts in seconds under emulation), else through tsx (compiles polyrun's sources first: over a minute).
 */
function crashingService(): string[] {
  const bundle = join(ROOT, 'dist/vm/crashing-service.mjs');
  return existsSync(bundle) ? [bundle] : ['--import', 'tsx', join(ROOT, 'test/fixtures/crashing-service.ts')];
}

const hold = (mib: number, holdS = 0.3) => `import time\nb = b"\\x01" * (${mib} << 20)\ntime.sleep(${holdS})\nprint(len(b) >> 20)\n`;

describe.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
  let ex: SandboxExecutor;
  let stateDir: string;

  const config = () => {
    const base = loadConfig([]).config;
    return { ...base, sandbox: { ...base.sandbox, backend: c.backend, ociRuntime: c.ociRuntime } };
  };
  const py = (code: string, limits?: ExecutionRequest['limits']): Promise<ExecutionResult> =>
    ex.execute({ language: 'python', files: [{ name: 'main.py', content: Buffer.from(code) }], limits });
  const sh = (code: string, limits?: ExecutionRequest['limits']): Promise<ExecutionResult> =>
    ex.execute({ language: 'bash', files: [{ name: 'main.sh', content: Buffer.from(code) }], limits });
  const clean = async () => {
    await ex.settle();
    expect(await hostLeftovers(ex)).toEqual([]);
  };

  beforeAll(async () => {
    stateDir = mkdtempSync(`/run/polyrun-vm-${c.name}-`);
    chmodSync(stateDir, 0o755);
    ex = await createExecutor({ config: config(), stateDir, dataDir: join(stateDir, 'data'), languages: ['python', 'bash'], pool: false, compileCache: false });
    for (const lang of ['python', 'bash']) {
      if (!ex.findRuntime(lang)) throw new Error(`runtime ${lang} is not available: ${JSON.stringify(ex.unavailable)}`);
    }
    expect(ex.host.backend.name).toBe(c.backend);
    if (c.backend === 'oci') expect(ex.host.runtime?.binary).toMatch(new RegExp(`(^|/)${c.ociRuntime}$`));
  });

  afterAll(async () => {
    await ex?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("the sandbox's cgroup is a v2 leaf under /polyrun/<instance>, with the shape's limits, then each stage's", async () => {
    const sandbox = await Sandbox.start(ex.host, SHAPE);
    const dir = join(CGROUP, sandbox.cgroup.relativePath);
    const file = (name: string) => readFileSync(join(dir, name), 'utf8').trim();
    try {
      expect(sandbox.cgroup.relativePath).toMatch(new RegExp(`^/?polyrun/${ex.host.instanceId}/`));
      expect(Number(file('memory.max'))).toBe(SHAPE.memoryBytes);
      expect(file('memory.swap.max')).toBe('0');
      expect(Number(file('pids.max'))).toBe(SHAPE.processes + ex.host.backend.helperProcesses);
      expect(sandbox.cgroup.processes()).toHaveLength(1 + ex.host.backend.helperProcesses);
      const r = await sandbox.runStage({ argv: ['/bin/true'], env: {}, limits: { ...DEFAULT_LIMITS.run, memoryBytes: 48 * MiB, processes: 7 } });
      expect(r.exitCode).toBe(0);
      expect(Number(file('memory.max'))).toBe(48 * MiB);
      expect(Number(file('pids.max'))).toBe(7 + ex.host.backend.helperProcesses);
      // a stage asking for more than the sandbox's shape gets the shape
      await sandbox.runStage({ argv: ['/bin/true'], env: {}, limits: { ...DEFAULT_LIMITS.run, memoryBytes: 1024 * MiB, processes: 7 } });
      expect(Number(file('memory.max'))).toBe(SHAPE.memoryBytes);
    } finally {
      await sandbox.destroy();
    }
    expect(existsSync(dir)).toBe(false);
    await clean();
  });

  it('CPU time limit: time_limit once the tree has used its CPU time; wall limit: time_limit with little CPU', async () => {
    const cpu = await py('while True:\n    pass\n', { cpuTimeMs: 1000, wallTimeMs: 20_000 });
    expect(cpu.status).toBe('time_limit');
    expect(run(cpu).cpuTimeMs).toBeGreaterThanOrEqual(1000);
    expect(run(cpu).wallTimeMs).toBeLessThan(20_000);

    const wall = await sh('sleep 60', { cpuTimeMs: 10_000, wallTimeMs: 1500 });
    expect(wall.status).toBe('time_limit');
    expect(run(wall).wallTimeMs).toBeGreaterThanOrEqual(1500);
    expect(run(wall).wallTimeMs).toBeLessThan(15_000);
    expect(run(wall).cpuTimeMs).toBeLessThan(1000);
    await clean();
  });

  it('memory: over memory_limit is an OOM kill (memory_limit); under it, the peak is reported', async () => {
    const over = await py(hold(200), { memoryBytes: 64 * MiB });
    expect(over.status).toBe('memory_limit');
    expect(run(over).memoryBytes).toBeGreaterThan(48 * MiB);
    expect(run(over).memoryBytes).toBeLessThanOrEqual(64 * MiB);

    const under = await py(hold(80), { memoryBytes: 160 * MiB });
    expect(under.status).toBe('ok');
    expect(run(under).stdout).toBe('80\n');
    expect(run(under).memoryBytes).toBeGreaterThanOrEqual(80 * MiB);
    expect(run(under).memoryBytes).toBeLessThan(160 * MiB);
    await clean();
  });

  it("per-stage peak memory: a stage after a hungrier one reports its own peak, not the earlier stage's", async () => {
    const sandbox = await Sandbox.start(ex.host, SHAPE);
    const stage = (code: string) =>
      // Time limits far above the default: filling 150 MiB page by page takes seconds of CPU under emulation.
      sandbox.runStage({
        argv: ['/usr/bin/python3', '-c', code],
        env: { PATH: '/usr/bin:/bin' },
        limits: { ...DEFAULT_LIMITS.run, memoryBytes: 200 * MiB, cpuTimeMs: 60_000, wallTimeMs: 120_000 },
      });
    try {
      const big = await stage(hold(120));
      expect(big.stdout.toString(), big.stderr.toString()).toBe('120\n');
      expect(big.memoryBytes).toBeGreaterThanOrEqual(120 * MiB);

      const small = await stage(hold(10));
      expect(small.stdout.toString(), small.stderr.toString()).toBe('10\n');
      expect(small.memoryBytes).toBeGreaterThanOrEqual(10 * MiB);
      expect(small.memoryBytes).toBeLessThan(60 * MiB); // before the fix: the first stage's 120+ MiB

      const bigger = await stage(hold(150, 0));
      expect(bigger.memoryBytes).toBeGreaterThanOrEqual(150 * MiB);
    } finally {
      await sandbox.destroy();
    }
    await clean();
  });

  it('pids limit: forks beyond it fail with EAGAIN; the program sees the limit, not more', async () => {
    const r = await py(
      'import os, time\nn = 0\ntry:\n    while n < 100:\n        if os.fork() == 0:\n            time.sleep(2)\n            os._exit(0)\n        n += 1\nexcept OSError as e:\n    print("errno", e.errno)\nprint("forked", n)\n',
      { processes: 10 },
    );
    const out = lines(run(r).stdout.replace(/ /g, '='));
    expect(out.errno, run(r).stdout + run(r).stderr).toBe('11');
    expect(Number(out.forked)).toBeGreaterThan(0);
    expect(Number(out.forked)).toBeLessThan(10);
    await clean();
  });

  it('accounting: the CPU time of the whole tree, children included, as the program itself measured it', async () => {
    const r = await py(
      'import os, time\ndef burn(s):\n    t = time.process_time()\n    while time.process_time() - t < s:\n        pass\npid = os.fork()\nburn(0.6)\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\nprint("done")\n',
      { cpuTimeMs: 10_000, wallTimeMs: 30_000 },
    );
    expect(r.status).toBe('ok');
    expect(run(r).stdout).toBe('done\n');
    // parent and child burn 0.6 s each, plus the interpreter's start-up
    expect(run(r).cpuTimeMs).toBeGreaterThanOrEqual(1150);
    expect(run(r).cpuTimeMs).toBeLessThan(6000);
    expect(run(r).wallTimeMs).toBeGreaterThanOrEqual(600);
    await clean();
  });

  it('attacks on the cgroup: leave it, raise its limits, mount cgroupfs, fork-bomb and eat memory in children; all fail, the host is clean', async () => {
    const r = await py(
      [
        'import ctypes, os',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'print("cgroup=" + open("/proc/self/cgroup").read().strip().replace(" ", "_"))',
        'for path in ["/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max"]:',
        '    try:',
        '        open(path, "w").write(str(os.getpid()) if path.endswith("procs") else "max")',
        '        print("wrote=" + path)',
        '    except OSError as e:',
        '        print("refused=" + path)',
        'os.makedirs("/tmp/cg", exist_ok=True)',
        'rc = libc.mount(b"none", b"/tmp/cg", b"cgroup2", 0, None)',
        'print("mount=%d,%d" % (rc, ctypes.get_errno()))',
      ].join('\n'),
    );
    expect(r.status).toBe('ok');
    const v = lines(run(r).stdout);
    expect(run(r).stdout).not.toContain('wrote=');
    expect(v.mount).toMatch(/^-1,(1|13)$/); // EPERM or EACCES
    // from the host: still in its own cgroup, under the instance
    await clean();

    const bomb = await sh(':(){ :|:& };:\nsleep 5', { processes: 16, wallTimeMs: 4000 });
    expect(['ok', 'runtime_error', 'time_limit']).toContain(bomb.status);
    await clean();

    const eat = await py(`import os\nfor i in range(4):\n    if os.fork() == 0:\n        b = b"x" * (40 << 20)\n        import time; time.sleep(3)\n        os._exit(0)\nfor i in range(4):\n    os.wait()\n`, { memoryBytes: 96 * MiB, cpuTimeMs: 20_000, wallTimeMs: 30_000 });
    expect(eat.status).toBe('memory_limit');
    await clean();
    expect(await sh('echo still-alive').then((x) => run(x).stdout)).toBe('still-alive\n');
  });

  it('start-up sweep: a crashed service leaves a running sandbox; the next start kills it and removes its cgroup', async () => {
    const dir = mkdtempSync(`/run/polyrun-vm-sweep-${c.name}-`);
    chmodSync(dir, 0o755);
    try {
      const child = spawn(process.execPath, [...crashingService(), dir, c.backend], {
        cwd: ROOT,
        env: { ...process.env, POLYRUN_OCI_RUNTIME: c.ociRuntime },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const line = await new Promise<string>((done, fail) => {
        createInterface({ input: child.stdout! }).once('line', done);
        child.once('exit', (code) => fail(new Error(`the crashing service exited early (${code})`)));
      });
      const { instanceId, cgroup } = JSON.parse(line) as { instanceId: string; cgroup: string };
      const procs = () => {
        try {
          return readFileSync(join(CGROUP, cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
        } catch {
          return [];
        }
      };
      expect(procs().length).toBeGreaterThanOrEqual(1);
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGKILL');
      await exited;
      expect(existsSync(join(CGROUP, cgroup))).toBe(true);

      const next = await SandboxHost.create(testHostConfig({ stateDir: dir, backend: c.backend, ociRuntime: c.ociRuntime }));
      try {
        expect(existsSync(join(CGROUP, cgroup))).toBe(false);
        expect(existsSync(join(CGROUP, 'polyrun', instanceId))).toBe(false);
        expect(existsSync(join(dir, 'instances', instanceId))).toBe(false);
        const stray = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && (() => {
          try {
            return readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`/polyrun/${instanceId}/`);
          } catch {
            return false;
          }
        })());
        expect(stray).toEqual([]);
      } finally {
        await next.cleanup();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
