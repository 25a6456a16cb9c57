/**
 * The real `piston-client` npm package (a dev dependency) driven against polyrun over HTTP with real
 * sandboxes, as a local Piston user runs it: auth off on loopback, the client's own requests (no content
 * type, default args ["1","2","3"], the newest version by its own string sort), its runtimes call, runs of
 * interpreted and compiled languages, a failed compile and a time limit.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { piston } from 'piston-client';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.js';

const dataDir = tempDir('polyrun-piston-client-');
let executor: SandboxExecutor;
let t: TestApp;
let client: ReturnType<typeof piston>;

beforeAll(async () => {
  executor = await createExecutor({ dataDir, languages: ['python', 'c', 'bash'] });
  t = await makeTestApp(executor, { config: { auth: false, slots: 2 }, dataDir, closeExecutor: false });
  client = piston({ server: await t.app.listen({ port: 0, host: '127.0.0.1' }) });
}, 120_000);

afterAll(async () => {
  await t?.cleanup();
  await executor?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('piston-client against polyrun', () => {
  it('lists runtimes', async () => {
    const runtimes = (await client.runtimes()) as Json[];
    expect(runtimes.map((r) => r.language).sort()).toEqual(['bash', 'c', 'python']);
  });

  it('runs code with its default args and stdin', async () => {
    const r = (await client.execute('python', 'import sys\nprint(sys.argv[1:], input())', { stdin: 'from stdin' })) as Json;
    expect(r.run).toMatchObject({ stdout: "['1', '2', '3'] from stdin\n", code: 0, signal: null, status: null });
    expect(r.language).toBe('python');
  }, 30_000);

  it('compiles, and a failed compile still has `run`', async () => {
    const ok = (await client.execute('c', '#include <stdio.h>\nint main(int c, char **v){ printf("%d\\n", c); }')) as Json;
    expect(ok.compile.code).toBe(0);
    expect(ok.run.stdout).toBe('4\n');
    const broken = (await client.execute('c', 'int main( {')) as Json;
    expect(broken.run).toEqual(broken.compile);
    expect(broken.run.status).toBe('RE');
    expect(broken.run.stderr).toMatch(/error/);
  }, 60_000);

  it('reports a time limit as Piston does', async () => {
    const r = (await client.execute('bash', 'sleep 5', { runTimeout: 300 })) as Json;
    expect(r.run).toMatchObject({ status: 'TO', signal: 'SIGKILL', code: null, message: 'Time limit exceeded (wall clock)' });
  }, 30_000);
});
