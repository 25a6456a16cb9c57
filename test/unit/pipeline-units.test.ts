/**
 * Unit tests of the pure pieces of the pipeline: token bucket, quota windows, config layers, policies,
 * result store, queue, anomalies, Piston mapping, validation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromPistonRequest, pistonMessage, toPistonResult, toPistonStage } from '../../src/api/piston.js';
import { fieldName } from '../../src/api/errors.js';
import { ConfigError, configFromEnv, configFromFlags, mergeLayers, validateConfig } from '../../src/config/load.js';
import { BUILTIN_POLICY, languageAllowed, policyFor } from '../../src/config/policy.js';
import { defaultConfig } from '../../src/config/schema.js';
import { errors } from '../../src/contract/errors.js';
import { MAX_LIMITS } from '../../src/limits/limits.js';
import { exceededQuota, utcDay } from '../../src/pipeline/quota-policy.js';
import { takeToken, tokenBucketStore } from '../../src/pipeline/token-bucket.js';
import { decodeContent, prepareExecution } from '../../src/pipeline/prepare.js';
import { ResultStore } from '../../src/store/results.js';
import { detectAnomalies } from '../../src/telemetry/anomalies.js';
import { FakeExecutor, stage } from '../helpers/fake-executor.js';

describe('token bucket', () => {
  it('allows a burst, then refills at the rate', () => {
    const rate = 2 / 1000; // 2 tokens per second
    let b = takeToken(undefined, 3, rate, 0);
    expect(b).toMatchObject({ allowed: true, remaining: 2 });
    b = takeToken(b.bucket, 3, rate, 0);
    b = takeToken(b.bucket, 3, rate, 0);
    expect(b).toMatchObject({ allowed: true, remaining: 0, msUntilNext: 500 });
    b = takeToken(b.bucket, 3, rate, 100);
    expect(b).toMatchObject({ allowed: false, remaining: 0, msUntilNext: 400 });
    b = takeToken(b.bucket, 3, rate, 500);
    expect(b.allowed).toBe(true);
    // A long pause refills to capacity and no further.
    b = takeToken(b.bucket, 3, rate, 100_000);
    expect(b).toMatchObject({ allowed: true, remaining: 2, msUntilFull: 500 });
  });

  it('plugs into @fastify/rate-limit: current > max means exceeded, ttl is the wait', () => {
    let now = 0;
    const Store = tokenBucketStore(() => now);
    const store = new Store();
    const results: { current: number; ttl: number }[] = [];
    const incr = () => store.incr('k', (_e, r) => results.push(r!), 1000, 2); // burst 2, refill 2/s
    incr();
    incr();
    incr();
    expect(results.map((r) => r.current > 2)).toEqual([false, false, true]);
    expect(results[2]!.ttl).toBe(500);
    now = 500;
    incr();
    expect(results[3]!.current).toBeLessThanOrEqual(2);
  });
});

describe('quota windows', () => {
  it('uses UTC days', () => {
    const w = utcDay(Date.parse('2026-03-04T23:59:59.999Z'));
    expect(w.day).toBe('2026-03-04');
    expect(new Date(w.resetsAt).toISOString()).toBe('2026-03-05T00:00:00.000Z');
    expect(utcDay(w.resetsAt).day).toBe('2026-03-05');
  });

  it('names the first quota exceeded', () => {
    const q = { concurrent: 2, executionsPerDay: 10, cpuSecondsPerDay: 1 };
    expect(exceededQuota(q, { concurrent: 1, executions: 9, cpuMs: 999 })).toBeNull();
    expect(exceededQuota(q, { concurrent: 2, executions: 0, cpuMs: 0 })?.quota).toBe('concurrent');
    expect(exceededQuota(q, { concurrent: 0, executions: 10, cpuMs: 0 })?.quota).toBe('executionsPerDay');
    expect(exceededQuota(q, { concurrent: 0, executions: 0, cpuMs: 1000 })).toMatchObject({ quota: 'cpuSecondsPerDay', used: 1 });
  });
});

describe('configuration', () => {
  it('layers: defaults < file < env < flags', () => {
    const file = { port: 3000, host: '0.0.0.0', queue: { maxQueued: 5 } };
    const env = configFromEnv({ PORT: '4000', POLYRUN_PORT: '4001', POLYRUN_QUEUE_TIMEOUT_MS: '100', POLYRUN_AUTH: 'false' });
    const flags = configFromFlags(['--port', '5000', '--data-dir', '/tmp/x']);
    const c = validateConfig(mergeLayers(defaultConfig(4), file, env, flags.layer));
    expect(c).toMatchObject({ port: 5000, host: '0.0.0.0', dataDir: '/tmp/x', auth: false, slots: 4 });
    expect(c.queue).toEqual({ maxQueued: 5, waitTimeoutMs: 100 });
    // POLYRUN_PORT wins over plain PORT
    expect(validateConfig(mergeLayers(defaultConfig(1), env)).port).toBe(4001);
  });

  it('reads --config and --no-auth', () => {
    expect(configFromFlags(['--config', 'a.yaml', '--no-auth'])).toEqual({ layer: { auth: false }, configPath: 'a.yaml' });
  });

  it('refuses bad values with the setting named', () => {
    expect(() => configFromEnv({ POLYRUN_SLOTS: 'many' })).toThrow(/POLYRUN_SLOTS must be an integer/);
    expect(() => configFromFlags(['--bogus'])).toThrow(ConfigError);
    expect(() => validateConfig(mergeLayers(defaultConfig(1), { slots: 0 }))).toThrow(/\/slots/);
    expect(() => validateConfig(mergeLayers(defaultConfig(1), { tenants: { a: { rate: { burts: 3 } } } }))).toThrow(/tenants\/a\/rate/);
  });

  it('builds tenant policies over the defaults', () => {
    const cfg = {
      defaultPolicy: { rate: { burst: 5 } },
      tenants: { small: { quota: { concurrent: 1 }, maxLimits: { run: { memoryBytes: 1000 } }, languages: ['py'] } },
    };
    const small = policyFor(cfg, 'small');
    expect(small.rate).toEqual({ perSecond: BUILTIN_POLICY.rate.perSecond, burst: 5 });
    expect(small.quota.concurrent).toBe(1);
    expect(small.maxLimits.run.memoryBytes).toBe(1000);
    expect(small.maxLimits.run.cpuTimeMs).toBe(MAX_LIMITS.run.cpuTimeMs);
    expect(languageAllowed(small, { name: 'python', aliases: ['py'] })).toBe(true);
    expect(languageAllowed(small, { name: 'bash', aliases: [] })).toBe(false);
    expect(policyFor(cfg, 'other').languages).toBe('*');
  });
});

describe('result store', () => {
  it('keeps results per tenant, expires them, wakes waiters', async () => {
    let now = 0;
    const store = new ResultStore({ ttlMs: 1000, maxEntries: 2, now: () => now });
    store.create('a', 't1');
    expect(store.get('a', 't1')).toEqual({ id: 'a', status: 'queued' });
    expect(store.get('a', 't2')).toBeUndefined();
    store.markRunning('a');
    const waiting = store.wait('a', 't1', 10_000);
    store.complete('a', { id: 'a', status: 'error', error: { code: 'X', message: 'm' } });
    expect(await waiting).toMatchObject({ status: 'error' });
    now = 1000;
    expect(store.get('a', 't1')).toBeUndefined();
  });

  it('evicts the oldest finished results beyond maxEntries', () => {
    const store = new ResultStore({ ttlMs: 10_000, maxEntries: 2 });
    for (const id of ['a', 'b', 'c']) {
      store.create(id, 't');
      store.complete(id, { id, status: 'error', error: { code: 'X', message: 'm' } });
    }
    expect(store.get('a', 't')).toBeUndefined();
    expect(store.get('c', 't')).toBeDefined();
  });
});

describe('result store on disk', () => {
  const errorRecord = (id: string) => ({ id, status: 'error' as const, error: { code: 'X', message: 'm' } });

  it('finished results survive a restart; pending ones read back as interrupted; expiry and eviction hold', () => {
    const dir = mkdtempSync(join(tmpdir(), 'polyrun-results-'));
    const path = join(dir, 'results.sqlite');
    let now = 0;
    const first = new ResultStore({ ttlMs: 1000, maxEntries: 2, now: () => now, path });
    first.create('done', 't');
    first.complete('done', errorRecord('done'));
    first.create('pending', 't');
    first.close();

    const second = new ResultStore({ ttlMs: 1000, maxEntries: 2, now: () => now, path });
    expect(second.get('done', 't')).toEqual(errorRecord('done'));
    expect(second.get('done', 'other-tenant')).toBeUndefined();
    expect(second.get('pending', 't')).toMatchObject({ id: 'pending', status: 'error', error: { code: 'INTERNAL' } });
    for (const id of ['x', 'y']) {
      second.create(id, 't');
      second.complete(id, errorRecord(id));
    }
    expect(second.get('done', 't')).toBeUndefined(); // evicted: only the newest 2 finished are kept
    now = 5000;
    expect(second.get('y', 't')).toBeUndefined(); // expired
    second.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('anomalies', () => {
  const result = (run: ReturnType<typeof stage>) => ({ language: 'c', version: '1', status: run.status, compile: null, run });
  it('flags seccomp kills and foreign kills, not ordinary failures', () => {
    expect(detectAnomalies(result(stage({ status: 'runtime_error', signal: 'SIGSYS', exitCode: null })))).toEqual(['seccomp']);
    expect(detectAnomalies(result(stage({ status: 'runtime_error', signal: 'SIGKILL', exitCode: null })))).toEqual(['foreign_kill']);
    expect(detectAnomalies(result(stage({ status: 'time_limit', signal: 'SIGKILL', exitCode: null })))).toEqual([]);
    expect(detectAnomalies(result(stage({ status: 'runtime_error', exitCode: 1 })))).toEqual([]);
    expect(detectAnomalies(result(stage({ stdoutTruncated: true, stderrTruncated: true, status: 'output_limit' })))).toEqual(['output_flood']);
  });
});

describe('Piston mapping', () => {
  it('maps requests: limits by stage, -1 memory, default file names', () => {
    const body = fromPistonRequest({
      language: 'py',
      version: '3.x',
      files: [{ content: 'a' }, { content: 'b' }, { name: 'x.py', content: 'c' }],
      run_timeout: 1000,
      compile_cpu_time: 2000,
      run_memory_limit: -1,
    });
    expect(body).toMatchObject({ language: 'py', version: '3.x', limits: { wallTimeMs: 1000 }, compileLimits: { cpuTimeMs: 2000 } });
    expect(body.files.map((f) => f.name)).toEqual([undefined, 'file1.code', 'x.py']);
    expect(() => fromPistonRequest({ language: 'py', version: '*', files: [{ content: '' }], run_memory_limit: -5 })).toThrow(
      'run_memory_limit must be non-negative',
    );
  });

  it('maps stage statuses to RE/SG/TO/OL/EL/XX', () => {
    expect(toPistonStage(stage()).status).toBeNull();
    expect(toPistonStage(stage({ status: 'runtime_error', exitCode: 3 }))).toMatchObject({ status: 'RE', code: 3 });
    expect(toPistonStage(stage({ status: 'runtime_error', exitCode: null, signal: 'SIGSEGV' }))).toMatchObject({
      status: 'SG',
      code: null,
      signal: 'SIGSEGV',
    });
    expect(toPistonStage(stage({ status: 'time_limit', exitCode: null }))).toMatchObject({ status: 'TO', signal: 'SIGKILL' });
    expect(toPistonStage(stage({ status: 'output_limit', stdoutTruncated: true })).status).toBe('OL');
    expect(toPistonStage(stage({ status: 'output_limit', stderrTruncated: true })).status).toBe('EL');
    expect(toPistonStage(stage({ status: 'internal_error' })).status).toBe('XX');
    const r = toPistonResult({ language: 'c', version: '1', status: 'compile_error', compile: stage({ status: 'runtime_error', exitCode: 1 }), run: null });
    expect(r.compile?.status).toBe('RE');
    expect(r.run).toEqual(r.compile); // as Piston: `run` is the failed compile stage
  });

  it('words limit errors the Piston way', () => {
    const e = errors.limitExceedsMaximum('x', [{ field: 'limits.wallTimeMs', requested: 10 ** 6, maximum: 60000 }]);
    expect(pistonMessage(e)).toBe('run_timeout cannot exceed the configured limit of 60000');
    expect(pistonMessage(errors.unknownLanguage('cobol', '1', []), { language: 'cobol', version: '1' })).toBe('cobol-1 runtime is unknown');
  });
});

describe('validation', () => {
  const executor = new FakeExecutor();
  const policy = BUILTIN_POLICY;
  const ok = { language: 'py', files: [{ name: 'main.py', content: 'print(1)' }] };

  it('decodes base64 strictly', () => {
    expect(decodeContent('aGk=', 'base64', 'f').toString()).toBe('hi');
    expect(() => decodeContent('a*k=', 'base64', 'files[0].content')).toThrow(/files\[0\].content is not valid base64/);
  });

  it('resolves the runtime and refuses what is unknown, forbidden or too much', () => {
    const prepare = (body: typeof ok & Record<string, unknown>, p = policy) => prepareExecution(body, { runtimes: executor, policy: p });
    const prepared = prepare(ok);
    expect(prepared.runtime).toMatchObject({ name: 'python', version: '3.11.2' });
    expect(prepared.files[0]!.content.toString()).toBe('print(1)');
    expect(prepared.profile).toEqual({ seccomp: 'default', network: 'none' });
    expect(() => prepare({ ...ok, language: 'cobol' })).toThrow(expect.objectContaining({ code: 'UNKNOWN_LANGUAGE' }));
    expect(() => prepare(ok, { ...policy, languages: ['bash'] })).toThrow(expect.objectContaining({ code: 'LANGUAGE_NOT_ALLOWED' }));
    expect(() => prepare({ ...ok, limits: { cpuTimeMs: 10 ** 9 } })).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDS_MAXIMUM' }));
    expect(() => prepare({ ...ok, files: [{ name: '../x', content: '' }] })).toThrow(expect.objectContaining({ code: 'INVALID_FILE_NAME' }));
    expect(() => prepare({ ...ok, stdin: '%%', stdinEncoding: 'base64' })).toThrow(expect.objectContaining({ code: 'INVALID_ENCODING' }));
  });

  it('resolves limits once: defaults under the request, within the tenant ceiling', () => {
    const small = { ...policy, maxLimits: { ...policy.maxLimits, run: { ...policy.maxLimits.run, cpuTimeMs: 500 } } };
    const prepared = prepareExecution({ ...ok, limits: { wallTimeMs: 1234 } }, { runtimes: executor, policy: small });
    expect(prepared.limits.run).toMatchObject({ wallTimeMs: 1234, cpuTimeMs: 500 });
  });

  it('chooses the network mode the tenant allows, and refuses others', () => {
    const prepared = prepareExecution({ ...ok, network: 'loopback' }, { runtimes: executor, policy });
    expect(prepared.profile.network).toBe('loopback');
    expect(() => prepareExecution({ ...ok, network: 'loopback' }, { runtimes: executor, policy: { ...policy, network: { ...policy.network, modes: ['none'] } } })).toThrow(
      expect.objectContaining({ code: 'NETWORK_NOT_ALLOWED' }),
    );
  });

  it('runs on the default isolation unless the tenant is granted gVisor and the request asks for it', () => {
    expect(prepareExecution(ok, { runtimes: executor, policy }).profile.isolation).toBeUndefined();
    expect(prepareExecution({ ...ok, isolation: 'default' }, { runtimes: executor, policy }).profile.isolation).toBeUndefined();
    expect(() => prepareExecution({ ...ok, isolation: 'gvisor' }, { runtimes: executor, policy })).toThrow(
      expect.objectContaining({ code: 'ISOLATION_NOT_ALLOWED' }),
    );
    const hardened = { ...policy, isolation: ['default' as const, 'gvisor' as const] };
    expect(prepareExecution({ ...ok, isolation: 'gvisor' }, { runtimes: executor, policy: hardened }).profile.isolation).toBe('gvisor');
  });

  it('refuses isolation "gvisor" for a runtime whose manifest says it cannot run there, naming the reason', () => {
    const hardened = { ...policy, isolation: ['default' as const, 'gvisor' as const] };
    const python = executor.findRuntime('py')!;
    const unsupported = { ...python, gvisorUnsupported: 'its launcher needs ls' };
    const runtimes = { runtimes: () => [unsupported], findRuntime: () => unsupported };
    expect(() => prepareExecution({ ...ok, isolation: 'gvisor' }, { runtimes, policy: hardened })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', message: expect.stringContaining('does not run under isolation "gvisor": its launcher needs ls') }),
    );
    expect(prepareExecution(ok, { runtimes, policy: hardened }).profile.isolation).toBeUndefined();
  });

  it('names error fields the way clients write them', () => {
    expect(fieldName('body', '/files/0', 'content')).toBe('files[0].content');
    expect(fieldName('body', '')).toBe('body');
  });
});
