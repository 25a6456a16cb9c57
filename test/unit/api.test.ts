/**
 * HTTP-level tests of the pipeline stages with a fake executor (no sandbox): authentication, rate limits,
 * quotas, validation and error mapping, queue backpressure, async executions, telemetry, shutdown.
 * The end-to-end tests with the real executor are in api-e2e.test.ts.
 */
import { Writable } from 'node:stream';
import type { InjectOptions } from 'fastify';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DEFAULT_LIMITS } from '../../src/limits/limits.js';
import { FakeExecutor } from '../helpers/fake-executor.js';
import { appsCleanedAfterEach, body, type TestApp } from '../helpers/app.js';

const start = appsCleanedAfterEach();

function post(t: TestApp, url: string, payload: unknown, headers: Record<string, string> = t.auth()) {
  return t.app.inject({ method: 'POST', url, headers, payload: payload as Record<string, unknown> });
}

describe('authentication', () => {
  it('refuses a missing or bad key with 401 and accepts both header forms', async () => {
    const t = await start(new FakeExecutor());
    const missing = await post(t, '/v1/execute', body('print:x'), {});
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error.code).toBe('UNAUTHORIZED');
    expect(missing.headers['www-authenticate']).toMatch(/Bearer/);
    const bad = await post(t, '/v1/execute', body('print:x'), { authorization: 'Bearer pr_nope' });
    expect(bad.statusCode).toBe(401);
    expect((await post(t, '/v1/execute', body('print:x'), { 'x-api-key': t.keys.default! })).statusCode).toBe(200);
    expect((await post(t, '/v1/execute', body('print:x'))).statusCode).toBe(200);
    // Operational endpoints stay public.
    expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  });

  it('rate-limits requests without a valid key per client IP', async () => {
    const t = await start(new FakeExecutor(), { config: { anonymousPolicy: { rate: { perSecond: 0.001, burst: 2 } } } });
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await post(t, '/v1/execute', body('print:x'), { authorization: `Bearer guess${i}` })).statusCode);
    expect(codes).toEqual([401, 401, 429]);
    // A valid key has its own bucket.
    expect((await post(t, '/v1/execute', body('print:x'))).statusCode).toBe(200);
  });

  it('runs without keys when auth is off', async () => {
    const t = await start(new FakeExecutor(), { config: { auth: false } });
    expect((await post(t, '/v1/execute', body('print:x'), {})).statusCode).toBe(200);
  });

  it('403 LANGUAGE_NOT_ALLOWED for a language outside the tenant policy', async () => {
    const t = await start(new FakeExecutor(), { config: { tenants: { shell: { languages: ['bash'] } } }, tenants: ['shell'] });
    const r = await post(t, '/v1/execute', body('print:x'), t.auth('shell'));
    expect(r.statusCode).toBe(403);
    expect(r.json().error.code).toBe('LANGUAGE_NOT_ALLOWED');
    const runtimes = await t.app.inject({ url: '/v1/runtimes', headers: t.auth('shell') });
    expect(runtimes.json().map((x: { name: string }) => x.name)).toEqual(['bash']);
  });
});

describe('network policy over HTTP', () => {
  it('403 for an allowlist when the tenant has no network; 422 with the index of each bad entry when it has', async () => {
    const t = await start(new FakeExecutor(), {
      config: { tenants: { net: { network: { enabled: true, maxEntries: 4 } } } },
      tenants: ['default', 'net'],
    });
    const off = await post(t, '/v1/execute', { ...body('print:x'), network: { allow: ['pypi.org'] } });
    expect(off.statusCode).toBe(403);
    expect(off.json().error.code).toBe('NETWORK_NOT_ALLOWED');
    const bad = await post(t, '/v1/execute', { ...body('print:x'), network: { allow: ['pypi.org', 'bad name', '10.0.0.1/8'] } }, t.auth('net'));
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error).toMatchObject({ code: 'INVALID_NETWORK_ENTRY', details: { problems: [{ index: 1 }, { index: 2 }] } });
    const many = await post(t, '/v1/execute', { ...body('print:x'), network: { allow: ['a.test', 'b.test', 'c.test', 'd.test', 'e.test'] } }, t.auth('net'));
    expect(many.json().error.code).toBe('TOO_MANY_NETWORK_ENTRIES');
    const shape = await post(t, '/v1/execute', { ...body('print:x'), network: { allow: [] } }, t.auth('net'));
    expect(shape.statusCode).toBe(422);
  });
});

