/**
 * What real Piston clients (its CLI, the piston-client package) depend on: version ranges selected like
 * Piston, numeric args, unnamed files and the entry file, Piston's message texts, a failed compile also
 * reported as `run`, Piston's validation messages and its {"message"} 404 on /api/v2.
 */
import { describe, expect, it } from 'vitest';
import { fromPistonRequest, selectPistonVersion, toPistonResult, toPistonStage } from '../../src/api/piston.js';
import { DEFAULT_LIMITS, MAX_LIMITS } from '../../src/limits/limits.js';
import type { RuntimeInfo } from '../../src/runtimes/catalogue.js';
import { appsCleanedAfterEach } from '../helpers/app.js';
import { FakeExecutor, stage } from '../helpers/fake-executor.js';

const rt = (name: string, version: string, aliases: string[] = []): RuntimeInfo => ({
  language: name,
  name,
  version,
  aliases,
  extensions: [],
  compiled: false,
  limits: { defaults: DEFAULT_LIMITS, maximum: MAX_LIMITS },
});

describe('Piston version selection (semver ranges, newest match)', () => {
  const runtimes = [rt('python', '3.9.4', ['py']), rt('python', '3.11.2', ['py']), rt('python', '2.7.18', ['py']), rt('go', '1.21')];
  it.each([
    ['*', '3.11.2'],
    ['x', '3.11.2'],
    ['3.x', '3.11.2'],
    ['^3.9', '3.11.2'],
    ['~3.9', '3.9.4'],
    ['~3.11', '3.11.2'],
    ['>=3', '3.11.2'],
    ['3.11.2 || 2', '3.11.2'],
    ['2', '2.7.18'],
    ['<3', '2.7.18'],
    ['3.9.4', '3.9.4'],
  ])('%s selects %s', (range, version) => {
    expect(selectPistonVersion(runtimes, 'py', range)).toBe(version);
  });
  it('matches non-semver versions by their coerced form, and nothing else', () => {
    expect(selectPistonVersion(runtimes, 'go', '1.x')).toBe('1.21');
    expect(selectPistonVersion(runtimes, 'py', '4')).toBeUndefined();
    expect(selectPistonVersion(runtimes, 'cobol', '*')).toBeUndefined();
  });
  it('a request gets the selected exact version; an unmatched range stays as given', () => {
    expect(fromPistonRequest({ language: 'py', version: '^3.9', files: [{ content: 'x' }] }, runtimes).version).toBe('3.11.2');
    expect(fromPistonRequest({ language: 'py', version: '9', files: [{ content: 'x' }] }, runtimes).version).toBe('9');
  });
});

describe('Piston requests', () => {
  it('takes numeric args as strings', () => {
    expect(fromPistonRequest({ language: 'py', version: '*', files: [{ content: 'x' }], args: [1, 2.5, 'x'] }).args).toEqual(['1', '2.5', 'x']);
  });
  it('names unnamed files fileN.code and makes the first UTF-8 file the entry', () => {
    const body = fromPistonRequest({
      language: 'py',
      version: '*',
      files: [{ content: 'AAEC', encoding: 'base64' }, { content: 'main' }, { name: 'lib.py', content: 'lib' }],
    });
    expect(body.files.map((f) => [f.name, f.content])).toEqual([
      [undefined, 'main'],
      ['file0.code', 'AAEC'],
      ['lib.py', 'lib'],
    ]);
  });
});

describe("Piston's answers", () => {
  it("uses Piston's (isolate's) message texts", () => {
    expect(toPistonStage(stage({ status: 'runtime_error', exitCode: 3 })).message).toBe('Exited with error status 3');
    expect(toPistonStage(stage({ status: 'runtime_error', exitCode: null, signal: 'SIGSEGV' })).message).toBe('Caught fatal signal 11');
    expect(toPistonStage(stage({ status: 'time_limit', cpuTimeMs: 3000, wallTimeMs: 3010 })).message).toBe('Time limit exceeded');
    expect(toPistonStage(stage({ status: 'time_limit', cpuTimeMs: 2, wallTimeMs: 3000 })).message).toBe('Time limit exceeded (wall clock)');
    expect(toPistonStage(stage({ status: 'time_limit', cpuTimeMs: 100, wallTimeMs: 150 }), 100).message).toBe('Time limit exceeded');
  });
  it('reports a failed compile as `run` too', () => {
    const compile = stage({ status: 'time_limit', cpuTimeMs: 10_000 });
    const r = toPistonResult({ language: 'c', version: '1', status: 'time_limit', compile, run: null });
    expect(r.run).toEqual(r.compile);
    expect(r.run?.status).toBe('TO');
  });
});

