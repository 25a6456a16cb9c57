/**
 * The abuse suite: real attacks, each run in a real sandbox through the executor, each asserting what the
 * program saw and that nothing of the sandbox is left on the host afterwards (test/helpers/hostClean.ts).
 *
 * Needs root, runc and build/polyrun-init (scripts/setup builds it). Limits are small so the file runs in
 * well under a minute; cases run one after another on one executor.
 *
 * The attack programs are files in test/fixtures/abuse/ (each says what it tries in its first line); only
 * one-liners stay inline.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ExecutionRequest } from '../../src/contract/request.js';
import type { ExecutionResult, StageResult } from '../../src/contract/result.js';
import { createExecutor, type ExecutorOptions, type SandboxExecutor } from '../../src/executor/executor.js';
import { DEFAULT_LIMITS } from '../../src/limits/limits.js';
import { Sandbox } from '../../src/sandbox/sandbox.js';
import type { BackendName } from '../../src/sandbox/backend.js';
import { backendsOnThisHost, configWithBackend } from '../helpers/backends.js';
import { hostLeftovers, processesInUidRange } from '../helpers/hostClean.js';
import { lines, run } from '../helpers/results.js';

const MiB = 1024 * 1024;
const BOX_BYTES = 8 * MiB;
const TMP_BYTES = 8 * MiB;
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'abuse');
const fixture = (name: string) => readFileSync(join(FIXTURES, name));
/** A fixture's text, each {{key}} in it replaced by vars[key]. */
function program(name: string, vars: Record<string, string> = {}): string {
  return readFileSync(join(FIXTURES, name), 'utf8').replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    if (vars[key] === undefined) throw new Error(`${name}: no value for {{${key}}}`);
    return vars[key];
  });
}

// Set before the executor starts, so the service and the runtime it spawns carry it in their environment.
const CANARY = `canary-${randomBytes(12).toString('hex')}`;
process.env.POLYRUN_SECRET_CANARY = CANARY;

let ex: SandboxExecutor;

/**
 * The whole suite runs twice, and every assertion must hold in both: with a sandbox cold-started for each
 * execution, and with the warm pool, whose sandboxes are started ahead of time with the pool's (maximum)
 * shape and get each request's own limits just before its stage starts.
 */
const MODES: { name: string; pool: ExecutorOptions['pool'] }[] = [
  { name: 'cold sandboxes', pool: false },
  { name: 'warm pool', pool: { minSize: 2 } },
];

/** ...and again for every sandbox backend (test/helpers/backends.ts): each must pass every attack. */
const CASES = backendsOnThisHost().backends.flatMap((backend) =>
  MODES.map((mode) => ({ ...mode, backend, name: `${backend}: ${mode.name}` })),
);
/**
 * Per test: a gVisor sandbox takes about 250 ms to start and its programs run slower than on the host's
 * kernel, and a test may run several executions (vitest's default is 5 s).
 */
const TEST_TIMEOUT_MS = 30_000;
/** The backend of the cases running now. */
let backend: BackendName;

afterAll(() => {
  delete process.env.POLYRUN_SECRET_CANARY;
});

type Limits = ExecutionRequest['limits'];

function py(code: string, limits?: Limits, extra: Partial<ExecutionRequest> = {}): Promise<ExecutionResult> {
  return ex.execute({ language: 'python', files: [{ name: 'main.py', content: Buffer.from(code) }], limits, ...extra });
}

function sh(code: string, limits?: Limits, extra: Partial<ExecutionRequest> = {}): Promise<ExecutionResult> {
  return ex.execute({ language: 'bash', files: [{ name: 'main.sh', content: Buffer.from(code) }], limits, ...extra });
}

function c(code: string | Buffer, limits?: Limits, args: string[] = []): Promise<ExecutionResult> {
  return ex.execute({ language: 'c', files: [{ name: 'main.c', content: Buffer.isBuffer(code) ? code : Buffer.from(code) }], limits, args });
}


/**
 * The sandboxes the warm pool holds ready: started ahead of time and never given to any execution. Waits
 * for a refill in progress first, so no sandbox is half started while the host is inspected.
 */
async function pooledSandboxIds(): Promise<string[]> {
  const pool = ex.pool;
  if (!pool) return [];
  if (pool.snapshot().ready < pool.snapshot().target) expect(await pool.warm(), 'the warm pool refills').toBe(true);
  return (pool as unknown as { ready: Sandbox[] }).ready.map((s) => s.id);
}

/**
 * hostLeftovers after the execution's sandbox is removed. With the warm pool, each sandbox it holds ready is
 * on the host by design: its container, cgroup dirs, bundle and exactly one process, its init, are not
 * leftovers (with bwrap also bwrap's own monitor process: the backend's helperProcesses). Anything else (a
 * further process in a pooled sandbox included) is.
 */
async function expectHostClean(): Promise<void> {
  await ex.settle();
  const pooled = await pooledSandboxIds();
  const owner = (line: string) =>
    pooled.find((id) => line.startsWith(`container ${id} `) || new RegExp(`/${id.replace(/-/g, '\\-')}(?=$|[/\\s])`).test(line));
  const allowed = 1 + ex.host.backend.helperProcesses;
  const seen = new Map<string, number>();
  const leftovers = (await hostLeftovers(ex)).filter((line) => {
    const id = owner(line);
    if (id === undefined) return true;
    if (!line.startsWith('process ')) return false;
    seen.set(id, (seen.get(id) ?? 0) + 1);
    return seen.get(id)! > allowed;
  });
  expect(leftovers, `left on the host:\n${leftovers.join('\n')}`).toEqual([]);
}