describe('rate limiting', () => {
  it('429 RATE_LIMITED with Retry-After and RateLimit headers past the burst; refills over time; per tenant', async () => {
    let now = Date.parse('2026-01-01T12:00:00Z');
    const t = await start(new FakeExecutor(), {
      now: () => now,
      config: { tenants: { a: { rate: { perSecond: 1, burst: 3 } } } },
      tenants: ['a', 'b'],
    });
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await post(t, '/v1/execute', body('print:x'), t.auth('a'))).statusCode);
    expect(codes).toEqual([200, 200, 200]);
    const limited = await post(t, '/v1/execute', body('print:x'), t.auth('a'));
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('RATE_LIMITED');
    expect(limited.headers['retry-after']).toBe('1');
    expect(limited.headers['ratelimit-limit']).toBe('3');
    expect(limited.headers['ratelimit-remaining']).toBe('0');
    expect(limited.headers['ratelimit-reset']).toBe('1');
    // Another tenant has its own bucket.
    expect((await post(t, '/v1/execute', body('print:x'), t.auth('b'))).statusCode).toBe(200);
    now += 1000;
    expect((await post(t, '/v1/execute', body('print:x'), t.auth('a'))).statusCode).toBe(200);
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/polyrun_rate_limited_total 1/);
  });
});

describe('quotas', () => {
  it('executions per day: 429 QUOTA_EXCEEDED naming the quota and reset; resets at the UTC day boundary; survives restart', async () => {
    let now = Date.parse('2026-01-01T23:59:00Z');
    const executor = new FakeExecutor();
    const config = { tenants: { default: { quota: { executionsPerDay: 2 } } } };
    const t = await start(executor, { now: () => now, config, closeExecutor: false });
    expect((await post(t, '/v1/execute', body('print:x'))).statusCode).toBe(200);
    // A refused request (validation) does not count.
    expect((await post(t, '/v1/execute', body('print:x', { language: 'cobol' }))).statusCode).toBe(422);
    expect((await post(t, '/v1/execute', body('print:x'))).statusCode).toBe(200);
    const over = await post(t, '/v1/execute', body('print:x'));
    expect(over.statusCode).toBe(429);
    expect(over.json().error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { quota: 'executionsPerDay', limit: 2, used: 2, resetsAt: '2026-01-02T00:00:00.000Z' },
    });
    expect(over.headers['retry-after']).toBe('60');
    const usage = await t.app.inject({ url: '/v1/usage', headers: t.auth() });
    expect(usage.json()).toMatchObject({ tenant: 'default', day: '2026-01-01', executions: { used: 2, limit: 2 } });

    // Restart on the same data dir: usage is still there.
    await t.app.close();
    const again = await start(executor, { now: () => now, config, dataDir: t.dataDir });
    const sameKey = { authorization: t.auth().authorization };
    expect((await post(again, '/v1/execute', body('print:x'), sameKey)).statusCode).toBe(429);
    now = Date.parse('2026-01-02T00:00:01Z');
    expect((await post(again, '/v1/execute', body('print:x'), sameKey)).statusCode).toBe(200);
  });

  it('CPU seconds per day are charged after each run', async () => {
    const t = await start(new FakeExecutor(), { config: { tenants: { default: { quota: { cpuSecondsPerDay: 1 } } } } });
    expect((await post(t, '/v1/execute', body('cpu:1500'))).statusCode).toBe(200);
    const over = await post(t, '/v1/execute', body('print:x'));
    expect(over.statusCode).toBe(429);
    expect(over.json().error.details).toMatchObject({ quota: 'cpuSecondsPerDay', limit: 1, used: 1.5 });
  });

  it('concurrent executions', async () => {
    const executor = new FakeExecutor();
    const t = await start(executor, { config: { tenants: { default: { quota: { concurrent: 1 } } } } });
    const held = post(t, '/v1/execute', body('hold'));
    await executor.waitHolding(1);
    const over = await post(t, '/v1/execute', body('print:x'));
    expect(over.statusCode).toBe(429);
    expect(over.json().error.details).toMatchObject({ quota: 'concurrent', limit: 1 });
    executor.releaseAll();
    expect((await held).statusCode).toBe(200);
    expect((await post(t, '/v1/execute', body('print:x'))).statusCode).toBe(200);
  });
});

