/**
 * The benchmark's results as data, and their rendering: the markdown of docs/benchmarks.md and the
 * console lines ("warm p50 = 1.4x bare, +4.1 ms"). Pure: no I/O.
 */
import { fmtMs, fmtRatio, formatLatencyVsBare, formatThroughputVsBare, summarize, type GoalResult, type Summary } from './stats.js';
import type { LifecycleCost } from './lifecycle.js';
import type { TargetId } from './targets.js';
import type { JudgeBenchResult } from './judge.js';

export interface MachineFacts {
  date: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  ociRuntime: string;
  cgroupMode: string;
  node: string;
  loadBefore: number[];
  loadAfter: number[];
  /** share of the machine busy during 1 s before the bench started (other work) */
  busyBefore: number;
}

export interface Settings {
  runs: number;
  warmups: number;
  throughputCount: number;
  concurrency: number;
  slots: number;
  cacheRuns: number;
  stageRuns: number;
}

export interface TargetInfo {
  id: TargetId;
  title: string;
}

export interface LatencyCell {
  workload: string;
  workloadTitle: string;
  target: TargetId;
  samples: number[];
  /** compile + run wall time by polyrun's clock, per sample */
  programMs: number[];
  /** pool hits and misses during the timed runs (warm and http share one pool) */
  pool?: { hits: number; misses: number };
  error?: string;
}

export interface ThroughputCell {
  workload: string;
  workloadTitle: string;
  target: TargetId;
  count: number;
  concurrency: number;
  wallMs: number;
  perSecond: number;
  /** machine-wide CPU (all processes, /proc/stat) per execution, ms */
  machineCpuMs: number;
  /** this Node process's own CPU (process.cpuUsage) per execution, ms */
  benchCpuMs: number;
  busyShare: number;
  pool?: { hits: number; misses: number };
  error?: string;
}

export interface CacheResult {
  /** c++ hello through the warm executor, a source no cache has seen: ms per execution */
  miss: number[];
  /** the same source again: ms per execution */
  hit: number[];
  /** the compile stage alone on a miss, by polyrun's clock */
  missCompileMs: number[];
  /** g++ of the same file on the host */
  bareCompileMs: number[];
  /** the very first execution, with an empty cache dir */
  firstMs?: number;
  stats?: { hits: number; misses: number; entries: number; bytes: number };
  error?: string;
}

export interface BenchResults {
  facts: MachineFacts;
  settings: Settings;
  targets: TargetInfo[];
  isolate: { found: string | null; note: string };
  latency: LatencyCell[];
  throughput: ThroughputCell[];
  cache: CacheResult;
  /** step -> samples, ms: wall time, and machine CPU where measured */
  stages: { samples: Record<string, number[]>; cpu: Record<string, number[]> };
  /** 100 judge cases against 100 bare runs (bench/judge.ts); absent in reports made before it existed. */
  judge?: JudgeBenchResult;
  /** CPU of one sandbox life per backend, from process CPU time (bench/lifecycle.ts). */
  lifecycle?: LifecycleCost[];
  goals: GoalResult[];
  durationS: number;
}

const SHORT: Record<string, string> = { bare: 'bare', cold: 'cold', warm: 'warm pool', http: 'HTTP e2e', isolate: 'isolate' };
/** A target's short name; the per-backend HTTP rows (`http-<backend>`) are "HTTP <backend>". */
function targetShort(id: TargetId): string {
  return SHORT[id] ?? (id.startsWith('http-') ? `HTTP ${id.slice(5)}` : id);
}

function cell(x: number): string {
  return Number.isFinite(x) ? fmtMs(x) : 'n/a';
}