/**
 * The program's own view of its id map. OCI: container root is host uid 200000, a range of 65536. bwrap runs
 * as host uid 201000 and maps only it: the program's namespace (nested in bwrap's own by --disable-userns)
 * maps uid 1000 to the root of bwrap's namespace, which is host uid 201000 (the host-side test below
 * checks the host uids of every sandbox process). gVisor's user-space kernel shows its own identity map: the
 * whole range, as the Sentry's user namespace is the only one the program is in.
 */
const ID_MAP: Record<BackendName, string> = { oci: '0 200000 65536', bwrap: '1000 0 1', gvisor: '0 0 4294967295' };
/** The same map read from the host: what host uids the sandbox's ids are. */
const HOST_ID_MAP: Record<BackendName, string> = { oci: '0 200000 65536', bwrap: '1000 201000 1', gvisor: '0 200000 65536' };

/**
 * The processes a stage leaves behind (daemon.py's double-forked daemon, a shell's background job) first
 * write after this long. A stage that ends with its main process ends well before it, on any backend and
 * however loaded the machine (a Python start under gVisor on a busy host can take seconds); one that waited
 * for them would show their output or run into its wall limit (twice this).
 */
const LEFTOVER_FIRST_OUTPUT_MS = 10_000;

/**
 * Whether this host's own kernel faults int 0x80 from a 64-bit process (some VM kernels do: SIGSEGV),
 * found by running the probe on the host, outside any sandbox.
 */
