/**
 * `npm run bench`: polyrun against the bare machine, in one process and one run.
 *
 *   1. latency: each workload on each target (bare, cold, warm pool, HTTP, isolate if installed),
 *      warm-ups then timed runs, interleaved run by run, everything quiet before each sample;
 *   2. throughput at saturation (2 x cores in flight) with machine CPU per execution;
 *   3. the compile cache on c++ hello (first compile vs repeated);
 *   4. the sandbox primitives one by one, to show where the time goes;
 * then the goals are checked and docs/benchmarks.md is written.
 *
 * Environment: BENCH_RUNS (timed runs per latency cell, default 50; the other counts scale with it),
 * BENCH_WARMUPS (3), BENCH_THROUGHPUT_COUNT (default 2 x BENCH_RUNS = 100), BENCH_OUT (the markdown file,
 * default docs/benchmarks.md; "-" prints it only), BENCH_ISOLATE (path of an isolate binary),
 * BENCH_BACKENDS (the sandbox backends that get an HTTP row beside the configured one's; default all the
 * host has: oci, bwrap, gvisor).
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifests } from '../src/runtimes/registry.js';
import type { BackendName } from '../src/sandbox/backend.js';
import { bwrapBlocker, gvisorBlocker, hostFacts } from '../src/sandbox/backends/choose.js';
import {
  cpuMsPerExecution,
  busyShare,
  evaluateGoals,
  halves,
  parseProcStat,
  summarize,
  type CpuTimes,
} from './stats.js';
import {
  BareTarget,
  HostPrograms,
  HttpTarget,
  IsolateTarget,
  LibraryTarget,
  WORKLOADS,
  cppHello,
  createBackendExecutor,
  createPolyrun,
  findIsolate,
  measureStages,
  warmPool,
  type Target,
  type Workload,
} from './targets.js';
import { judgeLines, measureJudge, type JudgeBenchResult } from './judge.js';
import { measureLifecycles } from './lifecycle.js';
import { latencyLines, lifecycleLines, renderMarkdown, throughputLines, type BenchResults, type CacheResult, type LatencyCell, type ThroughputCell } from './report.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** bench/ in the sources, dist/bench/ when compiled. */
const PROJECT_ROOT = resolve(HERE, basename(dirname(HERE)) === 'dist' ? '../..' : '..');