describe('Piston HTTP shapes', () => {
  const start = appsCleanedAfterEach();
  const post = async (t: Awaited<ReturnType<typeof start>>, payload: unknown) =>
    (await t.app.inject({ method: 'POST', url: '/api/v2/execute', headers: t.auth(), payload: payload as object })).json();

  it("answers Piston's validation messages", async () => {
    const t = await start(new FakeExecutor());
    expect(await post(t, { language: 'py', version: '*' })).toEqual({ message: 'files is required as an array' });
    expect(await post(t, { language: 'py', version: '*', files: 'x' })).toEqual({ message: 'files is required as an array' });
    expect(await post(t, { language: 'py', files: [{ content: 'x' }] })).toEqual({ message: 'version is required as a string' });
    expect(await post(t, { language: 'py', version: '*', files: [{ name: 'a' }] })).toEqual({ message: 'files[0].content is required as a string' });
    expect(await post(t, { language: 'py', version: '*', files: [{ content: 'x' }], run_timeout: 'slow' })).toEqual({ message: 'If specified, run_timeout must be a number' });
  });

  it('selects versions by range and runs numeric args', async () => {
    const t = await start(new FakeExecutor());
    const r = await post(t, { language: 'python', version: '^3.9', files: [{ content: 'print:ok' }], args: [1, 2] });
    expect(r).toMatchObject({ language: 'python', version: '3.11.2', run: { stdout: 'ok' } });
  });

  it('answers unknown /api/v2 paths with {"message"}', async () => {
    const t = await start(new FakeExecutor());
    const res = await t.app.inject({ url: '/api/v2/nope', headers: t.auth() });
    expect([res.statusCode, res.json()]).toEqual([404, { message: 'Not Found' }]);
  });
});

describe('auth off, as a local Piston', () => {
  const start = appsCleanedAfterEach();
  const burst = async (t: Awaited<ReturnType<typeof start>>) => {
    const codes = await Promise.all(
      Array.from({ length: 25 }, () => t.app.inject({ url: '/api/v2/runtimes' }).then((r) => r.statusCode)),
    );
    return codes.filter((c) => c === 429).length;
  };

  it('on loopback: no rate limit (a 25-request burst from one client passes)', async () => {
    const t = await start(new FakeExecutor(), { config: { auth: false, host: '127.0.0.1' } });
    expect(await burst(t)).toBe(0);
  });

  it('on another address, or with an anonymousPolicy.rate, the per-IP limit stays', async () => {
    expect(await burst(await start(new FakeExecutor(), { config: { auth: false, host: '0.0.0.0' } }))).toBeGreaterThan(0);
    expect(await burst(await start(new FakeExecutor(), { config: { auth: false, anonymousPolicy: { rate: { perSecond: 1, burst: 5 } } } }))).toBeGreaterThan(0);
  });

  it('takes a JSON body sent as text/plain (piston-client sends no content type); other text stays 415', async () => {
    const t = await start(new FakeExecutor(), { config: { auth: false } });
    const ok = await t.app.inject({ method: 'POST', url: '/api/v2/execute', headers: { 'content-type': 'text/plain;charset=UTF-8' }, payload: JSON.stringify({ language: 'py', version: '*', files: [{ content: 'print:x' }] }) });
    expect([ok.statusCode, ok.json().run.stdout]).toEqual([200, 'x']);
    const bad = await t.app.inject({ method: 'POST', url: '/api/v2/execute', headers: { 'content-type': 'text/plain' }, payload: 'x' });
    expect([bad.statusCode, bad.json()]).toEqual([415, { message: 'requests must be of type application/json' }]);
  });
});