function hostFaultsI386(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'polyrun-i386-'));
  try {
    execFileSync('gcc', ['-O1', '-o', join(dir, 'probe'), join(FIXTURES, 'syscalls.c')]);
    return spawnSync(join(dir, 'probe'), ['i386-controls']).signal === 'SIGSEGV';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const HOST_FAULTS_I386 = hostFaultsI386();

/** What a memory cgroup's peak may exceed its limit by: the charges the kernel forces for an OOM victim. */
const OOM_FORCED_CHARGE_SLACK = 256 * 1024;

/**
 * How the i386 ABI (int 0x80) ends. On a host whose kernel has no 32-bit entry for 64-bit processes, the
 * instruction faults (SIGSEGV) on every backend, before any syscall is made. Elsewhere the filter kills the
 * process (SIGSYS) on oci and bwrap; gVisor has no 32-bit table at all: its Sentry serves the trap as the
 * 64-bit call of that number, under the same 64-bit policy (null: no signal, the test proves the dispatch).
 */
const I386_SIGNAL: Record<BackendName, string | null> = HOST_FAULTS_I386
  ? { oci: 'SIGSEGV', bwrap: 'SIGSEGV', gvisor: 'SIGSEGV' }
  : { oci: 'SIGSYS', bwrap: 'SIGSYS', gvisor: null };

async function expectStillWorks(): Promise<void> {
  const r = await sh('echo still-alive');
  expect(r.status).toBe('ok');
  expect(run(r).stdout).toBe('still-alive\n');
}

describe.each(CASES)('$name', ({ pool, backend: caseBackend }) => {
  beforeAll(async () => {
    backend = caseBackend;
    ex = await createExecutor({
      config: configWithBackend(caseBackend),
      languages: ['python', 'c', 'bash'],
      dataDir: join(import.meta.dirname, '..', '..', 'data'),
      bounds: { boxBytes: BOX_BYTES, tmpBytes: TMP_BYTES },
      pool,
    });
    for (const lang of ['python', 'c', 'bash']) {
      if (!ex.findRuntime(lang)) throw new Error(`runtime ${lang} is not available: ${JSON.stringify(ex.unavailable)}`);
    }
    if (ex.pool) expect(await ex.pool.warm()).toBe(true);
  }, 120_000);

  afterAll(async () => {
    // the warm-pool run really ran on pooled sandboxes
    if (ex?.pool) expect(ex.pool.snapshot().hits).toBeGreaterThan(ex.pool.snapshot().misses);
    await ex?.close();
  });

  describe('identity', () => {
    it('runs as uid 1000 without capabilities, with no_new_privs and a seccomp filter', async () => {
      const r = await py(program('identity.py'));
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      expect(v.Uid).toBe('1000 1000 1000 1000');
      expect(v.Gid).toBe('1000 1000 1000 1000');
      expect(v.Groups).toBe('');
      for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd']) expect(v[cap], cap).toBe('0000000000000000');
      // gVisor's /proc/self/status has no CapAmb and no NoNewPrivs line; prctl answers for no_new_privs.
      if (backend === 'gvisor') expect([v.CapAmb, v.NoNewPrivs]).toEqual(['?', '?']);
      else {
        expect(v.CapAmb).toBe('0000000000000000');
        expect(v.NoNewPrivs).toBe('1');
      }
      expect(v.nnp_prctl).toBe('1');
      expect(v.Seccomp).toBe('2');
      expect(v.uid_map).toBe(ID_MAP[backend]);
      expect(v.gid_map).toBe(ID_MAP[backend]);
      // EPERM; under bwrap uid and gid 0 do not exist in the namespace at all (only 1000 is mapped), so the
      // kernel refuses them as invalid (EINVAL) before any permission check.
      for (const name of ['setuid', 'setgid', 'setresuid', 'setgroups']) expect(v[name], name).toMatch(backend === 'bwrap' ? /^(1|22)$/ : /^1$/);
      expect(v.euid_after).toBe('1000');
      await expectHostClean();
    });

    it("on the host, the sandbox's processes run as the unprivileged sandbox uid, never as root", async () => {
      const sandbox = await Sandbox.start(ex.host, {
        memoryBytes: 64 * MiB,
        processes: 16,
        openFiles: 64,
        fileSizeBytes: MiB,
        workDirBytes: BOX_BYTES,
        tmpBytes: TMP_BYTES,
      });
      try {
        const pids = sandbox.cgroup.processes();
        if (backend === 'gvisor') {
          // The program's processes are tasks of gVisor's user-space kernel: none is a host process. The host
          // processes of the sandbox are gVisor's own: the gofer (as the sandbox's root, host uid 200000) and
          // the Sentry with its helper processes (as host uid 65534, nobody), none of them root.
          const seen = pids.map((pid) => ({
            cmd: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!,
            uids: (/^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '').split(/\s+/).map(Number),
          }));
          expect(seen.filter((p) => p.cmd === 'runsc-gofer').map((p) => p.uids)).toEqual([[200000, 200000, 200000, 200000]]);
          expect(seen.filter((p) => p.cmd === 'runsc-sandbox').map((p) => p.uids)).toEqual([[65534, 65534, 65534, 65534]]);
          for (const p of seen.filter((p) => p.cmd !== 'runsc-gofer')) expect(p.uids, p.cmd).toEqual([65534, 65534, 65534, 65534]);
          return;
        }
        // init, and bwrap's own process beside it
        expect(pids).toHaveLength(1 + ex.host.backend.helperProcesses);
        for (const pid of pids) {
          const uids = (/^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '').split(/\s+/).map(Number);
          expect(uids, `pid ${pid}`).toEqual([201000, 201000, 201000, 201000]);
        }
        // init's user namespace seen from the host: OCI maps the whole range at 200000; bwrap maps nothing
        // but the program's uid 1000, to host uid 201000
        const init = pids.find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'init')!;
        expect(readFileSync(`/proc/${init}/uid_map`, 'utf8').trim().split(/\s+/).join(' ')).toBe(HOST_ID_MAP[backend]);
      } finally {
        await sandbox.destroy();
      }
      await expectHostClean();
    });

    it('setuid binaries of the host do not raise privileges', async () => {
      // gcc and 13 binaries under gVisor's kernel take about ten times the CPU they take on the host's.
      const limits = backend === 'gvisor' ? { wallTimeMs: 40_000, cpuTimeMs: 25_000 } : { wallTimeMs: 10_000 };
      const r = await ex.execute({
        language: 'bash',
        files: [
          { name: 'main.sh', content: fixture('setuid.sh') },
          { name: 'probe.c', content: fixture('probe.c') },
        ],
        limits,
      });
      expect(r.status).toBe('ok');
      const out = run(r).stdout.trim().split('\n');
      const count = Number(out.at(-1)?.replace('count ', ''));
      expect(count).toBeGreaterThan(0); // /usr/bin/su, mount, passwd... exist on every Debian host
      const results = out.slice(0, -1);
      expect(results).toHaveLength(count);
      for (const line of results) {
        // Either the preload ran (no secure mode: the setuid bit was ignored) and saw uid 1000, or the binary
        // ran without it, which only happens when the exec itself was refused (126: a binary like dbus's helper
        // that only its group may run); in no case euid 0.
        expect(line).toMatch(/ (ruid=1000 euid=1000 egid=1000|NOPRELOAD rc=126)$/);
      }
      expect(results.filter((l) => l.endsWith('euid=1000 egid=1000')).length).toBeGreaterThan(0);
      await expectHostClean();
    }, 60_000);
  });

  describe('the channel to the host', () => {
    it("init's frame channel, memory and fds are out of the program's reach", async () => {
      const r = await py(program('init-channel.py'));
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      expect(Object.keys(v)).toHaveLength(5);
      if (backend === 'gvisor') {
        // gVisor's /proc: init's stdio pipes cannot be opened (ENXIO, not a permission error), and its environ
        // is readable (the Sentry does not apply the dumpability check there). That environment is the fixed
        // one of the spec (PATH, HOME, LANG: no secret of the host or the service, see the /proc test below).
        expect([v.fd0, v.fd1]).toEqual(['ENXIO', 'ENXIO']);
        expect(v.environ).toBe('OK');
        delete v.fd0;
        delete v.fd1;
        delete v.environ;
      }
      for (const [what, result] of Object.entries(v)) expect(result, what).toMatch(/^(EACCES|EPERM)$/);
      await expectHostClean();
    });

    it('fake protocol frames on stdout are just output', async () => {
      // An exit frame claiming success, then a hello, then a stderr frame, then a real exit code of 3.
      const fake = Buffer.concat([
        Buffer.from([0x58, 0, 0, 0, 5]), Buffer.from('0\0-1\0', 'latin1'),
        Buffer.from([0x48, 0, 0, 0, 0]),
        Buffer.from([0x45, 0, 0, 0, 3]), Buffer.from('err'),
        Buffer.from([0x4e, 0xff, 0xff, 0xff, 0xff]),
      ]);
      const r = await py(program('fake-frames.py'), { wallTimeMs: 3000 }, { args: [fake.toString('hex')] });
      expect(r.status).toBe('runtime_error');
      expect(run(r).exitCode).toBe(3);
      expect(Buffer.from(run(r).stdout, 'utf8').equals(Buffer.from(fake.toString('utf8'), 'utf8'))).toBe(true);
      expect(Buffer.from(run(r).stderr, 'utf8').equals(Buffer.from(fake.toString('utf8'), 'utf8'))).toBe(true);
      await expectStillWorks();
      await expectHostClean();
    });
  });

  describe('scheduling and devices', () => {
    it('cannot take real-time priority, raise its priority or create device nodes', async () => {
      const r = await py(program('sched-devices.py'));
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      expect(v.hostname).toBe('sandbox');
      delete v.hostname;
      expect(Object.keys(v)).toHaveLength(6);
      if (backend === 'gvisor') {
        // gVisor implements no real-time scheduling policy at all: it refuses them as invalid.
        expect([v.fifo, v.rr]).toEqual(['EINVAL', 'EINVAL']);
        delete v.fifo;
        delete v.rr;
      }
      for (const [what, result] of Object.entries(v)) expect(result, what).toMatch(/^(EACCES|EPERM)$/);
      await expectHostClean();
    });
  });

  describe('resource exhaustion', () => {
    it('fork bomb: stopped by limits, host fine, next execution works', async () => {
      const r = await c(`#include <unistd.h>\nint main(void) { for (;;) fork(); }\n`, { processes: 16, cpuTimeMs: 1000, wallTimeMs: 2000 });
      expect(r.status).not.toBe('ok');
      expect(['time_limit', 'runtime_error', 'memory_limit']).toContain(r.status);
      expect(run(r).wallTimeMs).toBeLessThan(5000);
      await expectHostClean();
      await expectStillWorks();
      await expectHostClean();
    });

    it('fork until refused: the process count stops at the limit', async () => {
      const r = await c(program('fork-until-refused.c'), { processes: 16, wallTimeMs: 3000 });
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      expect(v.errno).toBe('EAGAIN');
      // init and the program itself count too.
      expect(Number(v.forked)).toBeLessThanOrEqual(15);
      expect(Number(v.forked)).toBeGreaterThan(0);
      await expectHostClean();
    });

    it('memory bomb: memory_limit', async () => {
      const r = await py(program('memory-bomb.py'), { memoryBytes: 64 * MiB, wallTimeMs: 5000 });
      expect(r.status).toBe('memory_limit');
      // The kernel may charge an OOM victim's last allocations past the limit (it must let a dying task
      // exit): a few pages over, seen once under gVisor (64 MiB + 4 KiB).
      expect(run(r).memoryBytes).toBeLessThanOrEqual(64 * MiB + OOM_FORCED_CHARGE_SLACK);
      await expectHostClean();
    });

    it('CPU loop: time_limit after the CPU limit', async () => {
      // A wall limit 20 times the CPU limit: even with a small share of a loaded machine the CPU limit fires first.
      const r = await c(`int main(void) { volatile unsigned long i = 0; for (;;) i++; }\n`, { cpuTimeMs: 500, wallTimeMs: 10_000 });
      expect(r.status).toBe('time_limit');
      expect(run(r).cpuTimeMs).toBeGreaterThanOrEqual(500);
      expect(run(r).wallTimeMs).toBeLessThan(10_000); // the CPU limit fired, not the wall limit
      await expectHostClean();
    });

    it('CPU on every core from threads: time_limit counts the whole tree', async () => {
      const r = await c(program('cpu-threads.c'), { cpuTimeMs: 600, wallTimeMs: 10_000 });
      expect(r.status).toBe('time_limit');
      expect(run(r).cpuTimeMs).toBeGreaterThanOrEqual(600);
      await expectHostClean();
    });

    it('sleep past the wall limit: time_limit', async () => {
      const r = await sh('sleep 30', { wallTimeMs: 1000 });
      expect(r.status).toBe('time_limit');
      expect(run(r).wallTimeMs).toBeGreaterThanOrEqual(1000);
      expect(run(r).wallTimeMs).toBeLessThan(4000);
      expect(run(r).cpuTimeMs).toBeLessThan(500);
      await expectHostClean();
    });

    it('SIGSTOP on itself: time_limit by wall time', async () => {
      const r = await sh('echo before; kill -STOP $$; echo after', { wallTimeMs: 1000 });
      expect(r.status).toBe('time_limit');
      expect(run(r).stdout).toBe('before\n');
      expect(run(r).wallTimeMs).toBeGreaterThanOrEqual(1000);
      await expectHostClean();
    });

    it('signals to the sandbox init are ignored', async () => {
      const r = await py(program('signal-init.py'), { wallTimeMs: 3000 });
      expect(r.status).toBe('ok');
      expect(run(r).stdout).toMatch(/alive\n$/);
      await expectHostClean();
    });

    it.each(['stdout', 'stderr'] as const)('%s flood: output_limit, capped at the limit', async (stream) => {
      const cap = 10_000;
      const r = await py(program('flood.py', { stream }), { outputBytes: cap, wallTimeMs: 5000 });
      expect(r.status).toBe('output_limit');
      const s = run(r);
      if (stream === 'stdout') {
        expect(s.stdoutTruncated).toBe(true);
        expect(Buffer.byteLength(s.stdout)).toBe(cap);
        expect(s.stderr).toBe('');
      } else {
        expect(s.stderrTruncated).toBe(true);
        expect(Buffer.byteLength(s.stderr)).toBe(cap);
        expect(s.stdout).toBe('');
      }
      expect(s.wallTimeMs).toBeLessThan(5000);
      await expectHostClean();
    });

    it('output flood from a shell loop (yes): output_limit', async () => {
      const r = await sh('yes polyrun', { outputBytes: 4096, wallTimeMs: 5000 });
      expect(r.status).toBe('output_limit');
      expect(run(r).stdoutTruncated).toBe(true);
      expect(run(r).stdout).toBe('polyrun\n'.repeat(512));
      await expectHostClean();
    });

    const fill = (dir: string) => program('fill.py', { dir });

    it.each([
      ['/tmp', TMP_BYTES],
      ['/box', BOX_BYTES],
      ['/dev/shm', TMP_BYTES],
    ])('filling %s: the program sees ENOSPC at the tmpfs size', async (dir, size) => {
      const r = await py(fill(dir), { fileSizeBytes: 64 * MiB, wallTimeMs: 5000 });
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      expect(v.error).toBe('ENOSPC');
      expect(Number(v.written)).toBeLessThanOrEqual(size);
      expect(Number(v.written)).toBeGreaterThan(size / 2);
      await expectHostClean();
    });

    it('a file beyond fileSizeBytes: the program sees EFBIG', async () => {
      const r = await py(fill('/tmp'), { fileSizeBytes: 1 * MiB, wallTimeMs: 5000 });
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      expect(v.error).toBe('EFBIG');
      expect(Number(v.written)).toBe(1 * MiB);
      await expectHostClean();
    });

    it('a file beyond fileSizeBytes from C (SIGXFSZ not ignored): killed, not ok', async () => {
      const r = await c(program('sigxfsz.c'), { fileSizeBytes: 64 * 1024, wallTimeMs: 3000 });
      expect(r.status).toBe('runtime_error');
      expect(run(r).signal).toBe('SIGXFSZ');
      expect(run(r).stdout).toBe('');
      await expectHostClean();
    });
  });

  describe('more exhaustion', () => {
    it('opening files until refused stops at openFiles', async () => {
      const r = await py(program('open-files.py'), { openFiles: 32, wallTimeMs: 3000 });
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      expect(v.error).toBe('EMFILE');
      expect(Number(v.opened)).toBeLessThanOrEqual(32);
      await expectHostClean();
    });

    it('creating empty files without end is stopped by a limit, not the host', async () => {
      const r = await py(program('create-files.py'), { memoryBytes: 64 * MiB, wallTimeMs: 3000 });
      // The inodes are kernel memory charged to the sandbox (or bounded by the tmpfs): it ends one way or another.
      expect(['ok', 'memory_limit', 'time_limit']).toContain(r.status);
      if (r.status === 'ok') expect(lines(run(r).stdout).error).toMatch(/^(ENOSPC|ENOMEM)$/);
      await expectHostClean();
      await expectStillWorks();
    });

    it('concurrent sandboxes cannot see each other', async () => {
      const secret = randomBytes(8).toString('hex');
      const [holder, snooper] = await Promise.all([
        py(program('secret-holder.py'), { wallTimeMs: 4000 }, { args: [secret] }),
        py(program('secret-snooper.py'), { wallTimeMs: 4000 }),
      ]);
      expect(holder.status).toBe('ok');
      expect(snooper.status).toBe('ok');
      expect(lines(run(snooper).stdout)).toEqual({ files: '/box/main.py', procs: '' });
      expect(run(snooper).stdout).not.toContain(secret);
      await expectHostClean();
    });
  });

  describe('processes that try to outlive the execution', () => {
    it('a double-forked daemon does not survive its stage', async () => {
      const r = await py(program('daemon.py'), { wallTimeMs: 2 * LEFTOVER_FIRST_OUTPUT_MS });
      expect(r.status).toBe('ok');
      // The stage ended when the main process did: the daemon's output never came and nobody waited for it.
      expect(run(r).stdout).toBe('parent done\n');
      expect(run(r).wallTimeMs).toBeLessThan(LEFTOVER_FIRST_OUTPUT_MS);
      await expectHostClean();
      // Nothing of it is visible to the next execution either: its pid namespace holds init and itself only.
      const next = await py(program('daemon-gone.py'));
      expect(next.status).toBe('ok');
      expect(lines(run(next).stdout)).toEqual({ others: '', marker: 'False' });
      await expectHostClean();
    });

    it('a background job of a shell script is killed when the script ends', async () => {
      const r = await sh(`(sleep ${LEFTOVER_FIRST_OUTPUT_MS / 1000}; echo LATE) & disown; nohup sleep 60 >/dev/null 2>&1 & echo started`, {
        wallTimeMs: 2 * LEFTOVER_FIRST_OUTPUT_MS,
      });
      expect(r.status).toBe('ok');
      expect(run(r).stdout).toBe('started\n');
      expect(run(r).wallTimeMs).toBeLessThan(LEFTOVER_FIRST_OUTPUT_MS);
      await expectHostClean();
      expect(processesInUidRange().filter((p) => p.name === 'sleep' && p.cgroup.includes(ex.host.instanceId))).toEqual([]);
    });
  });

  describe('network', () => {
    let server: Server;
    let port = 0;
    let abstractServer: Server;
    const abstractName = `\0polyrun-abuse-${randomBytes(6).toString('hex')}`;
    const connections: Socket[] = [];

    beforeAll(async () => {
      server = createServer((s) => {
        connections.push(s);
        s.end('host secret\n');
      });
      await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
      port = (server.address() as { port: number }).port;
      abstractServer = createServer((s) => {
        connections.push(s);
        s.end('host secret\n');
      });
      await new Promise<void>((resolve) => abstractServer.listen(abstractName, resolve));
    });

    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
      await new Promise((resolve) => abstractServer.close(resolve));
    });

    it('cannot connect to a TCP server on the host (127.0.0.1 or any host address)', async () => {
      const hostAddresses = Object.values(networkInterfaces())
        .flat()
        .filter((a) => a && a.family === 'IPv4')
        .map((a) => a!.address);
      expect(hostAddresses).toContain('127.0.0.1');
      const r = await py(program('connect-tcp.py'), { wallTimeMs: 5000 }, { args: [String(port), ...hostAddresses] });
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      expect(Object.keys(v).sort()).toEqual([...hostAddresses].sort());
      for (const addr of hostAddresses) expect(v[addr], addr).toMatch(/^PermissionError 1$/);
      expect(connections).toHaveLength(0);
      await expectHostClean();
    });

    it('even a socket obtained through any hole in the filter cannot reach the host', async () => {
      const hostAddresses = Object.values(networkInterfaces())
        .flat()
        .filter((a) => a && a.family === 'IPv4')
        .map((a) => a!.address);
      const r = await c(fixture('syscalls.c'), { wallTimeMs: 5000 }, ['connect', String(port), ...hostAddresses]);
      const v = lines(run(r).stdout);
      for (const addr of hostAddresses) {
        // No socket at all (the filter held), or a socket in the sandbox's own network namespace that reaches
        // nothing: that namespace has only its own loopback.
        if (v[`socket_${addr}`]?.startsWith('OK')) expect(v[`connect_${addr}`], addr).toMatch(/^(ECONNREFUSED|ENETUNREACH|EHOSTUNREACH|ETIMEDOUT)$/);
        else if (run(r).signal === null) expect(v[`socket_${addr}`], addr).toMatch(/^E/);
      }
      if (run(r).signal !== null) expect(run(r).signal).toBe(I386_SIGNAL[backend]);
      expect(connections).toHaveLength(0);
      await expectHostClean();
    });

    it('cannot reach a host abstract unix socket (AF_UNIX is allowed, the namespace is not shared)', async () => {
      const r = await py(program('connect-abstract.py'), { wallTimeMs: 3000 }, { args: [abstractName.replace('\0', '@')] });
      expect(r.status).toBe('ok');
      expect(lines(run(r).stdout).result).toBe('ConnectionRefusedError');
      expect(connections).toHaveLength(0);
      await expectHostClean();
    });

    it('DNS lookups fail', async () => {
      const r = await py(program('dns.py'), { wallTimeMs: 5000 });
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      for (const name of ['example.com', 'localhost.localdomain', 'metadata.google.internal']) expect(v[name], name).toBe('gaierror');
      await expectHostClean();
    });

    it('has no network interface but loopback', async () => {
      const r = await sh('cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "');
      expect(r.status).toBe('ok');
      expect(run(r).stdout.trim().split('\n')).toEqual(['lo']);
      await expectHostClean();
    });
  });

  describe('host secrets', () => {
    it('/etc/shadow and /root of the host are not there', async () => {
      const r = await py(program('host-secrets.py'));
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      for (const p of ['/etc/shadow', '/etc/gshadow', '/root/.bash_history', '/etc/ssh/ssh_host_ed25519_key']) {
        expect(v[p], p).toMatch(/^(FileNotFoundError|PermissionError)$/);
      }
      expect(v['/root']).toMatch(/^(FileNotFoundError|PermissionError)$/);
      await expectHostClean();
    });

    it('the compiler cannot be made to include host files', async () => {
      const hostShadow = readFileSync('/etc/shadow', 'utf8');
      const r = await c(`#include "/etc/shadow"\n#include "/proc/1/environ"\nint main(void) { return 0; }\n`);
      expect(r.status).toBe('compile_error');
      const stderr = r.compile?.stderr ?? '';
      expect(stderr).toMatch(/\/etc\/shadow: No such file or directory/);
      for (const line of hostShadow.split('\n').filter((l) => l.startsWith('root:'))) expect(stderr).not.toContain(line);
      expect(stderr).not.toContain(CANARY);
      await expectHostClean();
    });

    it("the service's state dir, bundles and runtime state are not visible", async () => {
      const r = await py(program('state-dirs.py'), undefined, { args: [ex.host.config.stateDir, ex.host.instanceDir, ex.host.bundlesDir, join(ex.host.instanceDir, 'runc'), '/sys/fs/cgroup', '/run'] });
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      expect(Object.keys(v)).toHaveLength(6);
      for (const [p, result] of Object.entries(v)) expect(result, p).toBe('FileNotFoundError');
      await expectHostClean();
    });

    it("the service's environment is not readable through /proc", async () => {
      const r = await py(program('proc-environ.py'), { wallTimeMs: 3000 }, { args: [CANARY] });
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      // argv[1] of the program itself carries the canary: only its own cmdline may contain it.
      const hits = v.hits === '' ? [] : v.hits!.split(',');
      expect(hits.every((h) => /\/cmdline$/.test(h))).toBe(true);
      expect(v.env_has).toBe('False');
      // gVisor: init's environ is readable (see the channel test above); it is the spec's fixed environment.
      expect(v.init_environ).toBe(backend === 'gvisor' ? 'readable' : 'PermissionError');
      expect(Number(v.readable)).toBeGreaterThan(0);
      await expectHostClean();
    });

    it('the environment of the program is the fixed one', async () => {
      const r = await sh('env | sort');
      expect(r.status).toBe('ok');
      expect(run(r).stdout).not.toContain(CANARY);
      const names = run(r).stdout.trim().split('\n').map((l) => l.split('=')[0]);
      for (const n of names) expect(['PATH', 'HOME', 'LANG', 'TMPDIR', 'PWD', 'SHLVL', '_', 'OLDPWD']).toContain(n);
      await expectHostClean();
    });
  });

  describe('filesystem', () => {
    it('cannot write outside the writable dirs', async () => {
      const r = await py(program('write-outside.py'));
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      expect(v.box).toBe('ok');
      delete v.box;
      expect(Object.keys(v)).toHaveLength(15);
      // Kernels built without magic SysRq have no /proc/sysrq-trigger at all (this machine's, for one); gVisor's
      // /proc is its own, where it is refused like the rest.
      if (!existsSync('/proc/sysrq-trigger') && backend !== 'gvisor') {
        expect(v['/proc/sysrq-trigger']).toBe('ENOENT');
        delete v['/proc/sysrq-trigger'];
      }
      for (const [target, result] of Object.entries(v)) expect(result, target).toMatch(/^(EROFS|EACCES|EPERM)$/);
      await expectHostClean();
    });

    it('symlinks planted in the working dir lead into the sandbox root, not the host', async () => {
      const hostShadow = readFileSync('/etc/shadow', 'utf8');
      const hostRoot = readdirSync('/root');
      const rootfsBefore = readdirSync(ex.host.rootfs, { recursive: true }).map(String).sort();
      const getFile = vi.spyOn(Sandbox.prototype, 'getFile');
      try {
        const r = await py(program('symlinks.py'));
        expect(r.status).toBe('ok');
        const out = run(r).stdout;
        const v = lines(out);
        expect(v.shadow).toBe('FileNotFoundError');
        expect(v.up).toBe('FileNotFoundError');
        expect(v.root).toBe('FileNotFoundError');
        expect(v.hostproc).toMatch(/^(FileNotFoundError|PermissionError)$/);
        expect(v.init).toMatch(/^PermissionError$/);
        expect(v.cwd).toMatch(/^PermissionError$/);
        // /etc/passwd is the sandbox's generated one.
        expect(v.passwd).toContain('sandbox:x:1000:1000');
        for (const line of hostShadow.split('\n').filter((l) => l.includes(':$') || l.startsWith('root:'))) {
          expect(out).not.toContain(line);
        }
        for (const entry of hostRoot.filter((e) => e.length > 4)) expect(out).not.toContain(entry);
        // The executor never read a file back from the box.
        expect(getFile).not.toHaveBeenCalled();
      } finally {
        getFile.mockRestore();
      }
      // The prepared root on the host is unchanged.
      expect(readdirSync(ex.host.rootfs, { recursive: true }).map(String).sort()).toEqual(rootfsBefore);
      await expectHostClean();
    });

    it('reading a box file back never follows a symlink (getFile is answered inside the sandbox)', async () => {
      const sandbox = await Sandbox.start(ex.host, {
        memoryBytes: 64 * MiB,
        processes: 16,
        openFiles: 64,
        fileSizeBytes: MiB,
        workDirBytes: BOX_BYTES,
        tmpBytes: TMP_BYTES,
      });
      try {
        await sandbox.putFiles([{ name: 'plain.txt', content: Buffer.from('plain'), mode: 0o644 }]);
        const stage = await sandbox.runStage({
          argv: ['/usr/bin/bash', '-c', 'ln -s /etc/shadow shadow && ln -s /etc/passwd passwd && ln -s plain.txt alias && mkfifo fifo && echo made'],
          env: { PATH: '/usr/bin' },
          limits: { ...DEFAULT_LIMITS.run, wallTimeMs: 3000 },
        });
        expect(stage.stdout.toString()).toBe('made\n');
        expect((await sandbox.getFile('plain.txt'))?.content.toString()).toBe('plain');
        expect(await sandbox.getFile('shadow')).toBeNull();
        expect(await sandbox.getFile('passwd')).toBeNull();
        expect(await sandbox.getFile('alias')).toBeNull();
        expect(await sandbox.getFile('fifo')).toBeNull(); // and did not block on it
        expect(await sandbox.getFile('../etc/passwd')).toBeNull();
        expect(await sandbox.getFile('/etc/passwd')).toBeNull();
      } finally {
        await sandbox.destroy();
      }
      await expectHostClean();
    });
  });

  describe('blocked syscalls', () => {
    const syscalls = fixture('syscalls.c');

    it('the probe works: allowed calls succeed', async () => {
      const r = await c(syscalls, { wallTimeMs: 3000 }, ['controls']);
      expect(r.status).toBe('ok');
      const v = lines(run(r).stdout);
      for (const name of ['getpid', 'socket_unix', 'socket_netlink_route', 'clone_plain']) expect(v[name], name).toBe('OK');
      await expectHostClean();
    });

    it('every refused syscall and socket family fails', async () => {
      const r = await c(syscalls, { wallTimeMs: 3000 });
      const s = run(r);
      const v = lines(s.stdout);
      const expected = [
        'mount', 'mount_bind', 'umount2', 'unshare_user', 'unshare_ns', 'unshare_net', 'setns',
        'clone_newns', 'clone_newuser', 'clone_newpid', 'clone_newnet', 'clone3',
        'ptrace_traceme', 'ptrace_attach', 'process_vm_readv', 'process_vm_writev', 'bpf', 'perf_event_open',
        'keyctl', 'add_key', 'request_key', 'userfaultfd', 'io_uring_setup', 'pivot_root', 'chroot',
        'settimeofday', 'clock_settime', 'sethostname',
        'socket_inet', 'socket_inet_udp', 'socket_inet_raw', 'socket_inet6', 'socket_packet',
        'socket_netlink_audit', 'socket_netlink_uevent', 'socket_netlink_netfilter', 'socket_netlink_sock_diag',
        'socket_vsock', 'socket_alg',
      ];
      for (const name of expected) {
        expect(v[name], name).toBeDefined();
        expect(v[name], name).not.toBe('OK');
      }
      expect(v.clone3).toBe('ENOSYS');
      expect(v.mount).toBe('EPERM');
      expect(v.unshare_user).toBe('EPERM');
      // The x32 ABI (syscall number | 0x40000000): refused with an error, or the process killed by SIGSYS.
      for (const name of ['x32_unshare_user', 'x32_mount']) {
        if (v[name] !== undefined) expect(v[name], name).not.toBe('OK');
      }
      if (s.signal !== null) expect(s.signal).toBe('SIGSYS');
      else expect(r.status).toBe('ok');
      await expectHostClean();
    });

    it('the i386 ABI (int 0x80) is closed too, socketcall included', async () => {
      if (I386_SIGNAL[backend] === null) {
        // gVisor on a host with the 32-bit ABI: int 0x80 enters the Sentry's 64-bit table (39 is getpid
        // there, 20 is not), and the policy answers such a call as it answers the native one.
        const r = await c(syscalls, { wallTimeMs: 3000 }, ['i386-as-64']);
        expect(run(r).signal).toBeNull();
        expect(lines(run(r).stdout)).toEqual({
          int80_20_is_getpid: 'no',
          int80_39_is_getpid: 'yes',
          int80_272_unshare_user: 'EPERM',
          native_unshare_user: 'EPERM',
        });
        await expectHostClean();
        return;
      }
      // The probe reaches the kernel through int 0x80: allowed calls succeed there, unless the filter closes
      // the whole 32-bit ABI (then SIGSYS), so the failures below are the filter's answers.
      const control = await c(syscalls, { wallTimeMs: 3000 }, ['i386-controls']);
      if (run(control).signal !== null) expect(run(control).signal).toBe(I386_SIGNAL[backend]);
      else expect(lines(run(control).stdout)).toEqual({ i386_getpid: 'OK', i386_socket_unix: 'OK' });
      const r = await c(syscalls, { wallTimeMs: 3000 }, ['i386']);
      const s = run(r);
      const attempts = s.stdout.split('\n').filter(Boolean);
      // Either every attempt fails, or the filter kills 32-bit calls outright.
      const succeeded = attempts.filter((l) => l.endsWith('=OK'));
      expect(succeeded).toEqual([]);
      if (s.signal !== null) expect(s.signal).toBe(I386_SIGNAL[backend]);
      else expect(attempts).toHaveLength(15);
      await expectHostClean();
    });

    it.each([
      'kexec_load',
      'kexec_file_load',
      'init_module',
      'finit_module',
      'delete_module',
      'reboot',
      'swapon',
      'swapoff',
      'open_by_handle_at',
      'iopl',
      'ioperm',
    ])('%s kills the process with SIGSYS', async (name) => {
      const r = await c(syscalls, { wallTimeMs: 3000 }, ['kill', name]);
      expect(r.status).toBe('runtime_error');
      expect(run(r).signal).toBe('SIGSYS');
      expect(run(r).stdout).toBe('');
      await expectHostClean();
    });
  });
}, TEST_TIMEOUT_MS);
