/**
 * Sessions on real sandboxes through HTTP: files persist between execs, the file routes (overwrite, path
 * escapes, planted symlinks), tenancy, the idle reaper, programs (interpreted and compiled), abuse inside a
 * session, the sessions-at-once limit, and a clean host at the end.
 */
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostLeftovers } from '../helpers/hostClean.js';
import { parseSse } from '../helpers/sse.js';
import { startSessionApp, type Json, type SessionApp } from '../helpers/session-app.js';

let s: SessionApp;
let executor: SessionApp['executor'];
let t: SessionApp['t'];

beforeAll(async () => {
  s = await startSessionApp('polyrun-sessions-', ['python', 'c', 'bash'], 3);
  ({ executor, t } = s);
}, 120_000);

afterAll(async () => {
  await s?.close();
});

const req = (method: string, url: string, payload?: unknown, tenant = 'default', headers: Record<string, string> = {}) => s.req(method, url, payload, tenant, headers);

async function create(body: Json = {}, tenant = 'default'): Promise<string> {
  const res = await req('POST', '/v1/sessions', body, tenant);
  expect(res.status, res.body).toBe(201);
  return res.json.id as string;
}

const sh = (id: string, script: string, extra: Json = {}) => req('POST', `/v1/sessions/${id}/exec`, { argv: ['sh', '-c', script], ...extra });

/** Poll `check` until it is true, at most `ms`. */
async function until(check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`condition not met within ${ms} ms`);
}

