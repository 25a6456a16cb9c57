/**
 * The Judge0-compatible API without sandboxes: the language table and its resolution, Ruby's base64,
 * Judge0's output comparison, the status mapping, fields and rendering, validation messages, and the HTTP
 * shapes (create, poll, wait, batch, languages, statuses, auth, errors) against the fake executor.
 */
import { describe, expect, it } from 'vitest';
import type { ExecutionResult } from '../../src/contract/result.js';
import { lenientDecode64, rubyEncode64 } from '../../src/compat/judge0/base64.js';
import { normalizeOutput, outputAccepted } from '../../src/compat/judge0/compare.js';
import { JUDGE0_MAX_ID, LANGUAGE_ROWS, POLYRUN_FIRST_ID, resolveLanguages } from '../../src/compat/judge0/languages.js';
import { STATUSES, toJudge0Outcome } from '../../src/compat/judge0/status.js';
import { decimal, parseFields, renderSubmission, type SubmissionRecord } from '../../src/compat/judge0/submission.js';
import { splitArguments, validateSubmission } from '../../src/compat/judge0/validate.js';
import { DEFAULT_LIMITS, MAX_LIMITS } from '../../src/limits/limits.js';
import type { RuntimeInfo } from '../../src/runtimes/catalogue.js';
import { loadManifests } from '../../src/runtimes/registry.js';
import { appsCleanedAfterEach } from '../helpers/app.js';
import { until } from '../helpers/cluster.js';
import { FakeExecutor, stage } from '../helpers/fake-executor.js';

const runtime = (name: string, version: string, aliases: string[] = []): RuntimeInfo => ({
  language: name,
  name,
  version,
  aliases,
  extensions: [],
  compiled: false,
  limits: { defaults: DEFAULT_LIMITS, maximum: MAX_LIMITS },
});

describe('the language table', () => {
  it('has unique ids: Judge0 CE ids up to 89, polyrun ids from 1000', () => {
    const ids = LANGUAGE_ROWS.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of LANGUAGE_ROWS) expect(r.id <= JUDGE0_MAX_ID || r.id >= POLYRUN_FIRST_ID, `id ${r.id}`).toBe(true);
    expect(LANGUAGE_ROWS.find((r) => r.id === 54)?.runtimes).toEqual(['c++']);
    expect(LANGUAGE_ROWS.find((r) => r.id === 71)?.runtimes).toEqual(['python']);
  });

  it('maps every runtime polyrun ships today to a Judge0 id', async () => {
    const manifests = await loadManifests();
    const resolved = resolveLanguages(manifests.map((m) => runtime(m.name, '1.0', m.aliases)));
    const mapped = new Set(resolved.map((l) => l.runtime.name));
    expect(manifests.map((m) => m.name).filter((n) => !mapped.has(n))).toEqual([]);
  });

  it('lists only installed runtimes, named with the installed version', () => {
    const langs = resolveLanguages([runtime('c', '12.2.0'), runtime('python', '3.11.2', ['py'])]);
    expect(langs.map((l) => [l.id, l.name, l.primary])).toEqual([
      [48, 'C (GCC 12.2.0)', false],
      [49, 'C (GCC 12.2.0)', false],
      [50, 'C (GCC 12.2.0)', true],
      [71, 'Python (3.11.2)', true],
    ]);
  });
});

describe('base64 as Ruby writes it', () => {
  it('wraps at 60 characters, every line ending in a newline', () => {
    expect(rubyEncode64('hi\n')).toBe('aGkK\n');
    expect(rubyEncode64('Exited with error status 1')).toBe('RXhpdGVkIHdpdGggZXJyb3Igc3RhdHVzIDE=\n');
    expect(rubyEncode64('')).toBe('');
    const long = rubyEncode64('x'.repeat(100));
    expect(long.split('\n').map((l) => l.length)).toEqual([60, 60, 16, 0]);
  });

  it('decodes leniently, ignoring characters outside the alphabet', () => {
    expect(lenientDecode64('aGkK\n').toString()).toBe('hi\n');
    expect(lenientDecode64('aG k*K').toString()).toBe('hi\n');
    expect(lenientDecode64('!!!').toString()).toBe('');
  });
});