const LANGUAGES = ['python', 'c', 'c++', 'javascript', 'java'];
const THROUGHPUT_WORKLOADS = ['python-hello', 'python-loop'];

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer (got "${raw}")`);
  return n;
}

const started = performance.now();
function log(msg: string): void {
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);
}

/** The sandbox backends benchmarked beside the main one: BENCH_BACKENDS (comma-separated), else all this host has. */
function otherBackends(main: BackendName): BackendName[] {
  const facts = hostFacts({ launcher: resolve(PROJECT_ROOT, 'build', 'polyrun-launch'), seccompCompiler: resolve(PROJECT_ROOT, 'build', 'polyrun-seccomp-bpf') });
  const all: BackendName[] = ['oci', ...(bwrapBlocker(facts) ? [] : ['bwrap' as const]), ...(gvisorBlocker(facts) ? [] : ['gvisor' as const])];
  const wanted = process.env.BENCH_BACKENDS?.split(',').filter(Boolean);
  return all.filter((b) => b !== main && (!wanted || wanted.includes(b)));
}

function readCpu(): CpuTimes {
  return parseProcStat(readFileSync('/proc/stat', 'utf8'));
}

/** USER_HZ: 100 on every Linux architecture Node runs on; getconf is not worth a process. */
const CLOCK_TICKS = 100;

function cgroupModeDescription(mode: string): string {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return `${mode} (unified: cgroup2 only)`;
  if (existsSync('/sys/fs/cgroup/unified')) return `${mode} (hybrid: v1 controllers, cgroup2 mounted at /sys/fs/cgroup/unified)`;
  return `${mode} (legacy: v1 only)`;
}

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const runs = intEnv('BENCH_RUNS', 50);
  const warmups = intEnv('BENCH_WARMUPS', 3);
  const cores = cpus().length;
  const concurrency = 2 * cores;
  const throughputCount = intEnv('BENCH_THROUGHPUT_COUNT', Math.max(2 * concurrency, 2 * runs));
  const cacheRuns = Math.max(3, Math.round(runs / 6));
  const stageRuns = Math.max(5, Math.round(runs / 3));
  const loadBefore = loadavg();
  // How busy the machine is before the bench does anything: other work here is noise in every number.
  const idle0 = readCpu();
  await new Promise((r) => setTimeout(r, 1000));
  const busyBefore = busyShare(idle0, readCpu());
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  log(`${cores} cores; ${runs} runs per latency cell after ${warmups} warm-ups; throughput ${throughputCount} executions at ${concurrency} in flight`);

  const manifests = await loadManifests();
  const programs = await HostPrograms.create(manifests);
  log('starting polyrun: a cold executor, a warm-pool executor, the HTTP service in front of the warm one');
  const polyrun = await createPolyrun(LANGUAGES, cores, log);
  const closers: (() => Promise<void>)[] = [() => programs.close(), () => polyrun.close()];
  let closing: Promise<void> | undefined;
  const closeAll = () => (closing ??= (async () => {
    for (const c of closers.reverse()) await c().catch((err: Error) => log(`cleanup: ${err.message}`));
  })());
  process.once('SIGINT', () => {
    log('interrupted: cleaning up sandboxes');
    void closeAll().finally(() => process.exit(130));
  });

  try {
    const http = await HttpTarget.start(polyrun.warm, cores);
    closers.push(() => http.close());
    log(`service listening on ${http.url}`);
    const bare = new BareTarget(programs);
    const cold = new LibraryTarget('cold', 'polyrun library, cold (no pool)', polyrun.cold);
    const warm = new LibraryTarget('warm', 'polyrun library, warm pool', polyrun.warm);
    const targets: Target[] = [bare, cold, warm, http];
    // One more HTTP row per other sandbox backend this host has (BENCH_BACKENDS=bwrap,gvisor picks them).
    const mainBackend = polyrun.warm.host.choice.backend;
    const backendHosts = [polyrun.warm.host];
    for (const backend of otherBackends(mainBackend)) {
      try {
        log(`starting a warm executor and the HTTP service on the ${backend} backend`);
        const extra = await createBackendExecutor(backend, LANGUAGES, cores, log);
        closers.push(() => extra.close());
        backendHosts.push(extra.executor.host);
        const target = await HttpTarget.start(extra.executor, cores, `http-${backend}`, `HTTP end to end, warm pool, ${backend} backend`);
        closers.push(() => target.close());
        targets.push(target);
      } catch (err) {
        log(`${backend}: could not start (${(err as Error).message.split('\n')[0]}), no row`);
      }
    }
    const isolateBinary = await findIsolate();
    const isolateNote = isolateBinary
      ? `isolate found at ${isolateBinary}: its row times --init + copy + --run + --cleanup per execution (the counterpart of polyrun's cold row), same argv, host-compiled binaries.`
      : 'No `isolate` binary is installed on this machine (looked on PATH and at $BENCH_ISOLATE), so there is no isolate row. Install isolate (https://github.com/ioi/isolate) and re-run to get one.';
    if (isolateBinary) targets.push(new IsolateTarget(isolateBinary, programs));
    log(isolateBinary ? `isolate: ${isolateBinary}` : 'isolate: not installed, row skipped');

    const available = WORKLOADS.filter((w) => {
      const ok = polyrun.warm.findRuntime(w.language) !== undefined;
      if (!ok) log(`${w.title}: runtime ${w.language} is not available on this host (scripts/setup --all installs it), skipped`);
      return ok;
    });

    const quiesceAll = async () => {
      for (const t of targets) await t.quiesce();
    };
    await warmPool(polyrun.warm);

    // 1. latency ------------------------------------------------------------------------------------
    const latency: LatencyCell[] = [];
    for (const w of available) {
      log(`latency: ${w.title}`);
      const cells = new Map<Target, LatencyCell>();
      for (const t of targets) {
        const c: LatencyCell = { workload: w.id, workloadTitle: w.title, target: t.id, samples: [], programMs: [] };
        if (t.pool?.()) c.pool = { hits: 0, misses: 0 };
        cells.set(t, c);
        try {
          await t.prepare(w);
          for (let i = 0; i < warmups; i++) {
            await quiesceAll();
            await t.run(w);
          }
        } catch (err) {
          c.error = (err as Error).message.split('\n')[0];
          log(`  ${t.id}: ${c.error}`);
        }
      }
      for (let i = 0; i < runs; i++) {
        // Rotate the order each round, so no target always runs right after another one.
        for (let k = 0; k < targets.length; k++) {
          const t = targets[(i + k) % targets.length]!;
          const c = cells.get(t)!;
          if (c.error) continue;
          await quiesceAll();
          const before = t.pool?.();
          try {
            const s = await t.run(w);
            c.samples.push(s.ms);
            if (s.programMs !== undefined) c.programMs.push(s.programMs);
          } catch (err) {
            c.error = (err as Error).message.split('\n')[0];
            log(`  ${t.id}: ${c.error}`);
          }
          const after = t.pool?.();
          if (c.pool && before && after) {
            c.pool.hits += after.hits - before.hits;
            c.pool.misses += after.misses - before.misses;
          }
        }
      }
      for (const c of cells.values()) latency.push(c);
      for (const line of latencyLines([...cells.values()])) log(`  ${line}`);
    }

    // 2. throughput -----------------------------------------------------------------------------------
    const throughput: ThroughputCell[] = [];
    const tpTargets = targets.filter((t) => t.id !== 'isolate' || isolateBinary);
    for (const w of available.filter((x) => THROUGHPUT_WORKLOADS.includes(x.id))) {
      log(`throughput: ${w.title}`);
      const acc = new Map<Target, ThroughputCell & { cpuBefore?: CpuTimes }>();
      const [first, second] = halves(throughputCount);
      const schedule: [Target, number][] = [...tpTargets.map((t) => [t, first] as [Target, number]), ...[...tpTargets].reverse().map((t) => [t, second] as [Target, number])];
      for (const [t, n] of schedule) {
        const cell =
          acc.get(t) ??
          ({
            workload: w.id,
            workloadTitle: w.title,
            target: t.id,
            count: 0,
            concurrency,
            wallMs: 0,
            perSecond: 0,
            machineCpuMs: 0,
            benchCpuMs: 0,
            busyShare: 0,
            ...(t.pool?.() ? { pool: { hits: 0, misses: 0 } } : {}),
          } as ThroughputCell);
        acc.set(t, cell);
        if (cell.error || n === 0) continue;
        try {
          await quiesceAll();
          const cpu0 = readCpu();
          const own0 = process.cpuUsage();
          const pool0 = t.pool?.();
          const t0 = performance.now();
          let next = 0;
          const worker = async () => {
            while (next < n) {
              next++;
              await t.run(w);
            }
          };
          await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
          // Until the cleanup and the refill the executions caused are over too: the pool started full and
          // ends full, so time and CPU below are exactly n executions' worth, nothing left for later.
          await quiesceAll();
          const wall = performance.now() - t0;
          const cpu1 = readCpu();
          const own = process.cpuUsage(own0);
          const pool1 = t.pool?.();
          cell.count += n;
          cell.wallMs += wall;
          // Totals here, divided by the count at the end.
          cell.machineCpuMs += cpuMsPerExecution(cpu0, cpu1, CLOCK_TICKS, 1);
          cell.benchCpuMs += (own.user + own.system) / 1000;
          cell.busyShare += busyShare(cpu0, cpu1) * wall;
          if (cell.pool && pool0 && pool1) {
            cell.pool.hits += pool1.hits - pool0.hits;
            cell.pool.misses += pool1.misses - pool0.misses;
          }
        } catch (err) {
          cell.error = (err as Error).message.split('\n')[0];
          log(`  ${t.id}: ${cell.error}`);
        }
      }
      const cells = [...acc.values()].map((c) => {
        if (c.error || c.count === 0) return c;
        return {
          ...c,
          perSecond: (c.count * 1000) / c.wallMs,
          machineCpuMs: c.machineCpuMs / c.count,
          benchCpuMs: c.benchCpuMs / c.count,
          busyShare: c.busyShare / c.wallMs,
        };
      });
      throughput.push(...cells);
      for (const line of throughputLines(cells)) log(`  ${line}`);
    }

    // 3. compile cache ----------------------------------------------------------------------------------
    log('compile cache: c++ hello');
    const cache: CacheResult = { miss: [], hit: [], missCompileMs: [], bareCompileMs: [] };
    try {
      const nonce = () => `bench ${Date.now()} ${Math.random().toString(36).slice(2)}`;
      await quiesceAll();
      const first = await warm.run(cppHello(nonce()));
      if (first.compileCached !== false) throw new Error('the first c++ execution did not compile');
      cache.firstMs = first.ms;
      const repeated = cppHello();
      await quiesceAll();
      await warm.run(repeated); // puts the repeated source in the cache
      const hitRuns = Math.max(cacheRuns, runs);
      for (let i = 0; i < hitRuns; i++) {
        if (i < cacheRuns) {
          await quiesceAll();
          const miss = await warm.run(cppHello(nonce()));
          if (miss.compileCached !== false) throw new Error('a fresh c++ source was served from the cache');
          cache.miss.push(miss.ms);
          if (miss.compileMs !== undefined) cache.missCompileMs.push(miss.compileMs);
          const w = cppHello(nonce());
          const host = await programs.prepare({ ...w, id: `cpp-${i}` });
          if (host.compileMs !== undefined) cache.bareCompileMs.push(host.compileMs);
        }
        await quiesceAll();
        const hit = await warm.run(repeated);
        if (hit.compileCached !== true) throw new Error('a repeated c++ source was compiled again (no cache hit)');
        cache.hit.push(hit.ms);
      }
      const ccache = polyrun.warm.compileCache;
      if (ccache) cache.stats = { hits: ccache.stats.hits, misses: ccache.stats.misses, entries: ccache.size, bytes: ccache.bytes };
    } catch (err) {
      cache.error = (err as Error).message.split('\n')[0];
      log(`  ${cache.error}`);
    }

    // 4. where the time goes ----------------------------------------------------------------------------
    log('sandbox primitives one by one');
    await quiesceAll();
    const pythonHello = WORKLOADS.find((w) => w.id === 'python-hello') as Workload;
    const stages: BenchResults['stages'] = { samples: {}, cpu: {} };
    try {
      const probe = await measureStages(polyrun.warm, programs, pythonHello, stageRuns);
      Object.assign(stages.samples, probe.samples, await http.measurePipeline(stageRuns * 2));
      Object.assign(stages.cpu, probe.cpu);
    } catch (err) {
      log(`  stage probe failed: ${(err as Error).message}`);
    }

    // 5. a judge: 100 cases of c++ a+b against the bare machine ------------------------------------------
    log('judge: 100 cases of c++ a+b');
    await quiesceAll();
    let judge: JudgeBenchResult;
    try {
      judge = await measureJudge(polyrun.cold, programs);
    } catch (err) {
      judge = { cases: 0, repeats: 0, rows: [], error: (err as Error).message.split('\n')[0] };
    }
    for (const line of judgeLines(judge)) log(`  ${line}`);

    // 6. CPU of one sandbox's life per backend (process CPU time: other load on the machine is not in it)
    log('CPU of one sandbox life per backend');
    await quiesceAll();
    const lifecycle = await measureLifecycles(backendHosts, Math.max(20, runs));
    for (const line of lifecycleLines(lifecycle)) log(`  ${line}`);

    // goals and report ------------------------------------------------------------------------------
    const p50 = (workload: string, target: string) => {
      const c = latency.find((x) => x.workload === workload && x.target === target && !x.error && x.samples.length);
      return c ? summarize(c.samples).p50 : undefined;
    };
    const tp = (workload: string, target: string) => throughput.find((x) => x.workload === workload && x.target === target && !x.error && x.count)?.perSecond;
    const goals = evaluateGoals({
      barePythonP50: p50('python-hello', 'bare'),
      warmPythonP50: p50('python-hello', 'warm'),
      httpPythonP50: p50('python-hello', 'http'),
      barePythonThroughput: tp('python-hello', 'bare'),
      polyrunPythonThroughput: tp('python-hello', 'http'),
      polyrunThroughputMode: 'the HTTP service',
      ...(cache.error || !cache.miss.length ? {} : { cppMissP50: summarize(cache.miss).p50, cppHitP50: summarize(cache.hit).p50 }),
    });

    const results: BenchResults = {
      facts: {
        date,
        cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
        cores,
        memoryGiB: totalmem() / 1024 ** 3,
        kernel: release(),
        os: osName(),
        ociRuntime: `${polyrun.warm.host.choice.backend}: ${await polyrun.warm.host.backend.version().catch(() => 'version unknown')}`,
        cgroupMode: cgroupModeDescription(polyrun.warm.host.layout.mode),
        node: process.version,
        loadBefore,
        loadAfter: loadavg(),
        busyBefore,
      },
      settings: { runs, warmups, throughputCount, concurrency, slots: cores, cacheRuns, stageRuns },
      targets: targets.map((t) => ({ id: t.id, title: t.title })),
      isolate: { found: isolateBinary, note: isolateNote },
      latency,
      throughput,
      cache,
      stages,
      judge,
      lifecycle,
      goals,
      durationS: (performance.now() - started) / 1000,
    };
    const markdown = renderMarkdown(results);
    const out = process.env.BENCH_OUT ?? resolve(PROJECT_ROOT, 'docs', 'benchmarks.md');
    if (out === '-') process.stdout.write(markdown + '\n');
    else {
      await writeFile(out, markdown + '\n');
      log(`wrote ${out}`);
    }

    process.stdout.write('\nLatency (sequential):\n' + latencyLines(latency).map((l) => `  ${l}`).join('\n') + '\n');
    process.stdout.write('\nThroughput at saturation:\n' + throughputLines(throughput).map((l) => `  ${l}`).join('\n') + '\n');
    process.stdout.write('\nCPU of one sandbox life (start, python hello, destroy):\n' + lifecycleLines(lifecycle).map((l) => `  ${l}`).join('\n') + '\n');
    process.stdout.write('\nGoals:\n');
    for (const g of goals) process.stdout.write(`  [${g.met === null ? 'n/a' : g.met ? 'met' : 'NOT MET'}] ${g.goal}: ${g.measured}\n`);
    if (!isolateBinary) process.stdout.write('\nisolate: not installed, no isolate row (see docs/benchmarks.md).\n');
  } finally {
    await closeAll();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
