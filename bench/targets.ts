/**
 * What the benchmark measures ("targets"), each behind one interface: the bare host process, polyrun as a
 * library without and with the warm pool, the HTTP service end to end, and isolate when it is installed.
 * Every target runs the same workload with the same argv (taken from the runtime manifests through the
 * planner, so the bare baseline cannot drift from what the sandbox runs) and checks the program's output,
 * so a fast wrong answer never counts.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access, constants as fsConstants, cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/api/app.js';
import { mergeLayers, validateConfig } from '../src/config/load.js';
import { defaultConfig } from '../src/config/schema.js';
import type { ExecutionRequest } from '../src/contract/request.js';
import type { ExecutionResult } from '../src/contract/result.js';
import { createExecutor, type SandboxExecutor } from '../src/executor/executor.js';
import { loadConfig } from '../src/config/load.js';
import type { BackendName } from '../src/sandbox/backend.js';
import { DEFAULT_LIMITS } from '../src/limits/limits.js';
import type { RuntimeManifest } from '../src/runtimes/manifest.js';
import { BASE_ENV, planExecution, type ExecutionPlan } from '../src/runtimes/plan.js';
import { findManifest } from '../src/runtimes/registry.js';
import type { PoolStats } from '../src/sandbox/pool.js';
import { Sandbox } from '../src/sandbox/sandbox.js';
import { HttpClient, type ClientAnswer } from './http-client.js';
import { parseProcStat } from './stats.js';

// --- workloads --------------------------------------------------------------------------------------

export interface Workload {
  id: string;
  title: string;
  language: string;
  files: { name: string; content: string }[];
  expectStdout: string;
}

const HELLO = 'hello\n';
/** ~130 ms of pure interpreter work on a 2024 server core: long enough that start-up costs stop dominating. */
const LOOP_N = 1_500_000;
const loopResult = (() => {
  let s = 0;
  for (let i = 0; i < LOOP_N; i++) s += (i * i) % 7;
  return `${s}\n`;
})();

export const WORKLOADS: readonly Workload[] = [
  { id: 'python-hello', title: 'python hello', language: 'python', files: [{ name: 'main.py', content: "print('hello')\n" }], expectStdout: HELLO },
  {
    id: 'c-hello',
    title: 'c hello',
    language: 'c',
    files: [{ name: 'main.c', content: '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' }],
    expectStdout: HELLO,
  },
  { id: 'js-hello', title: 'javascript hello', language: 'javascript', files: [{ name: 'main.js', content: "console.log('hello');\n" }], expectStdout: HELLO },
  {
    id: 'java-hello',
    title: 'java hello',
    language: 'java',
    files: [{ name: 'Main.java', content: 'public class Main {\n  public static void main(String[] args) {\n    System.out.println("hello");\n  }\n}\n' }],
    expectStdout: HELLO,
  },
  {
    id: 'python-loop',
    title: `python CPU loop (${LOOP_N / 1e6}M iterations)`,
    language: 'python',
    files: [{ name: 'main.py', content: `s = 0\nfor i in range(${LOOP_N}):\n    s += i * i % 7\nprint(s)\n` }],
    expectStdout: loopResult,
  },
];

/** c++ hello for the compile cache; `nonce` makes a source no cache has seen. */
export function cppHello(nonce?: string): Workload {
  const tag = nonce === undefined ? '' : `// ${nonce}\n`;
  return {
    id: 'cpp-hello',
    title: 'c++ hello',
    language: 'c++',
    files: [{ name: 'main.cpp', content: `${tag}#include <iostream>\nint main() { std::cout << "hello" << std::endl; }\n` }],
    expectStdout: HELLO,
  };
}

export function toRequest(w: Workload): ExecutionRequest {
  return { language: w.language, files: w.files.map((f) => ({ name: f.name, content: Buffer.from(f.content, 'utf8') })) };
}

// --- the interface --------------------------------------------------------------------------------

/** `http-<backend>`: the HTTP target in front of a warm executor on another sandbox backend. */
export type TargetId = 'bare' | 'cold' | 'warm' | 'http' | 'isolate' | `http-${BackendName}`;

export interface Sample {
  /** Wall time as the caller sees it, ms. */
  ms: number;
  /** Time the program's own stages took by polyrun's clock (compile + run), when the target reports it. */
  programMs?: number;
  /** The compile stage alone by polyrun's clock (0 on a cache hit). */
  compileMs?: number;
  compileCached?: boolean;
}