describe("Judge0's output comparison", () => {
  it('ignores trailing whitespace per line and trailing newlines, nothing else', () => {
    expect(outputAccepted('3 \r\n\n', '3')).toBe(true);
    expect(outputAccepted('a\t\nb\n', 'a\nb')).toBe(true);
    expect(outputAccepted(' 3', '3')).toBe(false);
    expect(outputAccepted('a\n\nb', 'a\nb')).toBe(false);
    expect(outputAccepted('A', 'a')).toBe(false);
    expect(outputAccepted('anything', null)).toBe(true);
  });

  it('keeps the quirk: expected "" against no output is a wrong answer, against a lone newline accepted', () => {
    expect(outputAccepted('', '')).toBe(false);
    expect(outputAccepted('\n', '')).toBe(true);
    expect(normalizeOutput(null)).toBeNull();
  });
});

const result = (run: Partial<ExecutionResult['run']> & object, compile: ExecutionResult['compile'] = null, status?: ExecutionResult['status']): ExecutionResult => ({
  language: 'c',
  version: '12',
  status: status ?? (run.status as ExecutionResult['status']) ?? 'ok',
  compile,
  run: stage(run),
});

describe('status mapping', () => {
  it('has the 14 statuses', () => {
    expect(STATUSES.map((s) => s.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(STATUSES[10]).toEqual({ id: 11, description: 'Runtime Error (NZEC)' });
  });

  it('maps what the run did', () => {
    const o = (r: Partial<ExecutionResult['run']> & object, expected: string | null = null) => toJudge0Outcome(result(r), expected, 5000);
    expect(o({ stdout: '3\n', cpuTimeMs: 12, wallTimeMs: 40, memoryBytes: 3 * 1024 * 1024 })).toMatchObject({ status_id: 3, time: 0.012, wall_time: 0.04, memory: 3072, exit_code: 0, message: null });
    expect(o({ stdout: '4\n' }, '3').status_id).toBe(4);
    expect(o({ status: 'time_limit', cpuTimeMs: 5000 })).toMatchObject({ status_id: 5, message: 'Time limit exceeded' });
    expect(o({ status: 'time_limit', cpuTimeMs: 10 })).toMatchObject({ status_id: 5, message: 'Time limit exceeded (wall clock)' });
    expect(o({ status: 'runtime_error', exitCode: 3 })).toMatchObject({ status_id: 11, exit_code: 3, message: 'Exited with error status 3' });
    expect(o({ status: 'runtime_error', exitCode: null, signal: 'SIGSEGV' })).toMatchObject({ status_id: 7, exit_signal: 11, message: 'Caught fatal signal 11' });
    expect(o({ status: 'runtime_error', exitCode: null, signal: 'SIGFPE' }).status_id).toBe(9);
    expect(o({ status: 'runtime_error', exitCode: null, signal: 'SIGABRT' }).status_id).toBe(10);
    expect(o({ status: 'runtime_error', exitCode: null, signal: 'SIGKILL' })).toMatchObject({ status_id: 12, exit_signal: 9 });
    expect(o({ status: 'memory_limit' })).toMatchObject({ status_id: 12, polyrun_status: 'memory_limit' });
    expect(o({ status: 'output_limit' })).toMatchObject({ status_id: 8, polyrun_status: 'output_limit' });
    expect(o({ status: 'internal_error' }).status_id).toBe(13);
  });

  it('a failed compile is status 6 with its output, and nothing of a run', () => {
    const compile = stage({ status: 'runtime_error', exitCode: 1, stderr: 'main.c:1: error\n' });
    const out = toJudge0Outcome({ language: 'c', version: '12', status: 'compile_error', compile, run: null }, null, 5000);
    expect(out).toMatchObject({ status_id: 6, compile_output: 'main.c:1: error\n', stdout: null, time: null, memory: null, exit_code: null });
    const slow = toJudge0Outcome({ language: 'c', version: '12', status: 'time_limit', compile: stage({ status: 'time_limit' }), run: null }, null, 5000);
    expect(slow).toMatchObject({ status_id: 6, compile_output: 'Compilation time limit exceeded.' });
  });
});

const record: SubmissionRecord = {
  token: 't-1',
  tenant: 'default',
  input: {
    source_code: 'print(1)',
    language_id: 71,
    compiler_options: null,
    command_line_arguments: null,
    stdin: null,
    expected_output: null,
    cpu_time_limit: 5,
    cpu_extra_time: 1,
    wall_time_limit: 10,
    memory_limit: 128000,
    stack_limit: 64000,
    max_processes_and_or_threads: 60,
    enable_per_process_and_thread_time_limit: false,
    enable_per_process_and_thread_memory_limit: false,
    max_file_size: 1024,
    redirect_stderr_to_stdout: false,
    enable_network: false,
    number_of_runs: 1,
    additional_files: null,
    callback_url: null,
  },
  language: { id: 71, name: 'Python (3.11.2)' },
  status_id: 3,
  outcome: { status_id: 3, stdout: '1\n', stderr: null, compile_output: null, message: null, exit_code: 0, exit_signal: null, time: 0.012, wall_time: 0.1, memory: 3164, polyrun_status: null },
  created_at: Date.UTC(2026, 0, 1, 10, 0, 0, 123),
  finished_at: Date.UTC(2026, 0, 1, 10, 0, 1, 0),
};

describe('fields and rendering', () => {
  it('shows the default fields in column order, decimals as strings', () => {
    const fields = parseFields(undefined);
    if (!('fields' in fields)) throw new Error('expected fields');
    const out = renderSubmission(record, fields.fields, false);
    expect(Object.keys(out)).toEqual(['stdout', 'time', 'memory', 'stderr', 'token', 'compile_output', 'message', 'status']);
    expect(out).toMatchObject({ stdout: '1\n', time: '0.012', memory: 3164, status: { id: 3, description: 'Accepted' } });
  });

  it('"*" shows every column; unknown names are refused; base64 covers the texts and message', () => {
    const all = parseFields('*');
    if (!('fields' in all)) throw new Error('expected fields');
    const out = renderSubmission(record, all.fields, true);
    expect(Object.keys(out)).toHaveLength(35); // Judge0's 35 keys (polyrun_status only when set)
    expect(out).toMatchObject({ cpu_time_limit: '5.0', wall_time_limit: '10.0', source_code: 'cHJpbnQoMSk=\n', created_at: '2026-01-01T10:00:00.123Z' });
    expect(parseFields('token,nope, time')).toEqual({ invalid: ['nope', ' time'] });
    expect(decimal(0.5)).toBe('0.5');
  });
});

describe('validation', () => {
  const ok = { languageExists: (id: number) => id === 71, languageArchived: () => false, ceiling: { cpuSeconds: 30, wallSeconds: 60, memoryKb: 2097152, processes: 256, fileSizeKb: 1024 } };
  const errorsOf = (p: Record<string, unknown>) => {
    const v = validateSubmission(p, false, ok);
    return 'errors' in v ? v.errors : {};
  };

  it("applies Judge0's defaults", () => {
    const v = validateSubmission({ source_code: 'x', language_id: 71 }, false, ok);
    expect('input' in v && v.input).toMatchObject({ cpu_time_limit: 5, cpu_extra_time: 1, wall_time_limit: 10, memory_limit: 128000, max_file_size: 1024, number_of_runs: 1 });
  });

  it("answers Judge0's messages", () => {
    expect(errorsOf({})).toEqual({ source_code: ["can't be blank"], language_id: ["can't be blank", "language with id  doesn't exist"] });
    expect(errorsOf({ source_code: 'x', language_id: 999 })).toEqual({ language_id: ["language with id 999 doesn't exist"] });
    expect(errorsOf({ source_code: 'x', language_id: 71, cpu_time_limit: 16 })).toEqual({ cpu_time_limit: ['must be less than or equal to 15.0'] });
    expect(errorsOf({ source_code: 'x', language_id: 71, memory_limit: 'lots' })).toEqual({ memory_limit: ['is not a number'] });
    expect(errorsOf({ source_code: 'x', language_id: 71, memory_limit: 1000 })).toEqual({ memory_limit: ['must be greater than or equal to 2048'] });
    expect(errorsOf({ source_code: 'x', language_id: 71, max_processes_and_or_threads: 0 })).toEqual({ max_processes_and_or_threads: ['must be greater than 0'] });
    expect(errorsOf({ source_code: 'x', language_id: 71, enable_network: true })).toEqual({ enable_network: ['this option cannot be enabled'] });
    expect(errorsOf({ source_code: 'x', language_id: 71, callback_url: 'http://x' })).toEqual({ callback_url: ['setting callback is not allowed'] }); // callbacks off
  });

  it("narrows Judge0's ranges to the tenant's ceiling", () => {
    const low = { ...ok, ceiling: { ...ok.ceiling, cpuSeconds: 2 } };
    const v = validateSubmission({ source_code: 'x', language_id: 71, cpu_time_limit: 3 }, false, low);
    expect('errors' in v && v.errors).toEqual({ cpu_time_limit: ['must be less than or equal to 2.0'] });
    const d = validateSubmission({ source_code: 'x', language_id: 71 }, false, low);
    expect('input' in d && d.input.cpu_time_limit).toBe(2);
  });

  it('splits command_line_arguments like bash would, without a shell', () => {
    expect(splitArguments(' a "b c" \'d e\' f\\ g ')).toEqual(['a', 'b c', 'd e', 'f g']);
    expect(splitArguments('x; rm -rf / | y $HOME')).toEqual(['x', 'rm', '-rf', '/', 'y', 'HOME']);
    expect(splitArguments(null)).toEqual([]);
  });
});

describe('the Judge0 HTTP API (fake executor)', () => {
  const start = appsCleanedAfterEach();
  const app = async (config: Record<string, unknown> = {}) =>
    start(new FakeExecutor(), { tenants: ['default', 'boss'], config: { judge0: { adminTenants: ['boss'] }, ...config } });

  it('creates with wait=false and polls by token; wait=true answers at once', async () => {
    const t = await app();
    const token = { 'x-auth-token': t.keys.default! };
    const created = await t.app.inject({ method: 'POST', url: '/submissions', headers: token, payload: { source_code: 'print:hi\n', language_id: 71, expected_output: 'hi' } });
    expect(created.statusCode).toBe(201);
    expect(Object.keys(created.json())).toEqual(['token']);
    let polled: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) {
      polled = (await t.app.inject({ url: `/submissions/${created.json().token}`, headers: token })).json();
      if ((polled.status as { id: number }).id > 2) break;
      await new Promise((r) => setImmediate(r));
    }
    expect(polled).toMatchObject({ stdout: 'hi\n', status: { id: 3, description: 'Accepted' }, time: '0.005' });

    const waited = await t.app.inject({ method: 'POST', url: '/submissions?wait=true&base64_encoded=true&fields=stdout,status_id,language', headers: token, payload: { source_code: rubyEncode64('print:hi\n'), language_id: 71 } });
    expect(waited.statusCode).toBe(201);
    expect(waited.json()).toEqual({ stdout: 'aGkK\n', status_id: 3, language: { id: 71, name: 'Python (3.11.2)' } });
  });

  it('batches: creates up to 20, invalid items answered in place; reads them back in order with null for unknown', async () => {
    const t = await app();
    const h = { 'x-auth-token': t.keys.default! };
    const res = await t.app.inject({ method: 'POST', url: '/submissions/batch?wait=true', headers: h, payload: { submissions: [{ source_code: 'print:a', language_id: 71 }, { language_id: 71 }] } });
    expect(res.statusCode).toBe(201);
    const [first, second] = res.json();
    expect(first).toHaveProperty('token');
    expect(second).toEqual({ source_code: ["can't be blank"] });
    const tokens = `${first.token},nope,${first.token}`;
    const got = await t.app.inject({ url: `/submissions/batch?tokens=${tokens}&fields=token`, headers: h });
    expect(got.json()).toEqual({ submissions: [{ token: first.token }, null, { token: first.token }] });
    expect((await t.app.inject({ method: 'POST', url: '/submissions/batch', headers: h, payload: { submissions: [] } })).json()).toEqual({ error: 'there should be at least one submission in a batch' });
    const many = Array.from({ length: 21 }, () => ({ source_code: 'x', language_id: 71 }));
    expect((await t.app.inject({ method: 'POST', url: '/submissions/batch', headers: h, payload: { submissions: many } })).json()).toEqual({
      error: 'number of submissions in a batch should be less than or equal to 20',
    });
  });

  it("answers Judge0's errors: 422 field errors, 400 invalid fields, 401 and 403 with no body, 404", async () => {
    const t = await app();
    const h = { 'x-auth-token': t.keys.default! };
    const bad = await t.app.inject({ method: 'POST', url: '/submissions', headers: h, payload: { source_code: 'x', language_id: 3 } });
    expect(bad.statusCode).toBe(422);
    expect(bad.json()).toEqual({ language_id: ["language with id 3 doesn't exist"] });
    const fields = await t.app.inject({ method: 'POST', url: '/submissions?fields=token,bogus', headers: h, payload: { source_code: 'x', language_id: 71 } });
    expect([fields.statusCode, fields.json()]).toEqual([400, { error: 'invalid fields: [bogus]' }]);
    const noKey = await t.app.inject({ method: 'POST', url: '/submissions', payload: { source_code: 'x', language_id: 71 } });
    expect([noKey.statusCode, noKey.body]).toEqual([401, '']);
    const list = await t.app.inject({ url: '/submissions', headers: h });
    expect([list.statusCode, list.body]).toEqual([403, '']);
    const notFound = await t.app.inject({ url: '/submissions/nope', headers: { ...h, accept: 'application/json' } });
    expect([notFound.statusCode, notFound.json()]).toEqual([404, { status: 404, error: 'Not Found' }]);
  });

  it('X-Auth-User of an admin tenant lists and deletes every submission', async () => {
    const t = await app();
    const h = { 'x-auth-token': t.keys.default! };
    const created = await t.app.inject({ method: 'POST', url: '/submissions?wait=true&fields=token', headers: h, payload: { source_code: 'print:x', language_id: 71 } });
    const admin = { ...h, 'x-auth-user': t.keys.boss! };
    const list = await t.app.inject({ url: '/submissions?per_page=1&fields=token', headers: admin });
    expect(list.json()).toEqual({ submissions: [{ token: created.json().token }], meta: { current_page: 1, next_page: null, prev_page: null, total_pages: 1, total_count: 1 } });
    expect((await t.app.inject({ url: '/submissions?page=0', headers: admin })).json()).toEqual({ error: 'invalid page: 0' });
    const deleted = await t.app.inject({ method: 'DELETE', url: `/submissions/${created.json().token}?fields=stdout`, headers: admin });
    expect(deleted.json()).toEqual({ stdout: 'eA==\n' });
    expect((await t.app.inject({ url: `/submissions/${created.json().token}`, headers: h })).statusCode).toBe(404);
  });

  it('a tenant sees only its own submissions', async () => {
    const t = await app();
    const created = await t.app.inject({ method: 'POST', url: '/submissions?wait=true&fields=token', headers: { 'x-auth-token': t.keys.default! }, payload: { source_code: 'print:x', language_id: 71 } });
    expect((await t.app.inject({ url: `/submissions/${created.json().token}`, headers: { 'x-auth-token': t.keys.boss! } })).statusCode).toBe(404);
  });

  it('languages, statuses and the informational endpoints', async () => {
    const t = await app();
    const h = { 'x-auth-token': t.keys.default! };
    const get = async (url: string) => (await t.app.inject({ url, headers: h })).json();
    expect(await get('/languages')).toEqual([
      { id: 46, name: 'Bash (5.2.15)' },
      { id: 50, name: 'C (GCC 12.2.0)' },
      { id: 71, name: 'Python (3.11.2)' },
    ]);
    expect((await get('/languages/all')).map((l: { id: number }) => l.id)).toEqual([46, 48, 49, 50, 71]);
    expect(await get('/languages/71')).toMatchObject({ id: 71, name: 'Python (3.11.2)', is_archived: false, source_file: 'main.py', compile_cmd: null });
    expect((await t.app.inject({ url: '/languages/70', headers: h })).statusCode).toBe(404);
    expect(await get('/statuses')).toHaveLength(14);
    expect(await get('/config_info')).toMatchObject({ enable_wait_result: true, cpu_time_limit: 5, max_submission_batch_size: 20, enable_network: false, enable_submission_delete: true });
    expect(await get('/about')).toHaveProperty('version', '1.13.1');
    expect((await t.app.inject({ url: '/version', headers: h })).body).toBe('1.13.1');
    expect((await get('/workers'))[0]).toMatchObject({ queue: 'polyrun', available: 2 });
    expect(await get('/system_info')).toHaveProperty('CPU(s)');
    expect(await get('/statistics')).toHaveProperty('submissions');
  });

  it('takes form bodies, as Rails does', async () => {
    const t = await app();
    const res = await t.app.inject({
      method: 'POST',
      url: '/submissions?wait=true&fields=stdout',
      headers: { 'x-auth-token': t.keys.default!, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'source_code=print%3Aform&language_id=71',
    });
    expect([res.statusCode, res.json()]).toEqual([201, { stdout: 'form' }]);
  });
});

describe('docs', () => {
  it('docs/api.md holds the current Judge0 language table (npm run docs)', async () => {
    const { readFileSync } = await import('node:fs');
    const { projectPath } = await import('../../src/project.js');
    const { languagesTable, withLanguagesTable } = await import('../../src/compat/judge0/doc-table.js');
    const text = readFileSync(projectPath('docs', 'api.md'), 'utf8');
    expect(withLanguagesTable(text, languagesTable())).toBe(text);
  });
});

describe('callbacks', async () => {
  const { createServer } = await import('node:http');
  const { hostname } = await import('node:os');
  const { callbackProblem, deliverCallback, isPublicAddress } = await import('../../src/compat/judge0/callback.js');
  const policy = { enabled: true, allowedHosts: [] as string[], allowPrivate: false, timeoutMs: 2000, maxTries: 3 };

  it('knows public addresses from loopback, private, link-local and the like', () => {
    for (const a of ['8.8.8.8', '1.1.1.1', '2001:4860:4860::8888']) expect(isPublicAddress(a), a).toBe(true);
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', 'not-an-ip']) {
      expect(isPublicAddress(a), a).toBe(false);
    }
  });

  it('refuses URLs before anything is sent', () => {
    expect(callbackProblem('http://127.0.0.1:9/x', policy)).toBe('must not be a loopback, private or link-local address');
    expect(callbackProblem('http://[::1]/x', policy)).toBe('must not be a loopback, private or link-local address');
    expect(callbackProblem('http://localhost/x', policy)).toBe('must not be a loopback, private or link-local address');
    expect(callbackProblem('http://169.254.169.254/latest/meta-data', policy)).not.toBeNull();
    expect(callbackProblem('ftp://example.com/', policy)).toBe('must be an http or https URL');
    expect(callbackProblem('http://u:p@example.com/', policy)).toBe('must not carry credentials');
    expect(callbackProblem('https://example.com/cb', policy)).toBeNull();
    expect(callbackProblem('https://example.com/cb', { ...policy, allowedHosts: ['hooks.example.org'] })).toBe('this host is not allowed');
    expect(callbackProblem('https://example.com/cb', { ...policy, enabled: false })).toBe('setting callback is not allowed');
    expect(callbackProblem('http://127.0.0.1:9/x', { ...policy, allowPrivate: true })).toBeNull();
  });

  it('checks what a name resolves to at delivery: a name of a loopback address is refused', async () => {
    // this host's own name resolves to 127.0.0.1 here (/etc/hosts)
    const name = hostname();
    expect(await deliverCallback(`http://${name}:9/cb`, {}, policy)).toBe('refused');
  });

  it("PUTs Judge0's body (default fields, base64) after the submission finished; counted in metrics", async () => {
    const received: { method?: string; type?: string; body: string }[] = [];
    let arrived!: () => void;
    const delivered = new Promise<void>((resolve) => (arrived = resolve));
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        received.push({ method: req.method, type: req.headers['content-type'], body });
        res.end('ok');
        arrived();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const t = await (await import('../helpers/app.js')).makeTestApp(new FakeExecutor(), {
        config: { judge0: { adminTenants: [], callbacks: { enabled: true, allowedHosts: [], allowPrivate: true, timeoutMs: 2000, maxTries: 3 } } },
      });
      try {
        const res = await t.app.inject({
          method: 'POST',
          url: '/submissions?wait=true',
          headers: { 'x-auth-token': t.keys.default! },
          payload: { source_code: 'print:hi\n', language_id: 71, callback_url: `http://127.0.0.1:${port}/cb` },
        });
        expect(res.statusCode).toBe(201);
        await delivered; // the callback is sent after the answer, whenever the service gets to it
        expect(received).toHaveLength(1);
        expect(received[0]).toMatchObject({ method: 'PUT', type: 'application/json' });
        const body = JSON.parse(received[0]!.body);
        expect(Object.keys(body)).toEqual(['stdout', 'time', 'memory', 'stderr', 'token', 'compile_output', 'message', 'status']);
        expect(body).toMatchObject({ stdout: 'aGkK\n', token: res.json().token, status: { id: 3, description: 'Accepted' } });
        // counted once the PUT's answer is back at the service, a moment after the test server sent it
        await until('the delivery counted', async () =>
          /polyrun_judge0_callbacks_total\{outcome="delivered"\} 1/.test((await t.app.inject({ url: '/metrics' })).body), 30_000, 10);
      } finally {
        await t.cleanup();
      }
    } finally {
      server.close();
    }
  });

  it('a closed port is tried maxTries times, then counted failed', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise((r) => server.close(r));
    expect(await deliverCallback(`http://127.0.0.1:${port}/cb`, {}, { ...policy, allowPrivate: true })).toBe('failed');
  });

  it('a private callback_url is 422 by default', async () => {
    const t = await (await import('../helpers/app.js')).makeTestApp(new FakeExecutor());
    try {
      const res = await t.app.inject({
        method: 'POST',
        url: '/submissions',
        headers: { 'x-auth-token': t.keys.default! },
        payload: { source_code: 'x', language_id: 71, callback_url: 'http://10.0.0.1/cb' },
      });
      expect([res.statusCode, res.json()]).toEqual([422, { callback_url: ['must not be a loopback, private or link-local address'] }]);
    } finally {
      await t.cleanup();
    }
  });
});