describe('request errors are JSON with the right status', () => {
  it('400 INVALID_JSON, 415, 413', async () => {
    const t = await start(new FakeExecutor(), { config: { bodyLimitBytes: 1000 } });
    const json = { ...t.auth(), 'content-type': 'application/json' };
    const bad = await t.app.inject({ method: 'POST', url: '/v1/execute', headers: json, payload: '{"language": ' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('INVALID_JSON');
    const text = await t.app.inject({ method: 'POST', url: '/v1/execute', headers: { ...t.auth(), 'content-type': 'text/plain' }, payload: 'hi' });
    expect(text.statusCode).toBe(415);
    expect(text.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const big = await post(t, '/v1/execute', body('x'.repeat(2000)));
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    const missing = await t.app.inject({ url: '/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('NOT_FOUND');
    for (const r of [bad, text, big]) expect(r.body).not.toMatch(/at .*\.(js|ts):\d+/);
  });

  it("Fastify's own errors (router, parser, unknown routes with a body) use polyrun's shape", async () => {
    const t = await start(new FakeExecutor());
    const json = { 'content-type': 'application/json' };
    const cases: [InjectOptions, number, string][] = [
      [{ method: 'GET', url: '/v1/executions/%E0%A4%A', headers: t.auth() }, 400, 'BAD_REQUEST'],
      [{ method: 'GET', url: '/nope/%E0%A4%A' }, 400, 'BAD_REQUEST'],
      [{ method: 'GET', url: `/v1/executions/${'x'.repeat(200)}`, headers: t.auth() }, 404, 'NOT_FOUND'],
      [{ method: 'DELETE', url: '/nope', headers: json }, 404, 'NOT_FOUND'],
      [{ method: 'DELETE', url: '/v1/execute', headers: { ...json, ...t.auth() } }, 404, 'NOT_FOUND'],
      [{ method: 'POST', url: '/nope', headers: json, payload: '{bad' }, 404, 'NOT_FOUND'],
    ];
    for (const [request, status, code] of cases) {
      const r = await t.app.inject(request);
      expect(r.statusCode, `${request.method} ${request.url}`).toBe(status);
      expect(Object.keys(r.json())).toEqual(['error']);
      expect(r.json().error.code).toBe(code);
      expect(r.body).not.toMatch(/FST_|statusCode/);
    }
  });

  it('422 for schema and semantic problems, naming the field', async () => {
    const t = await start(new FakeExecutor());
    const cases: [unknown, string, RegExp][] = [
      [{ files: [{ content: 'x' }] }, 'VALIDATION_FAILED', /language is required/],
      [body('x', { colour: 'red' }), 'VALIDATION_FAILED', /unknown field colour/],
      [body('x', { limits: { cpuTimeMs: 'fast' } }), 'VALIDATION_FAILED', /limits\.cpuTimeMs must be integer/],
      [body('x', { limits: { cpuTimeMs: 999_999 } }), 'LIMIT_EXCEEDS_MAXIMUM', /limits\.cpuTimeMs = 999999 exceeds the allowed maximum of 30000/],
      [body('x', { language: 'cobol' }), 'UNKNOWN_LANGUAGE', /unknown language: cobol; known: python-3\.11\.2, bash-5\.2\.15/],
      [{ language: 'python', files: [{ name: '../../etc/passwd', content: 'x' }] }, 'INVALID_FILE_NAME', /files\[0\]\.name/],
      [{ language: 'python', files: [{ name: '/abs.py', content: 'x' }] }, 'INVALID_FILE_NAME', /absolute/],
      [{ language: 'python', files: [{ content: '!!!', encoding: 'base64' }] }, 'INVALID_ENCODING', /files\[0\]\.content is not valid base64/],
      // A caller's mistake, not a sandbox failure: "d" cannot be a file and a directory at once.
      [{ language: 'python', files: [{ name: 'd', content: 'x' }, { name: 'd/e', content: 'y' }] }, 'INVALID_FILE_NAME', /files\[1\]\.name "d\/e" needs "d" to be a directory/],
      // python -c ARG would run the argument as code
      [{ language: 'python', files: [{ name: '-c', content: 'x' }], args: ['print(1)'] }, 'INVALID_FILE_NAME', /starts with "-"/],
    ];
    for (const [payload, code, message] of cases) {
      const r = await post(t, '/v1/execute', payload);
      expect(r.statusCode, JSON.stringify(payload)).toBe(422);
      expect(r.json().error.code).toBe(code);
      expect(r.json().error.message).toMatch(message);
    }
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(metrics).not.toMatch(/^polyrun_sandbox_failures_total\{/m);
    const limit = await post(t, '/v1/execute', body('x', { compileLimits: { memoryBytes: 2 ** 40 } }));
    expect(limit.json().error.details.violations[0]).toMatchObject({ field: 'compileLimits.memoryBytes', maximum: 2 ** 31 });
  });

  it('tenant maximum limits apply and are reported by /v1/runtimes', async () => {
    const t = await start(new FakeExecutor(), { config: { defaultPolicy: { maxLimits: { run: { cpuTimeMs: 1000 } } } } });
    const r = await post(t, '/v1/execute', body('x', { limits: { cpuTimeMs: 2000 } }));
    expect(r.statusCode).toBe(422);
    expect(r.json().error.message).toBe('limits.cpuTimeMs = 2000 exceeds the allowed maximum of 1000');
    const runtimes = (await t.app.inject({ url: '/v1/runtimes', headers: t.auth() })).json();
    expect(runtimes[0].limits.maximum.run.cpuTimeMs).toBe(1000);
    expect(runtimes[0].limits.defaults.run.cpuTimeMs).toBe(1000);
  });

  it('decodes base64 files and passes limits through', async () => {
    const executor = new FakeExecutor();
    const t = await start(executor);
    const r = await post(t, '/v1/execute', {
      language: 'py',
      files: [{ content: Buffer.from('print:b64').toString('base64'), encoding: 'base64' }],
      limits: { wallTimeMs: 1234 },
    });
    expect(r.statusCode).toBe(200);
    expect(r.json().run.stdout).toBe('b64');
    // The job carries the resolved limits: the request's wall time over the runtime's defaults.
    expect(executor.calls[0]!.job.limits.run).toEqual({ ...DEFAULT_LIMITS.run, wallTimeMs: 1234 });
  });
});

describe('queue and backpressure', () => {
  it('503 QUEUE_FULL with Retry-After when every slot and queue place is taken', async () => {
    const executor = new FakeExecutor();
    const t = await start(executor, { config: { slots: 1, queue: { maxQueued: 1 } } });
    const running = post(t, '/v1/execute', body('hold'));
    await executor.waitHolding(1);
    const queued = post(t, '/v1/execute', body('print:queued'));
    await expect.poll(() => t.app.polyrun.services.executions.inflightCount).toBe(2);
    const full = await post(t, '/v1/execute', body('print:x'));
    expect(full.statusCode).toBe(503);
    expect(full.json().error.code).toBe('QUEUE_FULL');
    expect(full.headers['retry-after']).toBe('1');
    const depth = (await t.app.inject({ url: '/metrics' })).body;
    expect(depth).toMatch(/polyrun_queue_depth 1/);
    executor.releaseAll();
    expect((await running).statusCode).toBe(200);
    expect((await queued).json().run.stdout).toBe('queued');
  });

  it('503 QUEUE_TIMEOUT when no slot frees up in time', async () => {
    const executor = new FakeExecutor();
    const t = await start(executor, { config: { slots: 1, queue: { maxQueued: 4, waitTimeoutMs: 50 } } });
    const running = post(t, '/v1/execute', body('hold'));
    await executor.waitHolding(1);
    const late = await post(t, '/v1/execute', body('print:x'));
    expect(late.statusCode).toBe(503);
    expect(late.json().error.code).toBe('QUEUE_TIMEOUT');
    executor.releaseAll();
    await running;
    // The timed-out request gave its quota back.
    expect((await t.app.inject({ url: '/v1/usage', headers: t.auth() })).json().executions.used).toBe(1);
  });
});

describe('asynchronous executions', () => {
  it('202 with an id, status while running, long-poll for the result, 404 for unknown or foreign ids', async () => {
    const executor = new FakeExecutor();
    const t = await start(executor, { tenants: ['default', 'other'] });
    const created = await post(t, '/v1/executions', body('hold'));
    expect(created.statusCode).toBe(202);
    const { id } = created.json();
    expect(created.headers.location).toBe(`/v1/executions/${id}`);
    await executor.waitHolding(1);
    const status = await t.app.inject({ url: `/v1/executions/${id}`, headers: t.auth() });
    expect(status.json()).toEqual({ id, status: 'running' });
    expect((await t.app.inject({ url: `/v1/executions/${id}`, headers: t.auth('other') })).statusCode).toBe(404);
    const polled = t.app.inject({ url: `/v1/executions/${id}?wait=10000`, headers: t.auth() });
    executor.releaseAll();
    const final = (await polled).json();
    expect(final).toMatchObject({ id, status: 'ok', run: { stdout: 'released\n' } });
    const unknown = await t.app.inject({ url: '/v1/executions/nope', headers: t.auth() });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('NOT_FOUND');
    expect((await t.app.inject({ url: `/v1/executions/${id}?wait=soon`, headers: t.auth() })).statusCode).toBe(422);
  });

  it('a bounded long-poll returns the pending status when time runs out', async () => {
    const executor = new FakeExecutor();
    const t = await start(executor, { config: { longPollMaxMs: 30 } });
    const { id } = (await post(t, '/v1/executions', body('hold'))).json();
    const r = await t.app.inject({ url: `/v1/executions/${id}?wait=60000`, headers: t.auth() });
    expect(r.json().status).toMatch(/queued|running/);
    executor.releaseAll();
  });
});

describe('telemetry', () => {
  it('request ids, metrics and one audit line per execution without source', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    });
    const t = await start(new FakeExecutor(), { logger: pino({ level: 'info' }, sink) });
    const r = await post(t, '/v1/execute', body('signal:SIGSYS'), { ...t.auth(), 'x-request-id': 'req-123' });
    expect(r.headers['x-request-id']).toBe('req-123');
    expect((await t.app.inject({ url: '/healthz' })).headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const audits = lines.filter((l) => l.audit);
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ reqId: 'req-123', audit: { tenant: 'default', language: 'python', files: 1, status: 'runtime_error', anomalies: ['seccomp'] } });
    expect(JSON.stringify(audits[0])).not.toContain('signal:SIGSYS'); // the source
    const requestLines = lines.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed');
    expect(requestLines.length).toBeGreaterThanOrEqual(4);
    expect(requestLines.every((l) => typeof l.reqId === 'string')).toBe(true);
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/polyrun_executions_total\{language="python",status="runtime_error"\} 1/);
    expect(metrics).toMatch(/polyrun_anomalies_total\{kind="seccomp"\} 1/);
    expect(metrics).toMatch(/polyrun_queue_wait_seconds_count 1/);
    expect(metrics).toMatch(/polyrun_run_duration_seconds_count\{language="python"\} 1/);
  });

  it('readyz is 503 until runtimes are detected; OpenAPI and docs are served', async () => {
    const empty = await start(new FakeExecutor([]));
    const notReady = await empty.app.inject({ url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json().error.code).toBe('NOT_READY');
    const t = await start(new FakeExecutor());
    expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    const spec = (await t.app.inject({ url: '/openapi.json' })).json();
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/v1/execute', '/v1/executions/{id}', '/api/v2/execute']));
    expect((await t.app.inject({ url: '/docs/' })).statusCode).toBe(200);
  });
});

describe('Piston-compatible errors', () => {
  it('uses {"message"} bodies with Piston statuses', async () => {
    const t = await start(new FakeExecutor());
    const media = await t.app.inject({ method: 'POST', url: '/api/v2/execute', headers: { ...t.auth(), 'content-type': 'text/plain' }, payload: 'x' });
    expect(media.statusCode).toBe(415);
    expect(media.json()).toEqual({ message: 'requests must be of type application/json' });
    const unknown = await post(t, '/api/v2/execute', { language: 'cobol', version: '1.0', files: [{ content: 'x' }] });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toEqual({ message: 'cobol-1.0 runtime is unknown' });
    const noLang = await post(t, '/api/v2/execute', { version: '*', files: [{ content: 'x' }] });
    expect(noLang.statusCode).toBe(400);
    expect(noLang.json().message).toBe('language is required as a string');
    const notString = await post(t, '/api/v2/execute', { language: 5, version: '*', files: [{ content: 'x' }] });
    expect(notString.json().message).toBe('language is required as a string');
    const tooLong = await post(t, '/api/v2/execute', { language: 'py', version: '*', files: [{ content: 'x' }], run_timeout: 10 ** 7 });
    expect(tooLong.json()).toEqual({ message: 'run_timeout cannot exceed the configured limit of 60000' });
    const noKey = await post(t, '/api/v2/execute', { language: 'py', version: '*', files: [{ content: 'x' }] }, {});
    expect(noKey.statusCode).toBe(401);
    expect(noKey.json().message).toMatch(/API key/);
  });
});

describe('graceful shutdown', () => {
  it('lets running executions finish, refuses new ones, closes the executor', async () => {
    const executor = new FakeExecutor();
    const t = await start(executor);
    const inflight = [post(t, '/v1/execute', body('hold')), post(t, '/v1/execute', body('hold'))];
    await executor.waitHolding(2);
    const stopping = t.app.polyrun.shutdown(10_000);
    const refused = await post(t, '/v1/execute', body('print:x'));
    expect(refused.statusCode).toBe(503);
    expect(refused.json().error.code).toBe('SHUTTING_DOWN');
    expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(503);
    executor.releaseAll();
    for (const r of await Promise.all(inflight)) expect(r.json().run.stdout).toBe('released\n');
    await stopping;
    expect(executor.closed).toBe(true);
  });

  it('keeps answering reads while draining; new work gets 503 SHUTTING_DOWN with Retry-After', async () => {
    const executor = new FakeExecutor();
    const t = await start(executor);
    const accepted = await post(t, '/v1/executions', body('hold'));
    expect(accepted.statusCode).toBe(202);
    const { id } = accepted.json();
    await executor.waitHolding(1);
    const stopping = t.app.polyrun.shutdown(10_000);

    const refused = await post(t, '/v1/executions', body('print:x'));
    expect(refused.statusCode).toBe(503);
    expect(refused.json().error.code).toBe('SHUTTING_DOWN');
    expect(refused.headers['retry-after']).toBe('1');
    expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(503);
    expect((await t.app.inject({ url: `/v1/executions/${id}`, headers: t.auth() })).json()).toEqual({ id, status: 'running' });

    // A client long-polling for the result gets it when the execution finishes during the drain.
    const polled = t.app.inject({ url: `/v1/executions/${id}?wait=10000`, headers: t.auth() });
    executor.releaseAll();
    expect((await polled).json()).toMatchObject({ id, status: 'ok', run: { stdout: 'released\n' } });
    await stopping;
  });

  it('cancels what is still running when the grace period ends', async () => {
    const executor = new FakeExecutor();
    const t = await start(executor);
    const inflight = post(t, '/v1/execute', body('hold'));
    await executor.waitHolding(1);
    await t.app.polyrun.shutdown(20);
    const r = await inflight;
    expect(r.statusCode).toBe(200);
    expect(r.json().status).toBe('internal_error');
    expect(executor.calls[0]!.signal.aborted).toBe(true);
  });
});
