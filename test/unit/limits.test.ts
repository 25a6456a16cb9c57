import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LIMITS,
  LIMIT_FIELDS,
  MAX_LIMITS,
  describeViolation,
  overlay,
  resolveLimits,
  type LimitTable,
} from '../../src/limits/limits.js';

const MiB = 1024 * 1024;

function resolved(input: Parameters<typeof resolveLimits>[0]): LimitTable {
  const r = resolveLimits(input);
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.violations)}`);
  return r.limits;
}

describe('resolveLimits', () => {
  it('returns the defaults when nothing is asked', () => {
    expect(resolved({})).toEqual(DEFAULT_LIMITS);
    expect(resolved({ request: {} })).toEqual(DEFAULT_LIMITS);
    expect(resolved({ request: { run: {}, compile: {} } })).toEqual(DEFAULT_LIMITS);
  });

  it('the defaults are within the maximum, every field a positive integer', () => {
    for (const stage of ['compile', 'run'] as const) {
      for (const f of LIMIT_FIELDS) {
        expect(Number.isInteger(DEFAULT_LIMITS[stage][f])).toBe(true);
        expect(DEFAULT_LIMITS[stage][f]).toBeGreaterThan(0);
        expect(DEFAULT_LIMITS[stage][f]).toBeLessThanOrEqual(MAX_LIMITS[stage][f]);
      }
    }
  });

  it('applies the runtime overrides on top of the defaults', () => {
    const l = resolved({ runtime: { run: { memoryBytes: 1024 * MiB, processes: 128 }, compile: { cpuTimeMs: 20_000 } } });
    expect(l.run.memoryBytes).toBe(1024 * MiB);
    expect(l.run.processes).toBe(128);
    expect(l.run.cpuTimeMs).toBe(DEFAULT_LIMITS.run.cpuTimeMs);
    expect(l.compile.cpuTimeMs).toBe(20_000);
    expect(l.compile.memoryBytes).toBe(DEFAULT_LIMITS.compile.memoryBytes);
  });

  it('ignores undefined fields of an override', () => {
    const l = resolved({ runtime: { run: { memoryBytes: undefined } }, request: { run: { cpuTimeMs: undefined } } });
    expect(l).toEqual(DEFAULT_LIMITS);
  });

  it('clamps runtime defaults to a lower maximum instead of refusing', () => {
    const maximum = overlay(MAX_LIMITS, { run: { memoryBytes: 128 * MiB } });
    const l = resolved({ runtime: { run: { memoryBytes: 1024 * MiB } }, maximum });
    expect(l.run.memoryBytes).toBe(128 * MiB);
    const d = resolved({ maximum: overlay(MAX_LIMITS, { run: { wallTimeMs: 1000 } }) });
    expect(d.run.wallTimeMs).toBe(1000);
  });

  it('lets a request lower or raise a value up to the maximum', () => {
    const l = resolved({ request: { run: { cpuTimeMs: 100, memoryBytes: MAX_LIMITS.run.memoryBytes }, compile: { wallTimeMs: 1 } } });
    expect(l.run.cpuTimeMs).toBe(100);
    expect(l.run.memoryBytes).toBe(MAX_LIMITS.run.memoryBytes);
    expect(l.compile.wallTimeMs).toBe(1);
    expect(l.run.wallTimeMs).toBe(DEFAULT_LIMITS.run.wallTimeMs);
  });

  it('request values win over runtime overrides', () => {
    const l = resolved({ runtime: { run: { processes: 128 } }, request: { run: { processes: 3 } } });
    expect(l.run.processes).toBe(3);
  });

  it('refuses a request above the maximum, naming stage, field and maximum', () => {
    const r = resolveLimits({ request: { run: { cpuTimeMs: MAX_LIMITS.run.cpuTimeMs + 1 } } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.violations).toEqual([
      { stage: 'run', field: 'cpuTimeMs', requested: MAX_LIMITS.run.cpuTimeMs + 1, maximum: MAX_LIMITS.run.cpuTimeMs },
    ]);
    expect(describeViolation(r.violations[0]!)).toBe(
      `limits.cpuTimeMs = ${MAX_LIMITS.run.cpuTimeMs + 1} exceeds the allowed maximum of ${MAX_LIMITS.run.cpuTimeMs}`,
    );
  });

  it('checks against the given maximum (a tenant policy), not the service maximum', () => {
    const maximum = overlay(MAX_LIMITS, { compile: { memoryBytes: 64 * MiB } });
    const r = resolveLimits({ request: { compile: { memoryBytes: 65 * MiB } }, maximum });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.violations).toEqual([{ stage: 'compile', field: 'memoryBytes', requested: 65 * MiB, maximum: 64 * MiB }]);
    expect(describeViolation(r.violations[0]!)).toContain('compileLimits.memoryBytes');
    expect(describeViolation(r.violations[0]!)).toContain(String(64 * MiB));
  });

  it('reports every violation of both stages at once, never silently clamps', () => {
    const r = resolveLimits({
      request: {
        run: { processes: 10_000, outputBytes: 2 * MiB, wallTimeMs: 10 },
        compile: { openFiles: 1_000_000 },
      },
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.violations.map((v) => `${v.stage}.${v.field}`).sort()).toEqual(['compile.openFiles', 'run.outputBytes', 'run.processes']);
  });

  it.each([
    ['fractional', 1.5],
    ['zero', 0],
    ['negative', -1],
    ['NaN', Number.NaN],
    ['infinite', Number.POSITIVE_INFINITY],
  ])('refuses a %s value', (_, value) => {
    const r = resolveLimits({ request: { run: { memoryBytes: value } } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]).toMatchObject({ stage: 'run', field: 'memoryBytes', maximum: MAX_LIMITS.run.memoryBytes });
    expect(describeViolation(r.violations[0]!)).toMatch(/limits\.memoryBytes must be a positive integer/);
  });

  it('refuses a non-number that slipped past the schema', () => {
    const r = resolveLimits({ request: { run: { cpuTimeMs: '100' as unknown as number } } });
    expect(r.ok).toBe(false);
  });

  it('does not mutate the tables it is given', () => {
    const defaults = structuredClone(DEFAULT_LIMITS);
    resolved({ defaults, runtime: { run: { processes: 2 } }, request: { run: { cpuTimeMs: 5 } } });
    expect(defaults).toEqual(DEFAULT_LIMITS);
  });
});