describe('Judge0 edge answers', () => {
  const start = appsCleanedAfterEach();
  it('a malformed JSON body is 400 {"status":400,"error":"Bad Request"}; authenticate and authorize', async () => {
    const t = await start(new FakeExecutor(), { tenants: ['default', 'boss'], config: { judge0: { adminTenants: ['boss'] } } });
    const h = { 'x-auth-token': t.keys.default!, 'content-type': 'application/json' };
    const bad = await t.app.inject({ method: 'POST', url: '/submissions', headers: h, payload: '{"source_code":' });
    expect([bad.statusCode, bad.json()]).toEqual([400, { status: 400, error: 'Bad Request' }]);
    expect((await t.app.inject({ method: 'POST', url: '/authenticate', headers: { 'x-auth-token': t.keys.default! } })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: '/authenticate', headers: { 'x-auth-token': 'nope' } })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'POST', url: '/authorize', headers: { 'x-auth-token': t.keys.default!, 'x-auth-user': t.keys.default! } })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url: '/authorize', headers: { 'x-auth-token': t.keys.default!, 'x-auth-user': t.keys.boss! } })).statusCode).toBe(200);
  });
});

describe('additional_files (zip, read in memory)', async () => {
  const { readZip } = await import('../../src/compat/judge0/zip.js');
  const { makeZip } = await import('../helpers/zip.js');
  const limits = { maxEntries: 4, maxBytes: 1000, maxNameBytes: 255 };

  it('reads stored and deflated regular files, skipping directories', () => {
    const zip = makeZip([{ name: 'data/', mode: 0o40755 }, { name: 'data/a.txt', content: 'hello' }, { name: 'b.txt', content: 'x'.repeat(300), deflate: true }]);
    const r = readZip(zip, limits);
    expect('files' in r && r.files.map((f) => [f.name, f.content.toString().length])).toEqual([
      ['data/a.txt', 5],
      ['b.txt', 300],
    ]);
  });

  it.each([
    ['a symlink', [{ name: 'link', content: '/etc/passwd', mode: 0o120777 }], /not a regular file/],
    ['a path outside the box', [{ name: '../evil', content: 'x' }], /"\.\." component/],
    ['an absolute path', [{ name: '/etc/x', content: 'x' }], /absolute/],
    ['too many entries', Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, content: 'x' })), /more than 4 entries/],
    ['too many bytes', [{ name: 'big', content: 'x'.repeat(2000), deflate: true }], /more than 1000 bytes/],
  ])('refuses %s', (_what, entries, message) => {
    const r = readZip(makeZip(entries), limits);
    expect('problem' in r && r.problem).toMatch(message);
  });

  it('refuses what is not a zip, and a corrupt entry', () => {
    expect(readZip(Buffer.from('not a zip at all, not at all'), limits)).toEqual({ problem: 'is not a zip archive' });
    const zip = makeZip([{ name: 'a.txt', content: 'hello' }]);
    zip.writeUInt8(zip.readUInt8(35) ^ 0xff, 35); // flip a byte of the content
    expect('problem' in readZip(zip, limits)).toBe(true);
  });

  it('a submission with an unusable archive is 422', async () => {
    const t = await (await import('../helpers/app.js')).makeTestApp(new FakeExecutor());
    try {
      const bad = makeZip([{ name: 'link', content: '/etc/passwd', mode: 0o120777 }]).toString('base64');
      const res = await t.app.inject({ method: 'POST', url: '/submissions', headers: { 'x-auth-token': t.keys.default! }, payload: { source_code: 'x', language_id: 71, additional_files: bad } });
      expect(res.statusCode).toBe(422);
      expect(res.json().additional_files[0]).toMatch(/^is not a usable zip archive: "link" is not a regular file/);
    } finally {
      await t.cleanup();
    }
  });
});

