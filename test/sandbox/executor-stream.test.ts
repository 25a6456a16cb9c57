/**
 * Streaming through the whole path on real sandboxes: Server-Sent Events over real HTTP deliver output as
 * it happens, and an interactive program is driven turn by turn through the executor's stdin.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionEvent } from '../../src/contract/events.js';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.js';
import { readSse } from '../helpers/sse.js';

const dataDir = tempDir('polyrun-stream-');
let executor: SandboxExecutor;
let t: TestApp;
let base: string;

beforeAll(async () => {
  executor = await createExecutor({ dataDir, languages: ['python', 'bash'], pool: { minSize: 1 } });
  t = await makeTestApp(executor, { config: { slots: 2 }, dataDir, closeExecutor: false });
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
}, 60_000);

afterAll(async () => {
  await t?.cleanup();
  await executor?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Resolves with the first event that satisfies `match`. */
function nextEvent(events: ExecutionEvent[], listeners: Set<() => void>, match: (e: ExecutionEvent) => boolean): Promise<ExecutionEvent> {
  return new Promise((resolve) => {
    const check = () => {
      const found = events.find(match);
      if (!found) return;
      listeners.delete(check);
      resolve(found);
    };
    listeners.add(check);
    check();
  });
}

describe('streaming on real sandboxes', () => {
  // A 3 s sleep against a 2 s bound: the host may read "a" late on a loaded machine, never 1 s late.
  it('SSE delivers "a" at least 2 s before the result of a program that prints a, sleeps 3 s, prints b', async () => {
    const program = 'import time\nprint("a", flush=True)\ntime.sleep(3)\nprint("b", flush=True)\n';
    const res = await fetch(`${base}/v1/execute`, {
      method: 'POST',
      headers: { ...t.auth(), 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ language: 'python', files: [{ content: program }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const events = await readSse(res.body!);
    const a = events.find((e) => e.event === 'stdout' && (e.data as { data: string }).data.includes('a'));
    const result = events.find((e) => e.event === 'result');
    expect(a).toBeDefined();
    expect(result).toBeDefined();
    expect(result!.at! - a!.at!).toBeGreaterThanOrEqual(2000);
    expect((result!.data as { result: { status: string; run: { stdout: string } } }).result).toMatchObject({
      status: 'ok',
      run: { stdout: 'a\nb\n' },
    });
    expect(events.map((e) => e.event)).toEqual(['stage', 'stdout', 'stdout', 'exit', 'result']);
  });

  it('drives a program that reads a line, answers, and reads again, turn by turn', async () => {
    const program = 'name = input()\nprint("hello " + name, flush=True)\nsecond = input()\nprint("bye " + second, flush=True)\n';
    const events: ExecutionEvent[] = [];
    const listeners = new Set<() => void>();
    const execution = executor.start(
      { language: 'python', files: [{ name: 'main.py', content: Buffer.from(program) }] },
      {
        interactive: true,
        onEvent: (e) => {
          events.push(e);
          for (const l of [...listeners]) l();
        },
      },
    );
    const stdoutHas = (text: string) => (e: ExecutionEvent) => e.type === 'stdout' && e.data.includes(text);

    execution.write('ada\n');
    await nextEvent(events, listeners, stdoutHas('hello ada'));
    // The program is now blocked on its second read: nothing more has come out, and it has not exited.
    expect(events.some((e) => e.type === 'exit')).toBe(false);
    execution.write('lovelace\n');
    await nextEvent(events, listeners, stdoutHas('bye lovelace'));
    execution.end();
    const result = await execution.result;
    expect(result.status).toBe('ok');
    expect(result.run?.stdout).toBe('hello ada\nbye lovelace\n');
  });

  it('sends a signal to the running program', async () => {
    // The handler writes with os.write, not print: the host sees "ready" before the program's write() has
    // returned, so the signal can land inside print's flush, and a print from the handler then raises
    // Python's "reentrant call" RuntimeError (exit 1) instead of the exit this test is about.
    const program = [
      'import os, signal, time',
      'def on_usr1(*_):',
      '    os.write(1, b"got usr1\\n")',
      '    os._exit(7)',
      'signal.signal(signal.SIGUSR1, on_usr1)',
      'os.write(1, b"ready\\n")',
      'time.sleep(30)',
      '',
    ].join('\n');
    const events: ExecutionEvent[] = [];
    const listeners = new Set<() => void>();
    const execution = executor.start(
      { language: 'python', files: [{ name: 'main.py', content: Buffer.from(program) }] },
      { onEvent: (e) => (events.push(e), [...listeners].forEach((l) => l())) },
    );
    await nextEvent(events, listeners, (e) => e.type === 'stdout' && e.data.includes('ready'));
    execution.signal('SIGUSR1');
    const result = await execution.result;
    expect(result.run).toMatchObject({ exitCode: 7, stdout: 'ready\ngot usr1\n' });
    expect(result.status).toBe('runtime_error');
  }, 30_000);
});
