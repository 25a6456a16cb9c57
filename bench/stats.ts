/**
 * Pure number work of the benchmark: percentiles, comparisons with the bare host, CPU accounting from
 * /proc/stat text, and the issue's goals checked against one run's numbers. No I/O, so it is unit-tested
 * (bench/stats.test.ts).
 */

export interface Summary {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * The p-th percentile (0..100) of ascending `sorted`, interpolating linearly between the two closest
 * ranks (the "type 7" estimator of R and NumPy). With 30 samples p99 is close to the maximum: read it as
 * "the worst runs", not as a precise tail.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0]!;
  if (p >= 100) return sorted[sorted.length - 1]!;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    n,
    min: n ? sorted[0]! : Number.NaN,
    mean: n ? sorted.reduce((s, x) => s + x, 0) / n : Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: n ? sorted[n - 1]! : Number.NaN,
  };
}

export interface Comparison {
  /** value / base */
  ratio: number;
  /** value - base, in the unit of both (ms for latencies) */
  delta: number;
}

export function compare(value: number, base: number): Comparison {
  return { ratio: base > 0 ? value / base : Number.NaN, delta: value - base };
}

/** "1.4x bare, +4.1 ms" (latency: higher is worse). */
export function formatLatencyVsBare(value: number, base: number): string {
  const c = compare(value, base);
  if (!Number.isFinite(c.ratio)) return 'n/a';
  return `${fmtRatio(c.ratio)} bare, ${c.delta >= 0 ? '+' : '-'}${fmtMs(Math.abs(c.delta))} ms`;
}

/** "62% of bare" (throughput: higher is better). */
export function formatThroughputVsBare(value: number, base: number): string {
  const c = compare(value, base);
  return Number.isFinite(c.ratio) ? `${Math.round(c.ratio * 100)}% of bare` : 'n/a';
}

export function fmtRatio(r: number): string {
  return r >= 10 ? `${r.toFixed(0)}x` : `${r.toFixed(r >= 1.995 ? 1 : 2)}x`;
}

/** Milliseconds with a precision that suits their size: 0.42, 4.1, 41, 412. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  const a = Math.abs(ms);
  if (a < 1) return ms.toFixed(2);
  if (a < 10) return ms.toFixed(1);
  return ms.toFixed(0);
}

// --- CPU accounting ---------------------------------------------------------------------------------

export interface CpuTimes {
  /** Jiffies spent doing anything: user, nice, system, irq, softirq, steal (guest time is inside user). */
  busy: number;
  /** busy + idle + iowait */
  total: number;
}

/** The aggregate "cpu" line of /proc/stat. */
export function parseProcStat(text: string): CpuTimes {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (!line) throw new Error('no aggregate cpu line in /proc/stat');
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** Machine CPU milliseconds per execution over an interval, from two /proc/stat readings. */
export function cpuMsPerExecution(before: CpuTimes, after: CpuTimes, clockTicksPerSecond: number, executions: number): number {
  if (executions <= 0) return Number.NaN;
  return ((after.busy - before.busy) * 1000) / clockTicksPerSecond / executions;
}

/** Share of the machine that was busy over an interval (0..1). */
export function busyShare(before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : Number.NaN;
}

// --- the issue's goals --------------------------------------------------------------------------------

export interface GoalInputs {
  /** p50 latencies, ms */
  barePythonP50?: number;
  warmPythonP50?: number;
  httpPythonP50?: number;
  /** executions per second at saturation */
  barePythonThroughput?: number;
  /** the best polyrun mode at saturation (the service's is the one that counts; see report) */
  polyrunPythonThroughput?: number;
  polyrunThroughputMode?: string;
  /** c++ hello through polyrun, p50 ms: first compile (cache miss) and repeated (cache hit) */
  cppMissP50?: number;
  cppHitP50?: number;
}

export interface GoalResult {
  goal: string;
  threshold: string;
  measured: string;
  /** null: not measured in this run */
  met: boolean | null;
}

const have = (...xs: (number | undefined)[]): boolean => xs.every((x) => x !== undefined && Number.isFinite(x));

/** The four targets of the issue, each met or not by this run's numbers. */
export function evaluateGoals(g: GoalInputs): GoalResult[] {
  const out: GoalResult[] = [];
  if (have(g.warmPythonP50, g.barePythonP50)) {
    const d = g.warmPythonP50! - g.barePythonP50!;
    out.push({
      goal: 'warm-pool python hello p50 within 2 ms of bare',
      threshold: '<= +2 ms',
      measured: `${fmtMs(g.warmPythonP50!)} ms vs ${fmtMs(g.barePythonP50!)} ms bare (${d >= 0 ? '+' : ''}${d.toFixed(2)} ms)`,
      met: d <= 2,
    });
  } else out.push(notMeasured('warm-pool python hello p50 within 2 ms of bare', '<= +2 ms'));

  if (have(g.httpPythonP50, g.barePythonP50)) {
    const d = g.httpPythonP50! - g.barePythonP50!;
    out.push({
      goal: 'HTTP end-to-end python hello p50 within 5 ms of bare',
      threshold: '<= +5 ms',
      measured: `${fmtMs(g.httpPythonP50!)} ms vs ${fmtMs(g.barePythonP50!)} ms bare (${d >= 0 ? '+' : ''}${d.toFixed(2)} ms)`,
      met: d <= 5,
    });
  } else out.push(notMeasured('HTTP end-to-end python hello p50 within 5 ms of bare', '<= +5 ms'));

  if (have(g.polyrunPythonThroughput, g.barePythonThroughput)) {
    const share = g.polyrunPythonThroughput! / g.barePythonThroughput!;
    out.push({
      goal: `python hello throughput at saturation >= 60% of bare${g.polyrunThroughputMode ? ` (${g.polyrunThroughputMode})` : ''}`,
      threshold: '>= 60%',
      measured: `${g.polyrunPythonThroughput!.toFixed(1)}/s vs ${g.barePythonThroughput!.toFixed(1)}/s bare (${Math.round(share * 100)}%)`,
      met: share >= 0.6,
    });
  } else out.push(notMeasured('python hello throughput at saturation >= 60% of bare', '>= 60%'));

  if (have(g.cppMissP50, g.cppHitP50)) {
    const speedup = g.cppMissP50! / g.cppHitP50!;
    out.push({
      goal: 'c++ hello: repeated compile >= 10x faster than the first',
      threshold: '>= 10x',
      measured: `${fmtMs(g.cppMissP50!)} ms first vs ${fmtMs(g.cppHitP50!)} ms repeated (${fmtRatio(speedup)})`,
      met: speedup >= 10,
    });
  } else out.push(notMeasured('c++ hello: repeated compile >= 10x faster than the first', '>= 10x'));
  return out;
}

function notMeasured(goal: string, threshold: string): GoalResult {
  return { goal, threshold, measured: 'not measured', met: null };
}

/** Split `count` jobs into two halves (for an A-B-B-A schedule): the first half is the larger one. */
export function halves(count: number): [number, number] {
  const first = Math.ceil(count / 2);
  return [first, count - first];
}
