/**
 * Kernels on real sandboxes through HTTP: a Python and a JavaScript interpreter keeping state across
 * cells, values and tracebacks, a cell interrupted at its time or output limit with the kernel still
 * usable, a kernel that ignores the interrupt, dies or runs out of memory (reported, then restarted),
 * files while a kernel lives, execs refused while it lives, and a clean host at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostLeftovers } from '../helpers/hostClean.js';
import { startSessionApp, type Json, type SessionApp } from '../helpers/session-app.js';

const MiB = 1024 * 1024;
let s: SessionApp;

beforeAll(async () => {
  s = await startSessionApp('polyrun-kernels-', ['python', 'javascript', 'bash'], 4);
}, 120_000);

afterAll(async () => {
  await s?.close();
});

const req = (method: string, url: string, payload?: unknown, tenant = 'default') => s.req(method, url, payload, tenant);

async function create(): Promise<string> {
  const res = await req('POST', '/v1/sessions', {});
  expect(res.status, res.body).toBe(201);
  return res.json.id as string;
}

const cell = (id: string, code: string, extra: Json = {}) => req('POST', `/v1/sessions/${id}/cells`, { code, ...extra });

describe('kernels on real sandboxes', () => {
  it('a Python kernel keeps its state across cells, survives a cell interrupted at its time limit, and shares the files', async () => {
    const id = await create();
    const first = await cell(id, 'import math\nx = 40\nprint("hello")\nx + 2');
    expect(first.status, first.body).toBe(200);
    expect(first.json).toMatchObject({ status: 'ok', language: 'python', executionCount: 1, stdout: 'hello\n', value: '42', error: null });
    expect(first.json.kernel).toEqual({ state: 'idle', restarted: false });

    const second = await cell(id, 'def f(n):\n    return math.factorial(n)\nimport sys\nprint("to stderr", file=sys.stderr)\nx = f(5)');
    expect(second.json).toMatchObject({ status: 'ok', executionCount: 2, stderr: 'to stderr\n', value: null });

    const raised = await cell(id, 'x\n1 / 0');
    expect(raised.json).toMatchObject({ status: 'runtime_error', executionCount: 3, error: { name: 'ZeroDivisionError' } });
    expect(raised.json.error.traceback).toContain('<cell-3>');
    expect(raised.json.error.traceback).not.toContain('python.py');

    const looped = await cell(id, 'while True:\n    pass', { limits: { wallTimeMs: 1000 } });
    expect(looped.json).toMatchObject({ status: 'time_limit', error: { name: 'KeyboardInterrupt' }, kernel: { state: 'idle' } });

    const third = await cell(id, 'x, f(3)');
    expect(third.json).toMatchObject({ status: 'ok', executionCount: 5, value: '(120, 6)' });

    // the kernel holds the sandbox: files still move in and out, execs are refused until it stops
    expect((await req('PUT', `/v1/sessions/${id}/files/data.csv`, { content: 'a,b\n1,2\n' })).status).toBe(200);
    const read = await cell(id, 'open("data.csv").read().splitlines()[1]');
    expect(read.json.value).toBe("'1,2'");
    await cell(id, 'open("out.txt", "w").write("from the kernel")');
    expect((await req('GET', `/v1/sessions/${id}/files/out.txt`)).body).toBe('from the kernel');
    const exec = await req('POST', `/v1/sessions/${id}/exec`, { argv: ['true'] });
    expect(exec.status).toBe(409);
    expect(exec.json.error.code).toBe('KERNEL_RUNNING');
    expect((await req('GET', `/v1/sessions/${id}`)).json.kernel).toMatchObject({ language: 'python', state: 'idle', executionCount: 7 });
    expect((await cell(id, '1', { language: 'javascript' })).json.error.code).toBe('KERNEL_RUNNING');
    expect((await cell(id, '1', { language: 'cobol' })).json.error.code).toBe('NO_KERNEL');
    expect((await cell(id, '1', {}, )).status).toBe(200);
    expect((await req('POST', `/v1/sessions/${id}/cells`, { code: 'x' }, 'other')).status).toBe(404);

    expect((await req('DELETE', `/v1/sessions/${id}/kernel`)).json).toEqual({ id, stopped: true });
    expect((await req('GET', `/v1/sessions/${id}/kernel`)).status).toBe(404);
    const after = await req('POST', `/v1/sessions/${id}/exec`, { argv: ['cat', 'out.txt'] });
    expect(after.json).toMatchObject({ status: 'ok', run: { stdout: 'from the kernel' } });
    expect((await req('DELETE', `/v1/sessions/${id}`)).status).toBe(200);
  }, 90_000);

  it('a kernel that ignores the interrupt, exits or runs out of memory is reported dead; the next cell starts a fresh one', async () => {
    const id = await create();
    await cell(id, 'kept = 1');
    const stubborn = await cell(id, 'import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass', { limits: { wallTimeMs: 500 } });
    expect(stubborn.json).toMatchObject({ status: 'time_limit', error: { name: 'KernelDied' }, kernel: { state: 'dead' } });

    const fresh = await cell(id, 'kept');
    expect(fresh.json).toMatchObject({ status: 'runtime_error', executionCount: 1, error: { name: 'NameError' }, kernel: { state: 'idle', restarted: true } });

    const exited = await cell(id, 'import os\nos._exit(3)');
    expect(exited.json).toMatchObject({ status: 'runtime_error', error: { name: 'KernelDied' }, kernel: { state: 'dead' } });
    expect(exited.json.error.message).toContain('code 3');

    const hog = await cell(id, 'blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))');
    expect(hog.json).toMatchObject({ status: 'memory_limit', error: { name: 'KernelDied' }, kernel: { state: 'dead' } });
    expect(hog.json.memoryBytes).toBeGreaterThan(128 * MiB);

    const flood = await cell(id, 'while True:\n    print("y" * 1000)', { limits: { outputBytes: 10_000 } });
    expect(flood.json).toMatchObject({ status: 'output_limit', stdoutTruncated: true, kernel: { state: 'idle', restarted: true } });
    expect(flood.json.stdout.length).toBe(10_000);
    expect((await cell(id, '"still alive"')).json).toMatchObject({ status: 'ok', value: "'still alive'" });
    expect((await req('DELETE', `/v1/sessions/${id}`)).status).toBe(200);
  }, 90_000);

  it('a JavaScript kernel keeps declarations and globals, awaits promises and survives an interrupted loop', async () => {
    const id = await create();
    const first = await cell(id, 'let count = 41; globalThis.seen = []; count + 1', { language: 'javascript' });
    expect(first.status, first.body).toBe(200);
    expect(first.json, first.body).toMatchObject({ status: 'ok', language: 'javascript', value: '42' });
    const second = await cell(id, 'seen.push(count); console.log("n =", seen.length); Promise.resolve({ count })', { language: 'javascript' });
    expect(second.json).toMatchObject({ status: 'ok', stdout: 'n = 1\n', value: '{ count: 41 }' });
    const raised = await cell(id, 'null.property', { language: 'javascript' });
    expect(raised.json).toMatchObject({ status: 'runtime_error', error: { name: 'TypeError' } });
    const looped = await cell(id, 'for (;;) {}', { language: 'javascript', limits: { wallTimeMs: 1000 } });
    expect(looped.json).toMatchObject({ status: 'time_limit', kernel: { state: 'idle' } });
    expect((await cell(id, 'count', { language: 'javascript' })).json).toMatchObject({ status: 'ok', value: '41' });
    expect((await req('DELETE', `/v1/sessions/${id}`)).status).toBe(200);
  }, 60_000);

  it('leaves nothing on the host once the sessions are gone', async () => {
    expect(await hostLeftovers(s.executor)).toEqual([]);
  });
});
