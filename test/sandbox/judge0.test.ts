/**
 * The Judge0-compatible API over real HTTP with real sandboxes, replaying what Judge0 clients do: create
 * with wait=false then poll the token until the status leaves In Queue/Processing; wait=true; a batch then
 * GET /submissions/batch until all are done; base64 in and out; and each status a client meets (accepted,
 * wrong answer, compile error, time limit, NZEC, SIGSEGV, memory kill).
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { rubyEncode64 } from '../../src/compat/judge0/base64.js';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.js';
import { hostLeftovers } from '../helpers/hostClean.js';
import { makeZip } from '../helpers/zip.js';

const dataDir = tempDir('polyrun-judge0-');
let executor: SandboxExecutor;
let t: TestApp;
let base: string;

beforeAll(async () => {
  executor = await createExecutor({ dataDir, languages: ['python', 'c', 'c++'] });
  t = await makeTestApp(executor, {
    config: { slots: 2, queue: { maxQueued: 100 }, defaultPolicy: { rate: { perSecond: 1000, burst: 1000 }, quota: { concurrent: 100 } } },
    dataDir,
    closeExecutor: false,
  });
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
}, 120_000);

afterAll(async () => {
  await t?.cleanup();
  await executor?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(base + path, {
    method,
    headers: { 'x-auth-token': t.keys.default!, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
}

/** What judge0 clients do: GET the token until the status is final. */
async function poll(token: string, query = ''): Promise<Json> {
  for (;;) {
    const { json } = await call('GET', `/submissions/${token}${query}`);
    if (json.status.id > 2) return json;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const C_BEHAVIOUR = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
  char cmd[16] = {0};
  if (scanf("%15s", cmd) != 1) return 0;
  if (!strcmp(cmd, "sum")) { int a, b; scanf("%d %d", &a, &b); printf("%d\\n", a + b); }
  if (!strcmp(cmd, "spin")) { volatile unsigned long x = 0; for (;;) x++; }
  if (!strcmp(cmd, "exit")) return 3;
  if (!strcmp(cmd, "segv")) { volatile int *p = 0; *p = 1; }
  if (!strcmp(cmd, "eat")) { for (;;) { char *p = malloc(1 << 20); if (!p) return 9; memset(p, 1, 1 << 20); } }
  return 0;
}
`;

describe('Judge0 client flows on real sandboxes', () => {
  it('create (wait=false), then poll the token until done', async () => {
    const created = await call('POST', '/submissions', { source_code: 'print(input()[::-1])', language_id: 71, stdin: 'olleh', expected_output: 'hello' });
    expect(created.status).toBe(201);
    expect(Object.keys(created.json)).toEqual(['token']);
    const done = await poll(created.json.token, '?fields=*');
    expect(done).toMatchObject({ stdout: 'hello\n', status_id: 3, status: { id: 3, description: 'Accepted' }, language: { id: 71 }, exit_code: 0, stderr: null, compile_output: null });
    expect(done.time).toMatch(/^\d+\.\d+$/);
    expect(done.wall_time).toMatch(/^\d+\.\d+$/);
    expect(done.memory).toBeGreaterThan(0);
    expect(done.finished_at >= done.created_at).toBe(true);
  }, 30_000);

  it('wait=true with base64 in and out', async () => {
    const res = await call('POST', '/submissions?base64_encoded=true&wait=true', {
      source_code: rubyEncode64('#include <iostream>\nint main(){ std::cout << "h\\u00e9llo" << std::endl; }\n'),
      language_id: 54,
    });
    expect(res.status).toBe(201);
    expect(res.json.status).toEqual({ id: 3, description: 'Accepted' });
    expect(Buffer.from(res.json.stdout, 'base64').toString()).toBe('héllo\n');
    expect(res.json.stdout).toMatch(/\n$/);
  }, 60_000);

  it('a batch, then GET /submissions/batch until all are done', async () => {
    const source = { source_code: C_BEHAVIOUR, language_id: 50 };
    const created = await call('POST', '/submissions/batch', {
      submissions: [
        { ...source, stdin: 'sum 1 2', expected_output: '3' },
        { ...source, stdin: 'sum 1 2', expected_output: '4' },
        { ...source, stdin: 'exit' },
        { ...source, stdin: 'segv' },
        { ...source, stdin: 'spin', cpu_time_limit: 0.5, cpu_extra_time: 0.2 },
        { ...source, stdin: 'eat', memory_limit: 32000 },
        { source_code: 'int main( {', language_id: 50 },
      ],
    });
    expect(created.status).toBe(201);
    const tokens = created.json.map((c: Json) => c.token).join(',');
    let subs: Json[] = [];
    for (;;) {
      subs = (await call('GET', `/submissions/batch?tokens=${tokens}&fields=status,exit_code,exit_signal,message,compile_output,polyrun_status,time`)).json.submissions;
      if (subs.every((s) => s.status.id > 2)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(subs.map((s) => s.status.id)).toEqual([3, 4, 11, 7, 5, 12, 6]);
    expect(subs[2]!).toMatchObject({ exit_code: 3, message: 'Exited with error status 3' });
    expect(subs[3]!).toMatchObject({ exit_signal: 11, message: 'Caught fatal signal 11' });
    expect(subs[4]!).toMatchObject({ message: 'Time limit exceeded' });
    expect(Number(subs[4]!.time)).toBeGreaterThanOrEqual(0.5);
    expect(subs[5]!).toMatchObject({ polyrun_status: 'memory_limit' });
    expect(subs[6]!.compile_output).toMatch(/error/);
  }, 120_000);

  it('number_of_runs repeats an accepted run and averages its time', async () => {
    const res = await call('POST', '/submissions?wait=true&fields=status_id,number_of_runs,time', { source_code: 'print(1)', language_id: 71, number_of_runs: 3 });
    expect(res.json).toMatchObject({ status_id: 3, number_of_runs: 3 });
  }, 60_000);

  it('additional_files: a zip whose files sit beside the source (the source wins a name clash)', async () => {
    const zip = makeZip([
      { name: 'data/input.txt', content: 'from the archive\n', deflate: true },
      { name: 'helper.py', content: 'WORD = "helped"\n' },
      { name: 'main.py', content: 'print("the archive must not replace the source")' },
    ]);
    const res = await call('POST', '/submissions?wait=true&fields=stdout,status_id', {
      source_code: 'import helper\nprint(open("data/input.txt").read().strip(), helper.WORD)',
      language_id: 71,
      additional_files: zip.toString('base64'),
    });
    expect(res.json).toEqual({ stdout: 'from the archive helped\n', status_id: 3 });
  }, 30_000);

  it('leaves no container, cgroup or mount behind', async () => {
    await executor.settle();
    expect(await hostLeftovers(executor)).toEqual([]);
  });
});
