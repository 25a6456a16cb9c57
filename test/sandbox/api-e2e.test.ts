/**
 * End to end over real HTTP with the real executor (sandboxes): many parallel requests, the Piston API
 * against Piston's documented examples, graceful shutdown with runs in flight.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExecutor } from '../../src/executor/executor.js';
import type { Executor } from '../../src/executor/types.js';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.js';
import { hostLeftovers } from '../helpers/hostClean.js';

const LANGUAGES = ['python', 'bash', 'javascript', 'c'];
const dataDir = tempDir('polyrun-e2e-');
let executor: Executor;
let t: TestApp;
let base: string;

// Generous policy: this file tests the execution path, not the limits (api.test.ts does).
const config = {
  slots: 2,
  queue: { maxQueued: 100 },
  defaultPolicy: { rate: { perSecond: 1000, burst: 1000 }, quota: { concurrent: 100 } },
};

beforeAll(async () => {
  executor = await createExecutor({ dataDir, languages: LANGUAGES });
  t = await makeTestApp(executor, { config, dataDir, closeExecutor: false });
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
}, 60_000);

afterAll(async () => {
  await t?.cleanup();
  await executor?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function call(path: string, payload?: unknown, app: { base: string; t: TestApp } = { base, t }) {
  const res = await fetch(app.base + path, {
    method: payload === undefined ? 'GET' : 'POST',
    headers: { ...app.t.auth(), ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

describe('v1 with the real executor', () => {
  it('answers 50 parallel requests, each with its own output', async () => {
    const n = 50;
    const responses = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        call('/v1/execute', {
          language: i % 2 ? 'python' : 'bash',
          files: [{ content: i % 2 ? `print("hello ${i}")` : `echo "hello ${i}"` }],
        }),
      ),
    );
    responses.forEach((r, i) => {
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      expect(r.json.status).toBe('ok');
      expect(r.json.run.stdout).toBe(`hello ${i}\n`);
      expect(r.json.id).toMatch(/^[0-9a-f-]{36}$/);
    });
    const metrics = await fetch(`${base}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/polyrun_executions_total\{language="python",status="ok"\} 25/);
  }, 60_000);

  it('runs an async execution to completion', async () => {
    const created = await call('/v1/executions', { language: 'python', files: [{ content: 'import sys; print(sys.stdin.read().upper())' }], stdin: 'abc' });
    expect(created.status).toBe(202);
    const done = await call(`/v1/executions/${created.json.id}?wait=20000`);
    expect(done.json).toMatchObject({ id: created.json.id, status: 'ok', run: { stdout: 'ABC\n' } });
  }, 30_000);
});

describe('Piston-compatible API with the real executor', () => {
  it('GET /api/v2/runtimes lists language, version, aliases', async () => {
    const r = await call('/api/v2/runtimes');
    expect(r.status).toBe(200);
    const python = r.json.find((x: { language: string }) => x.language === 'python');
    expect(python).toEqual({ language: 'python', version: expect.any(String), aliases: expect.arrayContaining(['py']) });
  });

  it("runs Piston's documented request and answers its response shape", async () => {
    // The example from Piston's README (version selector "*": any installed version).
    const r = await call('/api/v2/execute', {
      language: 'js',
      version: '*',
      files: [{ name: 'my_cool_code.js', content: 'console.log(process.argv.slice(2))' }],
      stdin: '',
      args: ['1', '2', '3'],
      compile_timeout: 10000,
      run_timeout: 3000,
      compile_cpu_time: 10000,
      run_cpu_time: 3000,
      compile_memory_limit: -1,
      run_memory_limit: -1,
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ language: 'javascript', version: expect.any(String) });
    expect(r.json.compile).toBeUndefined();
    expect(r.json.run).toMatchObject({
      stdout: "[ '1', '2', '3' ]\n",
      stderr: '',
      output: "[ '1', '2', '3' ]\n",
      code: 0,
      signal: null,
      message: null,
      status: null,
    });
    for (const k of ['cpu_time', 'wall_time', 'memory']) expect(typeof r.json.run[k]).toBe('number');
  }, 30_000);

  it('reports RE, TO and interleaved output like Piston', async () => {
    const re = await call('/api/v2/execute', {
      language: 'python',
      version: '3.x',
      files: [{ content: 'import sys\nprint("out")\nsys.stdout.flush()\nprint("err", file=sys.stderr)\nsys.exit(3)' }],
    });
    expect(re.json.run).toMatchObject({ status: 'RE', code: 3, signal: null, stdout: 'out\n', stderr: 'err\n', output: 'out\nerr\n' });
    const to = await call('/api/v2/execute', { language: 'bash', version: '*', files: [{ content: 'sleep 10' }], run_timeout: 300 });
    expect(to.json.run).toMatchObject({ status: 'TO', signal: 'SIGKILL', code: null, message: 'Time limit exceeded (wall clock)' });
  }, 30_000);

  it('reports compile stages of compiled languages, and the compile stage as `run` after a failed compile (as Piston)', async () => {
    const ok = await call('/api/v2/execute', {
      language: 'c',
      version: '*',
      files: [{ name: 'main.c', content: '#include <stdio.h>\nint main(void) { puts("compiled"); return 0; }\n' }],
    });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(ok.json.compile).toMatchObject({ code: 0, status: null });
    expect(ok.json.run).toMatchObject({ stdout: 'compiled\n', code: 0, status: null });
    const broken = await call('/api/v2/execute', { language: 'c', version: '*', files: [{ name: 'main.c', content: 'int main(void) { return nope; }' }] });
    expect(broken.json.compile).toMatchObject({ status: 'RE', code: expect.any(Number) });
    expect(broken.json.compile.stderr).toMatch(/nope/);
    expect(broken.json.run).toEqual(broken.json.compile);
  }, 30_000);
});

describe('graceful shutdown with the real executor', () => {
  it('finishes runs in flight (queued ones too), refuses new work, then stops', async () => {
    const own = await createExecutor({ dataDir, languages: ['bash'] });
    const app = await makeTestApp(own, { config, dataDir: tempDir() });
    const ownBase = await app.app.listen({ port: 0, host: '127.0.0.1' });
    const target = { base: ownBase, t: app };
    const runs = [1, 2, 3].map((i) => call('/v1/execute', { language: 'bash', files: [{ content: `sleep 0.5; echo done ${i}` }] }, target));
    await expect.poll(() => app.app.polyrun.services.executions.inflightCount, { timeout: 10_000 }).toBe(3);
    const stopping = app.app.polyrun.shutdown(20_000);
    // New work, on a new connection too: 503 SHUTTING_DOWN with Retry-After (the listener stays open while draining).
    const late = await call('/v1/execute', { language: 'bash', files: [{ content: 'echo late' }] }, target);
    expect([late.status, late.json.error.code, late.headers.get('retry-after')]).toEqual([503, 'SHUTTING_DOWN', '1']);
    expect((await fetch(`${ownBase}/healthz`)).status).toBe(200);
    const results = await Promise.all(runs);
    results.forEach((r, i) => expect(r.json.run.stdout).toBe(`done ${i + 1}\n`));
    await stopping;
    await expect(fetch(`${ownBase}/healthz`)).rejects.toThrow();
    await app.cleanup();
    expect(await hostLeftovers(own)).toEqual([]);
  }, 30_000);

  it('cancels runs that outlast the grace period', async () => {
    const own = await createExecutor({ dataDir, languages: ['bash'] });
    const app = await makeTestApp(own, { config, dataDir: tempDir() });
    const ownBase = await app.app.listen({ port: 0, host: '127.0.0.1' });
    const started = Date.now();
    const run = call('/v1/execute', { language: 'bash', files: [{ content: 'sleep 30' }], limits: { wallTimeMs: 40_000 } }, { base: ownBase, t: app });
    await expect.poll(() => app.app.polyrun.services.executions.inflightCount, { timeout: 10_000 }).toBe(1);
    await app.app.polyrun.shutdown(200);
    const r = await run;
    expect(r.status).toBe(200);
    expect(r.json.status).not.toBe('ok');
    expect(Date.now() - started).toBeLessThan(15_000);
    await app.cleanup();
    // The cancelled sandbox is gone: no process, container, cgroup, mount or bundle left behind.
    expect(await hostLeftovers(own)).toEqual([]);
  }, 30_000);
});
