/**
 * `npm run bench:judge`: what judging costs against the bare machine. A C++ a+b solution on 100 test
 * cases, three ways:
 *   bare       compiled once on the host, then 100 host processes, each fed its case's stdin;
 *   judge      one POST /v1/judge-equivalent (judgeLocally): one sandbox, compiled once, 100 case stages;
 *   per case   100 ordinary executions (one sandbox each; the compile cache on, as a service has it).
 * Measured: the CPU of this process tree (this node process and every descendant it reaped: runc, the
 * sandboxes' processes, g++, the bare programs) from /proc/self/stat, which other work on a shared machine
 * does not disturb; the machine's busy CPU (/proc/stat) alongside; wall time. Ratios are printed, not
 * asserted (the issue's goal: judge <= 1.5 x bare).
 *
 * Environment: BENCH_CASES (100), BENCH_REPEATS (3; the median repeat is reported).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createExecutor, type SandboxExecutor } from '../src/executor/executor.js';
import { judgeLocally } from '../src/judge/local.js';
import { loadManifests } from '../src/runtimes/registry.js';
import { parseProcStat } from './stats.js';
import { HostPrograms, type Workload } from './targets.js';

const CASES = Number(process.env.BENCH_CASES ?? 100);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const TICKS = 100; // USER_HZ on Linux

const SOURCE = '#include <cstdio>\nint main() { long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 1; printf("%ld\\n", a + b); }\n';
const workload: Workload = { id: 'cpp-ab', title: 'c++ a+b', language: 'c++', files: [{ name: 'main.cpp', content: SOURCE }], expectStdout: '' };
const cases = Array.from({ length: CASES }, (_, i) => {
  const a = (i * 7919) % 100_000;
  const b = (i * 104_729) % 100_000;
  return { stdin: `${a} ${b}\n`, expected: `${a + b}\n` };
});

/** CPU ms of this process and its reaped descendants (utime, stime, cutime, cstime). */
function treeCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14 -> index 11
  const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
  return ((utime! + stime! + cutime! + cstime!) * 1000) / TICKS;
}

function machineBusyMs(): number {
  return (parseProcStat(readFileSync('/proc/stat', 'utf8')).busy * 1000) / TICKS;
}

interface Cost {
  treeMs: number;
  machineMs: number;
  wallMs: number;
}

async function measure(work: () => Promise<void>): Promise<Cost> {
  const t0 = treeCpuMs();
  const m0 = machineBusyMs();
  const w0 = performance.now();
  await work();
  return { treeMs: treeCpuMs() - t0, machineMs: machineBusyMs() - m0, wallMs: performance.now() - w0 };
}

function runBare(argv: string[], cwd: string, env: Record<string, string>, stdin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`bare run exited ${code}`))));
    child.stdin.end(stdin);
  });
}

function median(xs: Cost[]): Cost {
  const sorted = [...xs].sort((a, b) => a.treeMs - b.treeMs);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export interface JudgeBenchRow {
  name: string;
  treeMs: number;
  machineMs: number;
  wallMs: number;
}

export interface JudgeBenchResult {
  cases: number;
  repeats: number;
  /** bare first; the ratios are against it */
  rows: JudgeBenchRow[];
  error?: string;
}

/**
 * The three ways on an executor of the caller's (no pool: the judge's one sandbox start is part of what
 * is measured) and the host programs of the bench; the median repeat of each.
 */
export async function measureJudge(executor: SandboxExecutor, programs: HostPrograms, repeats = REPEATS): Promise<JudgeBenchResult> {
  const { dir, plan } = await programs.prepare(workload);
  const env = programs.env(plan.run.env, dir);
  const bare = async () => {
    for (const c of cases) {
      const out = await runBare(plan.run.argv, dir, env, c.stdin);
      if (out !== c.expected) throw new Error(`bare: printed ${JSON.stringify(out)}, expected ${JSON.stringify(c.expected)}`);
    }
  };
  const body = { language: 'c++', files: [{ name: 'main.cpp', content: SOURCE }], cases };
  const judge = async () => {
    const r = await judgeLocally(executor, body);
    if (r.verdict !== 'accepted' || r.passed !== CASES) throw new Error(`judge: ${r.verdict}, ${r.passed}/${CASES}`);
    await executor.settle();
  };
  const perCase = async () => {
    for (const c of cases) {
      const r = await executor.execute({ language: 'c++', files: [{ name: 'main.cpp', content: Buffer.from(SOURCE) }], stdin: c.stdin });
      if (r.run?.stdout !== c.expected) throw new Error(`per case: ${r.status} ${JSON.stringify(r.run?.stdout)}`);
    }
    await executor.settle();
  };
  // Warm-ups: page cache, the compile cache (a judge of a repeated submission hits it too), JIT of this process.
  await bare();
  await judge();
  const results: Record<'bare' | 'judge' | 'perCase', Cost[]> = { bare: [], judge: [], perCase: [] };
  for (let i = 0; i < repeats; i++) {
    results.bare.push(await measure(bare));
    results.judge.push(await measure(judge));
    results.perCase.push(await measure(perCase));
  }
  const row = (name: string, c: Cost): JudgeBenchRow => ({ name, ...c });
  return {
    cases: CASES,
    repeats,
    rows: [
      row(`bare: ${CASES} host processes`, median(results.bare)),
      row(`judge: 1 sandbox, compile + ${CASES} case stages`, median(results.judge)),
      row(`per case: ${CASES} executions, 1 sandbox each`, median(results.perCase)),
    ],
  };
}

export function judgeLines(r: JudgeBenchResult): string[] {
  if (r.error) return [`judge benchmark failed: ${r.error}`];
  const base = r.rows[0]!;
  const fmt = (x: number) => x.toFixed(0).padStart(7);
  const ratio = (x: number, y: number) => `${(x / y).toFixed(2)}x`.padStart(7);
  return [
    `judge: c++ a+b, ${r.cases} cases, median of ${r.repeats} (CPU ms of the process tree; machine busy CPU ms; wall ms)`,
    `${'target'.padEnd(46)}  tree CPU  vs bare  machine  vs bare     wall`,
    ...r.rows.map((c) => `${c.name.padEnd(46)}  ${fmt(c.treeMs)}  ${ratio(c.treeMs, base.treeMs)}  ${fmt(c.machineMs)}  ${ratio(c.machineMs, base.machineMs)}  ${fmt(c.wallMs)}`),
  ];
}

async function main(): Promise<void> {
  const manifests = await loadManifests();
  const programs = await HostPrograms.create(manifests);
  const dataDir = await mkdtemp(join(tmpdir(), 'polyrun-bench-judge-'));
  const executor = await createExecutor({ dataDir, languages: ['c++'], pool: false });
  try {
    for (const line of judgeLines(await measureJudge(executor, programs))) process.stdout.write(`${line}\n`);
  } finally {
    await executor.close();
    await programs.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

// Run directly (npm run bench:judge); bench/run.ts imports measureJudge for its report.
if (process.argv[1] && /bench\/judge\.(ts|js)$/.test(process.argv[1])) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:judge: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
