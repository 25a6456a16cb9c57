import { describe, expect, it } from 'vitest';
import {
  busyShare,
  compare,
  cpuMsPerExecution,
  evaluateGoals,
  fmtMs,
  formatLatencyVsBare,
  formatThroughputVsBare,
  halves,
  parseProcStat,
  percentile,
  summarize,
} from './stats.js';

describe('percentile', () => {
  it('interpolates between the closest ranks', () => {
    const xs = [1, 2, 3, 4];
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile(xs, 100)).toBe(4);
    expect(percentile(xs, 50)).toBe(2.5);
    expect(percentile(xs, 90)).toBeCloseTo(3.7);
  });
  it('handles one sample and none', () => {
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('summarize', () => {
  it('sorts before it ranks', () => {
    const s = summarize([5, 1, 4, 2, 3]);
    expect(s).toMatchObject({ n: 5, min: 1, max: 5, p50: 3, mean: 3 });
    expect(s.p90).toBeCloseTo(4.6);
  });
});

describe('comparisons', () => {
  it('ratio and delta to the base', () => {
    expect(compare(14, 10)).toEqual({ ratio: 1.4, delta: 4 });
    expect(compare(1, 0).ratio).toBeNaN();
  });
  it('formats latency and throughput against bare', () => {
    expect(formatLatencyVsBare(14.1, 10)).toBe('1.41x bare, +4.1 ms');
    expect(formatLatencyVsBare(9.5, 10)).toBe('0.95x bare, -0.50 ms');
    expect(formatLatencyVsBare(250, 10)).toBe('25x bare, +240 ms');
    expect(formatThroughputVsBare(62, 100)).toBe('62% of bare');
  });
  it('rounds milliseconds by size', () => {
    expect(fmtMs(0.4249)).toBe('0.42');
    expect(fmtMs(4.14)).toBe('4.1');
    expect(fmtMs(41.4)).toBe('41');
  });
});

describe('CPU accounting', () => {
  const before = parseProcStat('cpu  100 10 50 1000 20 5 5 0 0 0\ncpu0 50 5 25 500 10 2 3 0 0 0\n');
  it('reads the aggregate line', () => {
    expect(before).toEqual({ busy: 170, total: 1190 });
  });
  it('CPU ms per execution and busy share from two readings', () => {
    const after = parseProcStat('cpu  300 10 150 1100 20 5 5 0 0 0\n');
    // 300 busy jiffies at 100 Hz = 3000 ms over 10 executions
    expect(cpuMsPerExecution(before, after, 100, 10)).toBe(300);
    expect(busyShare(before, after)).toBeCloseTo(0.75);
    expect(cpuMsPerExecution(before, after, 100, 0)).toBeNaN();
  });
  it('refuses text without a cpu line', () => {
    expect(() => parseProcStat('intr 1 2 3')).toThrow();
  });
});

describe('goals', () => {
  it('computes met and not met from the numbers', () => {
    const goals = evaluateGoals({
      barePythonP50: 10,
      warmPythonP50: 11.5,
      httpPythonP50: 16,
      barePythonThroughput: 100,
      polyrunPythonThroughput: 59,
      cppMissP50: 500,
      cppHitP50: 40,
    });
    expect(goals.map((g) => g.met)).toEqual([true, false, false, true]);
    expect(goals[1]!.measured).toContain('+6.00 ms');
    expect(goals[2]!.measured).toContain('59%');
    expect(goals[3]!.measured).toContain('13x');
  });
  it('marks what was not measured', () => {
    const goals = evaluateGoals({ barePythonP50: 10 });
    expect(goals.every((g) => g.met === null)).toBe(true);
  });
});

describe('halves', () => {
  it('splits a count for an A-B-B-A schedule', () => {
    expect(halves(100)).toEqual([50, 50]);
    expect(halves(7)).toEqual([4, 3]);
    expect(halves(1)).toEqual([1, 0]);
  });
});