function table(head: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  const sep = head.map((_, i) => ((align?.[i] ?? 'l') === 'r' ? '---:' : '---'));
  return [head, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

function p50Of(cells: LatencyCell[], workload: string, target: TargetId): Summary | undefined {
  const c = cells.find((x) => x.workload === workload && x.target === target && !x.error && x.samples.length > 0);
  return c ? summarize(c.samples) : undefined;
}

/** One console line per latency cell: "python hello  warm pool  p50 21.3 ms = 1.9x bare, +10.1 ms". */
export function latencyLines(cells: LatencyCell[]): string[] {
  return cells.map((c) => {
    const name = `${c.workloadTitle.padEnd(34)} ${targetShort(c.target).padEnd(9)}`;
    if (c.error) return `${name} FAILED: ${c.error}`;
    const s = summarize(c.samples);
    const bare = p50Of(cells, c.workload, 'bare');
    const vs = c.target !== 'bare' && bare ? ` = ${formatLatencyVsBare(s.p50, bare.p50)}` : '';
    return `${name} p50 ${cell(s.p50)} ms${vs}  (p90 ${cell(s.p90)}, p99 ${cell(s.p99)})`;
  });
}

export function throughputLines(cells: ThroughputCell[]): string[] {
  return cells.map((c) => {
    const name = `${c.workloadTitle.padEnd(34)} ${targetShort(c.target).padEnd(9)}`;
    if (c.error) return `${name} FAILED: ${c.error}`;
    const bare = cells.find((x) => x.workload === c.workload && x.target === 'bare' && !x.error);
    const vs = c.target !== 'bare' && bare ? ` = ${formatThroughputVsBare(c.perSecond, bare.perSecond)}` : '';
    return `${name} ${c.perSecond.toFixed(1)} exec/s${vs}, machine CPU ${cell(c.machineCpuMs)} ms/exec`;
  });
}

/** One console line per backend: "bwrap  CPU 24 ms per life (+11 ms vs bare)". */
export function lifecycleLines(cells: LifecycleCost[]): string[] {
  const bare = cells.find((c) => c.target === 'bare' && !c.error);
  return cells.map((c) => {
    if (c.error) return `${c.target.padEnd(16)} FAILED: ${c.error}`;
    const total = c.serviceCpuMs + c.childrenCpuMs;
    const vs = c.target !== 'bare' && bare ? ` (+${fmtMs(total - bare.serviceCpuMs - bare.childrenCpuMs)} ms vs bare)` : '';
    return `${c.target.padEnd(16)} CPU ${cell(total)} ms per life${vs}: service ${cell(c.serviceCpuMs)}, children ${cell(c.childrenCpuMs)}; wall ${cell(c.wallMs)} ms`;
  });
}

export function renderMarkdown(r: BenchResults): string {
  const f = r.facts;
  const s = r.settings;
  const out: string[] = [];
  out.push('# Benchmarks');
  out.push('');
  out.push(
    `Generated by \`npm run bench\` (bench/run.ts) on ${f.date}, in ${Math.round(r.durationS)} s. Every number below comes from that one run: ` +
      'all rows of a table were measured in the same process, interleaved, so they saw the same machine. Re-run it to refresh this file.',
  );
  out.push('');
  out.push('## Machine');
  out.push('');
  out.push(
    table(
      ['', ''],
      [
        ['CPU', `${f.cpuModel}, ${f.cores} cores`],
        ['memory', `${f.memoryGiB.toFixed(0)} GiB`],
        ['kernel', f.kernel],
        ['OS', f.os],
        ['sandbox backend (cold, warm pool, HTTP e2e rows)', f.ociRuntime],
        ['cgroup mode', f.cgroupMode],
        ['Node.js', f.node],
        ['machine busy before the bench started (1 s sample)', `${(f.busyBefore * 100).toFixed(0)}%`],
        ['load average (1, 5, 15 min) before / after', `${f.loadBefore.map((x) => x.toFixed(2)).join(', ')} / ${f.loadAfter.map((x) => x.toFixed(2)).join(', ')}`],
      ],
    ),
  );
  out.push('');

  out.push('## Goals of the issue');
  out.push('');
  out.push(
    table(
      ['goal', 'threshold', 'measured (this run)', 'met'],
      r.goals.map((g) => [g.goal, g.threshold, g.measured, g.met === null ? 'not measured' : g.met ? '**met**' : '**not met**']),
    ),
  );
  out.push('');
  const breakdown = overheadBreakdown(r);
  if (breakdown.length) {
    out.push('Where the difference to bare comes from (p50s of this run):');
    out.push('');
    for (const line of breakdown) out.push(`- ${line}`);
    out.push('');
  }

  if (r.judge) {
    out.push('## Judge: 100 test cases in one sandbox');
    out.push('');
    if (r.judge.error) out.push(`Failed: ${r.judge.error}`);
    else {
      const base = r.judge.rows[0]!;
      out.push(
        `A C++ a+b solution on ${r.judge.cases} test cases, median of ${r.judge.repeats} repeats. CPU is the process tree's (this process and every descendant it reaped: runc, the sandboxes' processes, the bare programs; unaffected by other work on the machine) and the machine's busy time (/proc/stat). The issue's goal: a judge costs at most 1.5x the CPU of the bare runs (printed, not asserted).`,
      );
      out.push('');
      out.push(
        table(
          ['target', 'tree CPU ms', 'vs bare', 'machine CPU ms', 'vs bare', 'wall ms'],
          r.judge.rows.map((c) => [
            c.name,
            c.treeMs.toFixed(0),
            `${(c.treeMs / base.treeMs).toFixed(2)}x`,
            c.machineMs.toFixed(0),
            `${(c.machineMs / base.machineMs).toFixed(2)}x`,
            c.wallMs.toFixed(0),
          ]),
          ['l', 'r', 'r', 'r', 'r', 'r'],
        ),
      );
    }
    out.push('');
  }

  out.push('## How to read this');
  out.push('');
  out.push(
    [
      '- **bare**: the same interpreter or binary started by `execFile` on the host, with the argv and env the runtime manifest gives the sandbox (compiled languages are compiled once on the host; only the run is timed). It is the floor: no isolation at all.',
      '- **cold**: polyrun as a library (`createExecutor`, no pool): every execution starts a fresh sandbox (on the backend in the Machine table: bwrap, or `runc run`, + the init agent), runs the stages, and removes it after the result is returned.',
      '- **warm pool**: the same with `pool: true`; the pool is refilled and all sandbox removals have finished before each timed run (`settle()` + `pool.warm()`), so the run takes a ready sandbox. Compiled languages hit the compile cache after the warm-ups, as any repeated submission does.',
      '- **HTTP e2e**: `POST /v1/execute` over loopback to the real service (`buildApp`, auth off, queue, metrics, usage store), in front of the warm-pool executor, with a keep-alive client (Node `fetch`) in a process of its own, as a real client is: a client inside the bench process would share the service\'s event loop and count the service\'s work after the response (the pool refill\'s synchronous spawn) as latency. The time, taken by the client, includes JSON encoding, the whole pipeline and the response.',
      '- **HTTP oci**, **HTTP bwrap**, **HTTP gvisor**: the same HTTP target in front of a warm-pool executor of its own on another sandbox backend (every backend the host has besides the configured one; `BENCH_BACKENDS` picks them), for the per-backend comparison.',
      `- **Latency** is sequential: one execution at a time, ${s.warmups} warm-ups then ${s.runs} timed runs per cell, the targets interleaved run by run. p99 of ${s.runs} samples is close to the maximum: read it as "the slow runs".`,
      `- **Throughput** is at saturation: ${s.throughputCount} executions with ${s.concurrency} in flight (2 x cores), split in two halves run in the order bare, cold, warm, HTTP and then back, so slow drift of the machine hits every target alike. Each half is timed from its first start until every execution, sandbox removal and pool refill it caused is over (the pool starts and ends full), so nothing is left for later. The library targets have no queue: all ${s.concurrency} run at once; the HTTP service runs ${s.slots} at a time (its slots) and queues the rest.`,
      '- **CPU per execution** is the whole machine\'s busy time from `/proc/stat` over the throughput run, divided by the executions: it includes runc, the init agent, the program, the kernel, Node, *and anything else that ran on the machine meanwhile*. "bench CPU" is this Node process alone (`process.cpuUsage()`: polyrun\'s own work in the library targets, plus the HTTP server for HTTP; the client\'s process is only in the machine CPU). CPU ceiling = cores x 1000 / machine CPU ms per execution.',
      '- "x bare" is the ratio to the bare p50 of the same workload; "+ ms" the difference.',
      '- The program time column is the compile + run stage wall time by polyrun\'s own clock (inside the sandbox, from the run command to the exit frame): the rest of a row\'s time is polyrun\'s path around it.',
    ].join('\n'),
  );
  out.push('');

  out.push('## Latency (sequential)');
  out.push('');
  const workloads = [...new Map(r.latency.map((c) => [c.workload, c.workloadTitle])).entries()];
  const latRows: string[][] = [];
  for (const [id, title] of workloads) {
    const bare = p50Of(r.latency, id, 'bare');
    for (const c of r.latency.filter((x) => x.workload === id)) {
      if (c.error) {
        latRows.push([title, targetShort(c.target), 'failed', '', '', c.error.replace(/\|/g, '/').slice(0, 120), '', '']);
        continue;
      }
      const sm = summarize(c.samples);
      const prog = c.programMs.length ? cell(summarize(c.programMs).p50) : '';
      latRows.push([
        title,
        targetShort(c.target),
        cell(sm.p50),
        cell(sm.p90),
        cell(sm.p99),
        c.target === 'bare' || !bare ? '' : formatLatencyVsBare(sm.p50, bare.p50),
        prog,
        c.pool ? `${c.pool.hits}/${c.pool.misses}` : '',
      ]);
    }
  }
  out.push(
    table(['workload', 'target', 'p50 ms', 'p90 ms', 'p99 ms', 'p50 vs bare', 'program time p50 ms', 'pool hits/misses'], latRows, ['l', 'l', 'r', 'r', 'r', 'l', 'r', 'r']),
  );
  out.push('');

  out.push(`## Throughput at saturation (${s.concurrency} in flight, ${s.throughputCount} executions per cell)`);
  out.push('');
  const tpRows: string[][] = r.throughput.map((c) => {
    if (c.error) return [c.workloadTitle, targetShort(c.target), 'failed', c.error.replace(/\|/g, '/').slice(0, 120), '', '', '', ''];
    const bare = r.throughput.find((x) => x.workload === c.workload && x.target === 'bare' && !x.error);
    return [
      c.workloadTitle,
      targetShort(c.target),
      c.perSecond.toFixed(1),
      c.target === 'bare' || !bare ? '' : formatThroughputVsBare(c.perSecond, bare.perSecond),
      cell(c.machineCpuMs),
      `${((f.cores * 1000) / c.machineCpuMs).toFixed(0)}/s`,
      cell(c.benchCpuMs),
      c.pool ? `${c.pool.hits}/${c.pool.misses}` : '',
    ];
  });
  out.push(
    table(['workload', 'target', 'exec/s', 'vs bare', 'machine CPU ms/exec', 'CPU ceiling', 'bench CPU ms/exec', 'pool hits/misses'], tpRows, [
      'l',
      'l',
      'r',
      'l',
      'r',
      'r',
      'r',
      'r',
    ]),
  );
  out.push('');

  out.push('## Compile cache (c++ hello, warm-pool executor)');
  out.push('');
  const c = r.cache;
  if (c.error) out.push(`Failed: ${c.error}`);
  else {
    const miss = summarize(c.miss);
    const hit = summarize(c.hit);
    const rows: string[][] = [
      ['first execution (cache miss: g++ in the sandbox)', cell(miss.p50), cell(miss.p90), String(miss.n)],
      ['repeated execution (cache hit: a.out from the cache)', cell(hit.p50), cell(hit.p90), String(hit.n)],
      ['compile stage alone on a miss (polyrun\'s clock)', cell(summarize(c.missCompileMs).p50), cell(summarize(c.missCompileMs).p90), String(c.missCompileMs.length)],
      ['g++ on the bare host, same argv', cell(summarize(c.bareCompileMs).p50), cell(summarize(c.bareCompileMs).p90), String(c.bareCompileMs.length)],
    ];
    out.push(table(['', 'p50 ms', 'p90 ms', 'n'], rows, ['l', 'r', 'r', 'r']));
    out.push('');
    out.push(
      `Repeated / first: **${fmtRatio(miss.p50 / hit.p50)} faster** (p50). Each miss compiles a source no cache has seen (a unique comment line), so every miss sample is a real first compile; ` +
        `the very first one, with an empty cache directory, took ${c.firstMs === undefined ? 'n/a' : `${cell(c.firstMs)} ms`}.` +
        (c.stats ? ` Cache afterwards: ${c.stats.entries} entries, ${(c.stats.bytes / 1024).toFixed(0)} KiB, ${c.stats.hits} hits, ${c.stats.misses} misses.` : ''),
    );
  }
  out.push('');

  out.push('## Where the time of one execution goes');
  out.push('');
  out.push(
    `The sandbox primitives the executor uses, driven one by one (bench/targets.ts \`measureStages\`, ${s.stageRuns} rounds, nothing else in flight), next to the bare host running the same programs. The CPU column is the whole machine's busy time over the step (10 ms jiffies, so only the mean over the rounds means something; other work on the machine is in it too):`,
  );
  out.push('');
  out.push(
    table(
      ['step', 'p50 ms', 'p90 ms', 'machine CPU ms (mean)'],
      Object.entries(r.stages.samples).map(([name, xs]) => {
        const cpu = r.stages.cpu[name];
        return [name, cell(summarize(xs).p50), cell(summarize(xs).p90), cpu?.length ? cell(summarize(cpu).mean) : ''];
      }),
      ['l', 'r', 'r', 'r'],
    ),
  );
  out.push('');

  if (r.lifecycle?.length) {
    out.push('## CPU of one sandbox life, per backend');
    out.push('');
    out.push(
      "Start a sandbox, run python hello in it, destroy it, one after another (bench/lifecycle.ts), on each backend this host has, next to the bare program. The CPU is this process's and its reaped descendants' CPU time (`/proc/self/stat`): the runtime or bwrap, polyrun-init and the program are all in it, and other work on the machine is not, so this table holds on a busy machine where the throughput table's machine-wide CPU does not. Kernel work done later in kernel threads (freeing a network namespace) is in neither.",
    );
    out.push('');
    out.push(
      table(
        ['target', 'CPU ms per life', 'vs bare', 'of which the service', 'of which its children', 'wall ms per life (sequential)'],
        r.lifecycle.map((c) => {
          if (c.error) return [c.target, 'failed', c.error.replace(/\|/g, '/').slice(0, 100), '', '', ''];
          const bare = r.lifecycle!.find((x) => x.target === 'bare' && !x.error);
          const total = c.serviceCpuMs + c.childrenCpuMs;
          const vs = c.target === 'bare' || !bare ? '' : `+${fmtMs(total - bare.serviceCpuMs - bare.childrenCpuMs)} ms`;
          return [c.target, cell(total), vs, cell(c.serviceCpuMs), cell(c.childrenCpuMs), cell(c.wallMs)];
        }),
        ['l', 'r', 'l', 'r', 'r', 'r'],
      ),
    );
    out.push('');
  }

  out.push('## isolate');
  out.push('');
  out.push(r.isolate.note);
  out.push('');

  out.push('## Caveats');
  out.push('');
  out.push(
    [
      '- The machine is shared and noisy (see the load average above: other work was running during the bench). Interleaving makes the rows of one table comparable with each other; absolute numbers move between runs.',
      '- The bench calls `pool.warm()` only when the pool is below its target. Before commit 7edf152, `warm()` on a full, idle pool left `refilling` set to a settled promise and the pool never refilled again (every later take a miss); the guard keeps the bench honest on builds from before that fix.',
      '- The two executors get separate data dirs: two `CompileCache` instances on one directory do not see each other\'s entries (an entry written by one makes the other\'s `put` of the same key fail on rename, silently), so the second instance would recompile on every request.',
      '- Throughput of the library targets is with the pool sized by `slots` = cores; with more callers than slots the pool stops refilling (by design, to leave the CPU to running programs), so most of those executions start a sandbox on the request path (see the hits/misses column).',
    ].join('\n'),
  );
  out.push('');
  return out.join('\n');
}

function signed(ms: number): string {
  return `${ms >= 0 ? '+' : '-'}${fmtMs(Math.abs(ms))}`;
}

/** Decomposes the gaps between bare, warm and HTTP for python hello into named parts, from this run. */
export function overheadBreakdown(r: BenchResults): string[] {
  const lines: string[] = [];
  const cellOf = (t: TargetId) => r.latency.find((c) => c.workload === 'python-hello' && c.target === t && !c.error && c.samples.length);
  const bare = cellOf('bare');
  const warm = cellOf('warm');
  const http = cellOf('http');
  const cold = cellOf('cold');
  if (bare && warm) {
    const b = summarize(bare.samples).p50;
    const w = summarize(warm.samples).p50;
    const prog = summarize(warm.programMs).p50;
    lines.push(
      `python hello, warm pool vs bare: ${signed(w - b)} ms = ${signed(prog - b)} ms in the program itself (run stage ${fmtMs(prog)} ms inside the sandbox vs ${fmtMs(b)} ms bare, which includes Node's execFile) ${signed(w - prog)} ms of polyrun's path around the stage (take a sandbox, files in, cgroup limits and accounting, result).`,
    );
  }
  if (warm && http) {
    const w = summarize(warm.samples).p50;
    const h = summarize(http.samples).p50;
    lines.push(`HTTP vs library (same warm executor): ${signed(h - w)} ms for HTTP, JSON, the pipeline (auth, rate limit, quota and its usage store, validation, queue) and result capture; see the HTTP rows of "Where the time of one execution goes".`);
  }
  if (cold && warm) {
    const c = summarize(cold.samples).p50;
    const w = summarize(warm.samples).p50;
    lines.push(`The pool saves ${fmtMs(c - w)} ms per execution at p50 (cold ${fmtMs(c)} ms vs warm ${fmtMs(w)} ms): the sandbox start it pre-pays.`);
  }
  const st = r.stages;
  const alone = st.samples['runStage python hello'];
  const beside = st.samples['runStage python hello while a sandbox starts (as after a pool take)'];
  if (alone?.length && beside?.length) {
    lines.push(
      `The pool refills when an execution ends, so a sequential request never waits for one; under concurrency a refill can still overlap another execution: in the step probe a python hello run stage took ${fmtMs(summarize(beside).p50)} ms next to a starting sandbox vs ${fmtMs(summarize(alone).p50)} ms alone (p50).`,
    );
  }
  const start = st.cpu['sandbox start (bwrap or runc run, + init hello)'];
  const destroy = st.cpu['destroy (off the request path)'];
  const barePy = st.cpu['bare python hello'];
  if (start?.length && destroy?.length && barePy?.length) {
    lines.push(
      `Each execution uses one sandbox: starting it costs the machine ${fmtMs(summarize(start).mean)} ms of CPU and removing it ${fmtMs(summarize(destroy).mean)} ms (step probe means), against ${fmtMs(summarize(barePy).mean)} ms for a whole bare python hello. The pool moves the start off the request path but not off the CPU.`,
    );
  }
  const bareTp = r.throughput.find((c) => c.workload === 'python-hello' && c.target === 'bare' && !c.error);
  const httpTp = r.throughput.find((c) => c.workload === 'python-hello' && c.target === 'http' && !c.error);
  if (bareTp && httpTp) {
    lines.push(
      `Throughput is CPU-bound on ${r.facts.cores} cores: a python hello costs the machine ${fmtMs(bareTp.machineCpuMs)} ms of CPU bare and ${fmtMs(httpTp.machineCpuMs)} ms through the service (sandbox start, runc, removal, the service itself), ${fmtRatio(httpTp.machineCpuMs / bareTp.machineCpuMs)} as much; throughput can be at most about the inverse ratio of bare's.`,
    );
  }
  return lines;
}