describe('enable_network', async () => {
  const { judge0Network, networkAllowed, PUBLIC_EGRESS } = await import('../../src/compat/judge0/network.js');
  const { BUILTIN_POLICY } = await import('../../src/config/policy.js');
  const policy = (over: Partial<typeof BUILTIN_POLICY.network>) => ({ ...BUILTIN_POLICY.network, ...over });
  it('is refused by default: the built-in policy does not enable the network', () => {
    expect(networkAllowed(BUILTIN_POLICY.network)).toBe(false);
    expect(judge0Network(BUILTIN_POLICY.network)).toBeUndefined();
  });
  it("grants a tenant whose policy enables it the public internet, or its ceiling list", () => {
    expect(judge0Network(policy({ enabled: true }))).toEqual({ allow: [PUBLIC_EGRESS] });
    expect(judge0Network(policy({ enabled: true, allowCeiling: ['pypi.org', '*.example.com:443'] }))).toEqual({ allow: ['pypi.org', '*.example.com:443'] });
  });
  it('is refused when the ceiling could never pass the entry limit, or is empty', () => {
    expect(networkAllowed(policy({ enabled: true, allowCeiling: ['a.example', 'b.example'], maxEntries: 1 }))).toBe(false);
    expect(networkAllowed(policy({ enabled: true, allowCeiling: [] }))).toBe(false);
  });
});