describe('sessions on real sandboxes', () => {
  it('a second exec sees the file the first wrote; files PUT/GET/DELETE/list; a second tenant gets 404', async () => {
    const id = await create();
    const first = await sh(id, 'echo hello > note.txt && echo done');
    expect(first.status, first.body).toBe(200);
    expect(first.json).toMatchObject({ status: 'ok', language: 'command', run: { stdout: 'done\n' } });
    const second = await req('POST', `/v1/sessions/${id}/exec`, { argv: ['cat', 'note.txt'] });
    expect(second.json.run.stdout).toBe('hello\n');

    // files: raw PUT, JSON PUT overwriting it, GET raw, listing, DELETE
    expect((await req('PUT', `/v1/sessions/${id}/files/dir/a.bin`, Buffer.from([0, 1, 2, 255]))).status).toBe(200);
    expect(Buffer.compare((await req('GET', `/v1/sessions/${id}/files/dir/a.bin`)).raw, Buffer.from([0, 1, 2, 255]))).toBe(0);
    const over = await req('PUT', `/v1/sessions/${id}/files/dir/a.bin`, { content: 'bmV3', encoding: 'base64' });
    expect(over.status, over.body).toBe(200);
    expect((await req('GET', `/v1/sessions/${id}/files/dir/a.bin`)).body).toBe('new');
    expect((await req('PUT', `/v1/sessions/${id}/files/note.txt`, { content: 'replaced\n' })).status).toBe(200);
    expect((await req('POST', `/v1/sessions/${id}/exec`, { argv: ['cat', 'note.txt'] })).json.run.stdout).toBe('replaced\n');
    expect((await req('GET', `/v1/sessions/${id}/files`)).json.files).toEqual(['dir/a.bin', 'note.txt']);
    expect((await req('DELETE', `/v1/sessions/${id}/files/dir/a.bin`)).status).toBe(200);
    expect((await req('GET', `/v1/sessions/${id}/files/dir/a.bin`)).status).toBe(404);
    expect((await req('GET', `/v1/sessions/${id}/files`)).json.files).toEqual(['note.txt']);

    // path escapes are refused
    expect((await req('GET', `/v1/sessions/${id}/files/../etc/passwd`)).status).toBeGreaterThanOrEqual(400);
    expect((await req('PUT', `/v1/sessions/${id}/files//etc/x`, { content: 'x' })).status).toBe(422);
    expect((await req('PUT', `/v1/sessions/${id}/files/a/..%2F..%2Fx`, { content: 'x' })).status).toBe(422);
    expect((await req('DELETE', `/v1/sessions/${id}/files/a/..%2Fnote.txt`)).status).toBe(422);

    // a symlink planted by the program is never followed: not read, not written through, not as a directory
    await sh(id, 'ln -s /etc/passwd pw && ln -s /tmp tdir && echo secret > /tmp/s');
    expect((await req('GET', `/v1/sessions/${id}/files/pw`)).status).toBe(404);
    expect((await req('GET', `/v1/sessions/${id}/files/tdir/s`)).status).toBe(404);
    expect((await req('PUT', `/v1/sessions/${id}/files/tdir/new`, { content: 'x' })).status).toBe(422);
    expect((await sh(id, 'test -e /tmp/new && echo yes || echo no')).json.run.stdout).toBe('no\n');
    // overwriting the link replaces the link itself, never its target
    expect((await req('PUT', `/v1/sessions/${id}/files/pw`, { content: 'mine' })).status).toBe(200);
    expect((await sh(id, 'test -L pw && echo link || cat pw; head -c 4 /etc/passwd')).json.run.stdout).toBe('mineroot');
    expect((await req('GET', `/v1/sessions/${id}/files`)).json.files).toEqual(['note.txt', 'pw']);

    // another tenant sees nothing
    expect((await req('GET', `/v1/sessions/${id}`, undefined, 'other')).status).toBe(404);
    expect((await req('POST', `/v1/sessions/${id}/exec`, { argv: ['true'] }, 'other')).status).toBe(404);
    expect((await req('GET', `/v1/sessions/${id}/files`, undefined, 'other')).status).toBe(404);
    expect((await req('DELETE', `/v1/sessions/${id}`, undefined, 'other')).status).toBe(404);
    expect((await req('GET', '/v1/sessions', undefined, 'other')).json).toEqual([]);
    expect((await req('GET', '/v1/sessions')).json.map((s: Json) => s.id)).toContain(id);

    expect((await req('DELETE', `/v1/sessions/${id}`)).status).toBe(200);
    expect((await req('GET', `/v1/sessions/${id}`)).status).toBe(404);
  }, 60_000);

  it('runs a python program and a C program (compile + run) in a session, streaming on request', async () => {
    const id = await create();
    const py = await req('POST', `/v1/sessions/${id}/exec`, { language: 'python', code: 'open("out.txt","w").write("from python")\nprint(input()[::-1])', stdin: 'abc\n' });
    expect(py.status, py.body).toBe(200);
    expect(py.json).toMatchObject({ status: 'ok', language: 'python', compile: null, run: { stdout: 'cba\n' } });
    const c = await req('POST', `/v1/sessions/${id}/exec`, {
      language: 'c',
      files: [{ name: 'main.c', content: '#include <stdio.h>\nint main(void){FILE*f=fopen("out.txt","r");char b[64]={0};fread(b,1,63,f);printf("c read: %s\\n",b);return 0;}\n' }],
    });
    expect(c.status, c.body).toBe(200);
    expect(c.json).toMatchObject({ status: 'ok', language: 'c', compile: { status: 'ok' }, run: { stdout: 'c read: from python\n' } });
    const streamed = await req('POST', `/v1/sessions/${id}/exec`, { argv: ['sh', '-c', 'echo a; echo b >&2'] }, 'default', { accept: 'text/event-stream' });
    expect(streamed.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const events = parseSse(streamed.body);
    expect(events[0]!.event).toBe('stage');
    expect(events.at(-1)).toMatchObject({ event: 'result', data: { result: { status: 'ok', run: { stdout: 'a\n', stderr: 'b\n' } } } });
    expect((await req('DELETE', `/v1/sessions/${id}`)).status).toBe(200);
  }, 60_000);

  it('an exec that forks, floods, fills the disk or overruns its time leaves the session bounded and usable', async () => {
    const id = await create({ limits: { cpuTimeMs: 2_000, wallTimeMs: 4_000 } });
    const fork = await sh(id, 'while :; do sh -c "sleep 100" & done', { limits: { processes: 16, wallTimeMs: 2_000 } });
    expect(fork.json.run.status).not.toBe('ok');
    const flood = await sh(id, 'yes flood', { limits: { outputBytes: 4096 } });
    expect(flood.json.run).toMatchObject({ status: 'output_limit', stdoutTruncated: true });
    const disk = await sh(id, 'dd if=/dev/zero of=big bs=1M count=64 2>&1; echo rc=$?');
    expect(disk.json.run.stdout).toMatch(/No space left|rc=1/);
    const spin = await sh(id, 'while :; do :; done', { limits: { cpuTimeMs: 500 } });
    expect(spin.json.run.status).toBe('time_limit');
    // still usable: remove the big file, run again
    expect((await req('DELETE', `/v1/sessions/${id}/files/big`)).status).toBe(200);
    const after = await sh(id, 'echo alive; ls');
    expect(after.json).toMatchObject({ status: 'ok', run: { stdout: 'alive\n' } });
    expect((await req('DELETE', `/v1/sessions/${id}`)).status).toBe(200);
  }, 60_000);

  it('one exec at a time: a second one gets 409 SESSION_BUSY; each exec counts in the quotas', async () => {
    const before = (await req('GET', '/v1/usage')).json;
    const id = await create();
    const spent = await sh(id, 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done');
    expect(spent.json.run.cpuTimeMs).toBeGreaterThan(0);
    const usage = (await req('GET', '/v1/usage')).json;
    expect(usage.executions.used).toBe(before.executions.used + 1);
    expect(usage.cpuSeconds.used).toBeGreaterThan(before.cpuSeconds.used);
    expect(usage.concurrent.used).toBe(0);
    // Busy for long enough that the second exec surely arrives while it runs, however loaded the machine.
    const slow = sh(id, 'sleep 5; echo slow');
    await until(async () => (await req('GET', `/v1/sessions/${id}`)).json.busy === true, 5_000);
    const busy = await sh(id, 'echo fast');
    expect(busy.status).toBe(409);
    expect(busy.json.error.code).toBe('SESSION_BUSY');
    expect((await slow).json.run.stdout).toBe('slow\n');
    // deleting a session ends the exec running in it
    const endless = sh(id, 'sleep 100');
    await until(async () => (await req('GET', `/v1/sessions/${id}`)).json.busy === true, 5_000);
    expect((await req('DELETE', `/v1/sessions/${id}`)).status).toBe(200);
    expect((await endless).json.run.status).not.toBe('ok');
  }, 30_000);

  it('the sessions-at-once limit gives 429; an idle session is reaped and leaves nothing on the host', async () => {
    const ids = [await create(), await create(), await create()];
    const fourth = await req('POST', '/v1/sessions', {});
    expect(fourth.status).toBe(429);
    expect(fourth.json.error.code).toBe('SESSION_LIMIT');
    for (const id of ids) expect((await req('DELETE', `/v1/sessions/${id}`)).status).toBe(200);

    // Idle long enough that the reaper cannot take it before its one exec arrives.
    const idle = await create({ idleTimeoutMs: 2_000 });
    expect((await sh(idle, 'sleep 1000 & echo started')).json.run.stdout).toBe('started\n');
    const aged = await create({ maxLifetimeMs: 800 });
    // used all the time, it still ends at the end of its lifetime
    await until(async () => (await req('GET', `/v1/sessions/${aged}/files`)).status === 404, 10_000);
    await until(async () => (await req('GET', `/v1/sessions/${idle}`)).status === 404, 10_000);
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/polyrun_sessions_ended_total\{reason="idle"\} [1-9]/);
    expect(metrics).toMatch(/polyrun_sessions_ended_total\{reason="lifetime"\} [1-9]/);
    expect(metrics).toMatch(/polyrun_session_exec_cpu_seconds_total [0-9.]+/);
    await until(async () => (await hostLeftovers(executor)).length === 0, 10_000);
    expect(await hostLeftovers(executor)).toEqual([]);
  }, 60_000);

  it('closing the app ends the open sessions, a running exec included, and leaves the host clean (runs last)', async () => {
    const id = await create();
    const running = sh(id, 'sleep 100');
    await until(async () => (await req('GET', `/v1/sessions/${id}`)).json.busy === true, 5_000);
    await t.cleanup();
    expect((await running).json.run.status).not.toBe('ok');
    await executor.settle();
    expect(await hostLeftovers(executor)).toEqual([]);
  }, 30_000);
});