export interface Target {
  readonly id: TargetId;
  readonly title: string;
  /** One-time work per workload outside the timings (the bare host compiles here). */
  prepare(w: Workload): Promise<void>;
  /** One timed execution; throws when the program did not print what it should. */
  run(w: Workload): Promise<Sample>;
  /** Wait until background work of earlier runs is over (sandbox removal, pool refill). */
  quiesce(): Promise<void>;
  pool?(): PoolStats | undefined;
  close(): Promise<void>;
}

// --- bare host ------------------------------------------------------------------------------------

interface ExecOutcome {
  stdout: string;
  stderr: string;
}

export function run(file: string, args: string[], opts: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<ExecOutcome> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${err.message}${stderr ? `\n${String(stderr).slice(0, 500)}` : ''}`));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function checkStdout(w: Workload, got: string, where: string): void {
  if (got !== w.expectStdout) {
    throw new Error(`${where}: ${w.id} printed ${JSON.stringify(got.slice(0, 200))}, expected ${JSON.stringify(w.expectStdout)}`);
  }
}

/**
 * A workload's files in a host temp dir, compiled once with the manifest's compile argv, ready to run with
 * the manifest's run argv and env. HOME and TMPDIR point into the dir, as /tmp does in the sandbox.
 */
export class HostPrograms {
  private readonly prepared = new Map<string, { dir: string; plan: ExecutionPlan; compileMs?: number }>();

  private constructor(
    private readonly root: string,
    private readonly manifests: readonly RuntimeManifest[],
  ) {}

  static async create(manifests: readonly RuntimeManifest[]): Promise<HostPrograms> {
    return new HostPrograms(await mkdtemp(join(tmpdir(), 'polyrun-bench-host-')), manifests);
  }

  async prepare(w: Workload): Promise<{ dir: string; plan: ExecutionPlan; compileMs?: number }> {
    const existing = this.prepared.get(w.id);
    if (existing) return existing;
    const manifest = findManifest(this.manifests, w.language);
    if (!manifest) throw new Error(`no manifest for ${w.language}`);
    const plan = planExecution(manifest, toRequest(w).files, []);
    const dir = join(this.root, w.id);
    await mkdir(dir, { recursive: true });
    for (const f of plan.files) await writeFile(join(dir, f.name), f.content, { mode: f.mode });
    let compileMs: number | undefined;
    if (plan.compile) {
      const t0 = performance.now();
      await run(plan.compile.argv[0]!, plan.compile.argv.slice(1), { cwd: dir, env: this.env(plan.compile.env, dir) });
      compileMs = performance.now() - t0;
    }
    const entry = { dir, plan, ...(compileMs === undefined ? {} : { compileMs }) };
    this.prepared.set(w.id, entry);
    return entry;
  }

  env(stageEnv: Record<string, string>, dir: string): Record<string, string> {
    return { ...stageEnv, HOME: dir, TMPDIR: dir };
  }

  async close(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

export class BareTarget implements Target {
  readonly id = 'bare';
  readonly title = 'bare host process';

  constructor(private readonly programs: HostPrograms) {}

  async prepare(w: Workload): Promise<void> {
    await this.programs.prepare(w);
  }

  async run(w: Workload): Promise<Sample> {
    const { dir, plan } = await this.programs.prepare(w);
    const env = this.programs.env(plan.run.env, dir);
    const t0 = performance.now();
    const out = await run(plan.run.argv[0]!, plan.run.argv.slice(1), { cwd: dir, env });
    const ms = performance.now() - t0;
    checkStdout(w, out.stdout, this.id);
    return { ms };
  }

  async quiesce(): Promise<void> {}
  async close(): Promise<void> {}
}

// --- polyrun as a library -------------------------------------------------------------------------

/**
 * Wait until the pool holds its target. Only calls pool.warm() when something is missing: before commit
 * 7edf152, warm() on a full, idle pool left the pool unable to refill ever again (docs/benchmarks.md).
 */
export async function warmPool(ex: SandboxExecutor, timeoutMs = 30_000): Promise<void> {
  if (!ex.pool) return;
  const s = ex.pool.snapshot();
  if (s.ready >= s.target) return;
  await ex.pool.warm(timeoutMs);
}

function checkResult(w: Workload, r: ExecutionResult, where: string): void {
  if (r.status !== 'ok') {
    const detail = (r.compile?.stderr || r.run?.stderr || '').slice(0, 300);
    throw new Error(`${where}: ${w.id} ended with status ${r.status}: ${detail}`);
  }
  checkStdout(w, r.run?.stdout ?? '', where);
}

function sampleOf(ms: number, r: ExecutionResult): Sample {
  const programMs = (r.compile?.wallTimeMs ?? 0) + (r.run?.wallTimeMs ?? 0);
  return { ms, programMs, ...(r.compile ? { compileMs: r.compile.wallTimeMs, compileCached: r.compile.cached === true } : {}) };
}

export class LibraryTarget implements Target {
  constructor(
    readonly id: 'cold' | 'warm',
    readonly title: string,
    readonly executor: SandboxExecutor,
  ) {}

  async prepare(): Promise<void> {}

  async run(w: Workload): Promise<Sample> {
    const t0 = performance.now();
    const r = await this.executor.execute(toRequest(w));
    const ms = performance.now() - t0;
    checkResult(w, r, this.id);
    return sampleOf(ms, r);
  }

  async quiesce(): Promise<void> {
    await this.executor.settle();
    await warmPool(this.executor);
  }

  pool(): PoolStats | undefined {
    return this.executor.pool?.snapshot();
  }

  async close(): Promise<void> {}
}

// --- the HTTP service -------------------------------------------------------------------------------

export class HttpTarget implements Target {
  private constructor(
    private readonly app: FastifyInstance,
    readonly url: string,
    private readonly executor: SandboxExecutor,
    private readonly dataDir: string,
    private readonly client: HttpClient,
    readonly id: TargetId,
    readonly title: string,
  ) {}

  /**
   * The real service (buildApp: auth off, the whole pipeline, the in-process queue) on 127.0.0.1, a free
   * port, in front of `executor` (which it does not close), asked by a client in a process of its own
   * (bench/http-client-main.ts says why). Rate limits and quotas of the anonymous tenant are raised out of
   * the way: the bench measures execution, not the limiter.
   */
  static async start(
    executor: SandboxExecutor,
    slots: number,
    id: TargetId = 'http',
    title = 'HTTP end to end (POST /v1/execute, warm pool)',
  ): Promise<HttpTarget> {
    const dataDir = await mkdtemp(join(tmpdir(), 'polyrun-bench-http-'));
    const config = validateConfig(
      mergeLayers(defaultConfig(cpus().length), {
        host: '127.0.0.1',
        port: 0,
        dataDir,
        auth: false,
        logLevel: 'silent',
        slots,
        anonymousPolicy: {
          rate: { perSecond: 100_000, burst: 100_000 },
          quota: { concurrent: 10_000, executionsPerDay: 1_000_000_000, cpuSecondsPerDay: 1_000_000_000 },
        },
      }),
    );
    const app = await buildApp({ config, executor, closeExecutor: false });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('the service did not report a TCP address');
    return new HttpTarget(app, `http://127.0.0.1:${address.port}`, executor, dataDir, HttpClient.start(), id, title);
  }

  async prepare(): Promise<void> {}

  async run(w: Workload): Promise<Sample> {
    const body = JSON.stringify({ language: w.language, files: w.files });
    const { ms, status, text } = await this.client.request('POST', `${this.url}/v1/execute`, body);
    const result = JSON.parse(text) as ExecutionResult & { error?: { code: string; message: string } };
    if (status !== 200) throw new Error(`http: ${w.id}: HTTP ${status} ${result.error?.code}: ${result.error?.message}`);
    checkResult(w, result, this.id);
    return sampleOf(ms, result);
  }

  async quiesce(): Promise<void> {
    await this.executor.settle();
    await warmPool(this.executor);
  }

  pool(): PoolStats | undefined {
    return this.executor.pool?.snapshot();
  }

  /**
   * The HTTP path without an execution: a public route (transport + Fastify), an authenticated GET
   * (auth, rate limit), and POST /v1/execute of an unknown language, which goes through the whole pipeline
   * up to validation (auth, rate limit, quota with its usage store, schema) and is refused there.
   */
  async measurePipeline(runs: number): Promise<Record<string, number[]>> {
    const refused = JSON.stringify({ language: 'no-such-language', files: [{ name: 'main.py', content: "print('hello')\n" }] });
    const probes: [string, () => Promise<ClientAnswer>][] = [
      ['HTTP GET /healthz (keep-alive round trip)', () => this.client.request('GET', `${this.url}/healthz`)],
      ['HTTP GET /v1/runtimes (auth + rate limit)', () => this.client.request('GET', `${this.url}/v1/runtimes`)],
      ['HTTP POST /v1/execute refused at validation (pipeline, no execution)', () => this.client.request('POST', `${this.url}/v1/execute`, refused)],
    ];
    const out: Record<string, number[]> = {};
    for (const [name, probe] of probes) {
      out[name] = [];
      for (let i = 0; i < runs + 3; i++) {
        const { ms } = await probe();
        if (i >= 3) out[name]!.push(ms);
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.app.close();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

// --- isolate (IOI's sandbox), when installed -------------------------------------------------------------

/** The isolate binary on PATH (or $BENCH_ISOLATE), or null. */
export async function findIsolate(): Promise<string | null> {
  const candidates = process.env.BENCH_ISOLATE
    ? [process.env.BENCH_ISOLATE]
    : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'isolate'));
  for (const c of candidates) {
    try {
      await access(c, fsConstants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return null;
}

/**
 * isolate per execution: --init, copy the prepared (host-compiled) files into the box, --run with the same
 * argv, --cleanup; the timing covers all three, which is what a judge using isolate pays per job (the
 * counterpart of polyrun's cold row). /etc is bound read-only for the JVM's and Python's configuration.
 */
export class IsolateTarget implements Target {
  readonly id = 'isolate';
  readonly title = 'isolate (init + run + cleanup)';
  private readonly boxId = 97;

  constructor(
    private readonly binary: string,
    private readonly programs: HostPrograms,
  ) {}

  async prepare(w: Workload): Promise<void> {
    await this.programs.prepare(w);
  }

  async run(w: Workload): Promise<Sample> {
    const { dir, plan } = await this.programs.prepare(w);
    const box = `--box-id=${this.boxId}`;
    const env = Object.entries({ ...plan.run.env, HOME: '/box', TMPDIR: '/tmp' }).map(([k, v]) => `--env=${k}=${v}`);
    const opts = { cwd: dir, env: { PATH: BASE_ENV.PATH ?? '/usr/bin:/bin' } };
    const t0 = performance.now();
    let out: ExecOutcome;
    try {
      const init = await run(this.binary, [box, '--init'], opts);
      const boxDir = join(init.stdout.trim(), 'box');
      for (const name of await readdir(dir)) await cp(join(dir, name), join(boxDir, name), { recursive: true });
      out = await run(this.binary, [box, '--processes=64', '--dir=/etc', '--time=10', '--wall-time=20', ...env, '--run', '--', ...plan.run.argv], opts);
    } finally {
      await run(this.binary, [box, '--cleanup'], opts).catch(() => undefined);
    }
    const ms = performance.now() - t0;
    checkStdout(w, out.stdout, this.id);
    return { ms };
  }

  async quiesce(): Promise<void> {}
  async close(): Promise<void> {}
}

// --- creating polyrun -----------------------------------------------------------------------------

export interface Polyrun {
  cold: SandboxExecutor;
  warm: SandboxExecutor;
  dataDirs: string[];
  close(): Promise<void>;
}

/**
 * Two executors, each with its own empty temp data dir (so each compile cache starts empty and is only ever
 * written by its own instance): `cold` starts a sandbox per execution, `warm` has the pool (slots = cores,
 * the service's default) and also serves the HTTP target.
 */
export async function createPolyrun(languages: string[], slots: number, log: (msg: string) => void): Promise<Polyrun> {
  const dataDirs = [await mkdtemp(join(tmpdir(), 'polyrun-bench-cold-')), await mkdtemp(join(tmpdir(), 'polyrun-bench-warm-'))];
  const logger = (level: string, msg: string, fields?: Record<string, unknown>) => {
    if (level !== 'info') log(`polyrun ${level}: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
  };
  const cold = await createExecutor({ dataDir: dataDirs[0]!, languages, pool: false, log: logger });
  const warm = await createExecutor({ dataDir: dataDirs[1]!, languages, pool: true, slots, log: logger });
  return {
    cold,
    warm,
    dataDirs,
    close: async () => {
      await Promise.all([cold.close(), warm.close()]);
      for (const d of dataDirs) await rm(d, { recursive: true, force: true });
    },
  };
}

/**
 * A warm-pool executor on another sandbox backend (its own temp data dir), for the per-backend HTTP rows.
 * The service's configuration (env included) with sandbox.backend set.
 */
export async function createBackendExecutor(
  backend: BackendName,
  languages: string[],
  slots: number,
  log: (msg: string) => void,
): Promise<{ executor: SandboxExecutor; close(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), `polyrun-bench-${backend}-`));
  const base = loadConfig([]).config;
  const config = { ...base, sandbox: { ...base.sandbox, backend } };
  const logger = (level: string, msg: string, fields?: Record<string, unknown>) => {
    if (level !== 'info') log(`polyrun (${backend}) ${level}: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
  };
  const executor = await createExecutor({ config, dataDir, languages, pool: true, slots, log: logger });
  return {
    executor,
    close: async () => {
      await executor.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

// --- where the time of one warm execution goes ----------------------------------------------------------

export interface StageBreakdown {
  /** step -> wall time samples, ms */
  samples: Record<string, number[]>;
  /** step -> machine-wide CPU samples (/proc/stat, 10 ms jiffies: only their mean means something), ms */
  cpu: Record<string, number[]>;
}

function machineBusyMs(): number {
  return (parseProcStat(readFileSync('/proc/stat', 'utf8')).busy * 1000) / 100;
}

/**
 * Drives the sandbox primitives the executor uses, one at a time, with the same host and pool shape:
 * sandbox start (what the pool pre-pays), putFiles, the cgroup reads/writes runStage does before a stage,
 * runStage of /usr/bin/true and of python hello (alone, and next to a starting sandbox as after a pool
 * take), and destroy (off the request path, but it costs CPU);
 * plus the bare host running the same two programs. Sequential, with nothing else in flight.
 */
export async function measureStages(ex: SandboxExecutor, programs: HostPrograms, python: Workload, runs: number): Promise<StageBreakdown> {
  const samples: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  const time = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const c0 = machineBusyMs();
    const t0 = performance.now();
    const v = await f();
    (samples[name] ??= []).push(performance.now() - t0);
    (cpu[name] ??= []).push(machineBusyMs() - c0);
    return v;
  };
  const shape = ex.shapeFor(ex.maxLimits);
  const limits = DEFAULT_LIMITS.run;
  const { dir, plan } = await programs.prepare(python);
  const hostEnv = programs.env(plan.run.env, dir);
  await ex.settle();
  for (let i = 0; i < runs + 1; i++) {
    const warmup = i === 0;
    const sb = await time('sandbox start (bwrap or runc run, + init hello)', () => Sandbox.start(ex.host, shape));
    try {
      await time('putFiles (1 small file)', () => sb.putFiles(plan.files));
      await time('cgroup ops before a stage (setLimits, peak meter, cpu, oom)', async () => {
        await sb.cgroup.setLimits(limits.memoryBytes, limits.processes);
        sb.cgroup.startPeakMeter().close();
        await sb.cgroup.cpuUsageMicros();
        await sb.cgroup.oomKills();
      });
      const t = await time('runStage /usr/bin/true', () => sb.runStage({ argv: ['/usr/bin/true'], env: { ...BASE_ENV }, limits }));
      if (t.exitCode !== 0) throw new Error(`runStage /usr/bin/true: exit ${t.exitCode} ${t.sandboxError ?? ''}`);
      const p = await time('runStage python hello', () => sb.runStage({ argv: plan.run.argv, env: plan.run.env, limits }));
      if (p.stdout.toString() !== python.expectStdout) throw new Error(`runStage python: ${p.stderr.toString().slice(0, 200)} ${p.sandboxError ?? ''}`);
      // What a warm execution really meets: take() starts the replacement sandbox at once, so runc runs
      // next to the program.
      const refill = Sandbox.start(ex.host, shape);
      const q = await time('runStage python hello while a sandbox starts (as after a pool take)', () =>
        sb.runStage({ argv: plan.run.argv, env: plan.run.env, limits }),
      );
      await (await refill).destroy();
      if (q.stdout.toString() !== python.expectStdout) throw new Error(`runStage python: ${q.stderr.toString().slice(0, 200)} ${q.sandboxError ?? ''}`);
    } finally {
      await time('destroy (off the request path)', () => sb.destroy());
    }
    await time('bare /usr/bin/true', () => run('/usr/bin/true', [], { cwd: dir, env: hostEnv }));
    await time('bare python hello', () => run(plan.run.argv[0]!, plan.run.argv.slice(1), { cwd: dir, env: hostEnv }));
    if (warmup) {
      // Two arrays: one shared array would mix wall and CPU samples in the breakdown.
      for (const k of Object.keys(samples)) {
        samples[k] = [];
        cpu[k] = [];
      }
    }
  }
  return { samples, cpu };
}
