/**
 * The SDK (sdk/) against a real server on real sandboxes, over real HTTP: every method, the typed errors,
 * a retry that waits the server's Retry-After, cancellation (the server's execution is cancelled too),
 * streaming that yields output while the program still runs, and every example of sdk/README.md.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionEvent as ServerEvent } from '../../src/contract/events.js';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import type { Executor } from '../../src/executor/types.js';
import { projectPath } from '../../src/project.js';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.js';
import {
  AuthError,
  NotFoundError,
  Polyrun,
  PolyrunApiError,
  PolyrunTimeoutError,
  RateLimitError,
  ValidationError,
  isPending,
  type ExecuteRequest,
  type ExecutionEvent,
  type PolyrunOptions,
} from '../../sdk/src/index.js';

const dataDir = tempDir('polyrun-sdk-');
let executor: SandboxExecutor;
let t: TestApp;
let baseUrl: string;

/** What the server's executor saw of a job: its id, its cancellation signal, its stdout so far. */
interface SeenJob {
  id: string;
  signal: AbortSignal;
  stdout: string;
}
const stdoutWaiters = new Set<(job: SeenJob) => boolean>();
const runWaiters = new Set<(job: SeenJob) => void>();

/** Resolves with the next job that reaches the executor (register before starting the execution). */
function nextJob(): Promise<SeenJob> {
  return new Promise((resolve) => {
    const waiter = (job: SeenJob) => (runWaiters.delete(waiter), resolve(job));
    runWaiters.add(waiter);
  });
}

/** Resolves with the first job whose stdout contains `text` (register before starting the execution). */
function jobPrinting(text: string): Promise<SeenJob> {
  return new Promise((resolve) => {
    stdoutWaiters.add((job) => {
      if (!job.stdout.includes(text)) return false;
      resolve(job);
      return true;
    });
  });
}

/**
 * The real executor, watched: the test learns when a program has really started and whether it was
 * cancelled. Its host, catalogue and bounds are the real ones, so the server offers sessions too.
 */
function watched(inner: SandboxExecutor): Executor & Pick<SandboxExecutor, 'host' | 'catalogue' | 'bounds'> {
  return {
    host: inner.host,
    catalogue: inner.catalogue,
    bounds: inner.bounds,
    runtimes: () => inner.runtimes(),
    findRuntime: (language, version) => inner.findRuntime(language, version),
    health: () => inner.health(),
    close: () => inner.close(),
    run: (job, context) => {
      const seen: SeenJob = { id: job.id, signal: context.signal, stdout: '' };
      for (const waiter of [...runWaiters]) waiter(seen);
      return inner.run(job, {
        signal: context.signal,
        onControl: (listener) => context.onControl(listener),
        emit: (event: ServerEvent) => {
          context.emit(event);
          if (event.type !== 'stdout') return;
          seen.stdout += event.data;
          for (const waiter of [...stdoutWaiters]) if (waiter(seen)) stdoutWaiters.delete(waiter);
        },
      });
    },
  };
}

beforeAll(async () => {
  executor = await createExecutor({ dataDir, languages: ['python', 'bash'], pool: { minSize: 1 } });
  t = await makeTestApp(watched(executor), {
    // "slow" may send one request per second: the retry test meets its 429.
    config: { slots: 2, tenants: { slow: { rate: { perSecond: 1, burst: 1 } } } },
    tenants: ['default', 'slow'],
    dataDir,
    closeExecutor: false,
  });
  baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
}, 60_000);

afterAll(async () => {
  // Node's fetch (undici) opens a fresh connection after an aborted request and leaves it unused until its
  // keep-alive timeout; the server would wait for it on close. Nothing is in flight any more (each test
  // waited for that), so every connection left is such an idle one.
  t?.app.server.closeAllConnections();
  await t?.cleanup();
  await executor?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function client(options: Partial<PolyrunOptions> = {}): Polyrun {
  return new Polyrun({ baseUrl, apiKey: t.keys.default, ...options });
}

const python = (content: string, extra: Partial<ExecuteRequest> = {}): ExecuteRequest => ({
  language: 'python',
  files: [{ name: 'main.py', content }],
  ...extra,
});

/** A program that says it started, then sleeps well beyond any test (its wall limit allows it). */
const sleeper = (marker: string) =>
  python(`import time\nprint(${JSON.stringify(marker)}, flush=True)\ntime.sleep(50)\n`, { limits: { wallTimeMs: 60_000 } });

/** Nothing runs on the server any more: the cancelled executions have ended and freed their slots. */
async function expectIdle(): Promise<void> {
  const { executions } = t.app.polyrun.services;
  expect(await executions.waitIdle(15_000)).toBe(true);
  expect(executions.inflightCount).toBe(0);
}

describe('SDK against a real server', { timeout: 30_000 }, () => {
  it('health() and ready()', async () => {
    const polyrun = client();
    expect(await polyrun.health()).toEqual({ status: 'ok' });
    const ready = await polyrun.ready();
    expect(ready.status).toBe('ready');
    expect(ready.runtimes).toBeGreaterThanOrEqual(1);
  });

  it('runtimes() and usage()', async () => {
    const polyrun = client();
    const runtimes = await polyrun.runtimes();
    const py = runtimes.find((r) => r.name === 'python');
    expect(py).toMatchObject({ compiled: false, aliases: expect.arrayContaining(['py']) });
    expect(py!.limits.maximum.run.cpuTimeMs).toBeGreaterThan(0);
    const usage = await polyrun.usage();
    expect(usage).toMatchObject({ tenant: 'default', executions: { limit: expect.any(Number) } });
  });

  it('execute() answers the result', async () => {
    const result = await client().execute(python('import sys\nprint(input()[::-1])\nsys.exit(3)', { stdin: 'hello' }));
    expect(result).toMatchObject({ language: 'python', status: 'runtime_error', compile: null, run: { exitCode: 3, stdout: 'olleh\n' } });
    expect(result.id).toEqual(expect.any(String));
  });

  it('stream() yields output while the program runs, then the result', async () => {
    const { executions } = t.app.polyrun.services;
    const events: ExecutionEvent[] = [];
    let inflightAtFirstOutput = -1;
    const program = 'import sys, time\nprint("a", flush=True)\ntime.sleep(1)\nprint("b", flush=True)\nprint("e", file=sys.stderr)\n';
    for await (const event of client().stream(python(program))) {
      if (event.type === 'stdout' && inflightAtFirstOutput < 0) inflightAtFirstOutput = executions.inflightCount;
      events.push(event);
    }
    // "a" arrived while the execution was still in flight on the server (it sleeps before "b").
    expect(inflightAtFirstOutput).toBe(1);
    expect(events[0]).toEqual({ type: 'stage', stage: 'run' });
    expect(events.filter((e) => e.type === 'stdout').map((e) => (e as { data: string }).data).join('')).toBe('a\nb\n');
    expect(events.some((e) => e.type === 'stderr' && e.data === 'e\n')).toBe(true);
    const exitAt = events.findIndex((e) => e.type === 'exit');
    expect(exitAt).toBe(events.length - 2);
    const last = events.at(-1)!;
    expect(last.type).toBe('result');
    if (last.type !== 'result') throw new Error('unreachable');
    expect(last.result).toMatchObject({ status: 'ok', run: { stdout: 'a\nb\n', stderr: 'e\n' } });
    await expectIdle();
  });

  it('submit() and getExecution() with a long poll', async () => {
    const polyrun = client();
    const { id } = await polyrun.submit(python('print(6 * 7)'));
    let view = await polyrun.getExecution(id, { waitMs: 10_000 });
    while (isPending(view)) view = await polyrun.getExecution(id, { waitMs: 10_000 });
    expect(view).toMatchObject({ id, status: 'ok', run: { stdout: '42\n' } });
    // Without waiting: the same stored result.
    expect(await polyrun.getExecution(id)).toEqual(view);
    const missing = await polyrun.getExecution('no-such-execution').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it('throws typed errors: an unknown language is a 422 ValidationError, a bad key a 401 AuthError', async () => {
    const unknown = await client().execute({ language: 'intercal', files: [{ content: 'x' }] }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ValidationError);
    expect(unknown).toBeInstanceOf(PolyrunApiError);
    expect(unknown).toMatchObject({ status: 422, code: 'UNKNOWN_LANGUAGE', requestId: expect.any(String) });
    const details = (unknown as ValidationError).details as { language: string; known: string[] };
    expect(details.language).toBe('intercal');
    expect(details.known.some((k) => k.startsWith('python'))).toBe(true);

    // The same before a stream starts: thrown from the first step.
    const streamed = await (async () => {
      for await (const _ of client().stream({ language: 'intercal', files: [{ content: 'x' }] })) throw new Error('no event expected');
    })().catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(ValidationError);
    expect(streamed).toMatchObject({ code: 'UNKNOWN_LANGUAGE' });

    const schema = await client().execute({ language: 'python', files: [] }).catch((e: unknown) => e);
    expect(schema).toBeInstanceOf(ValidationError);
    expect(schema).toMatchObject({ code: 'VALIDATION_FAILED' });

    for (const apiKey of ['not-a-key', undefined]) {
      const denied = await client({ apiKey }).usage().catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(AuthError);
      expect(denied).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    }
  });

  it('retries a request answered 429 after the Retry-After the server sent, then succeeds', async () => {
    const sent: { sentAt: number; answeredAt: number; status: number; retryAfter: string | null }[] = [];
    const recording: PolyrunOptions['fetch'] = async (url, init) => {
      const sentAt = performance.now();
      const response = await fetch(url, init);
      sent.push({ sentAt, answeredAt: performance.now(), status: response.status, retryAfter: response.headers.get('retry-after') });
      return response;
    };
    const slow = client({ apiKey: t.keys.slow, fetch: recording });
    await slow.usage(); // takes the tenant's one token
    // With no retries left the 429 is thrown, typed, with its Retry-After. Asked right away, while the bucket
    // is surely empty (after the execute below it may have refilled: that can take over a second).
    const err = await client({ apiKey: t.keys.slow, retries: 0 }).usage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err).toMatchObject({ status: 429, code: 'RATE_LIMITED', retryAfter: expect.any(Number) });
    expect((err as RateLimitError).retryAfter).toBeGreaterThanOrEqual(1);
    // A POST: refused by the rate limit before anything ran, so it is safe to send again.
    const result = await slow.execute(python('print("after the wait")'));
    expect(result.run?.stdout).toBe('after the wait\n');
    expect(sent.map((s) => s.status)).toEqual([200, 429, 200]);
    const refused = sent[1]!;
    const retryAfter = Number(refused.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // The retry was sent Retry-After seconds after the 429 arrived.
    expect(sent[2]!.sentAt - refused.answeredAt).toBeGreaterThanOrEqual(retryAfter * 1000 - 2);

  });

  it('aborting a running stream rejects with AbortError and cancels the execution on the server', async () => {
    const started = jobPrinting('stream-started');
    const controller = new AbortController();
    const seen: string[] = [];
    const outcome = (async () => {
      for await (const event of client().stream(sleeper('stream-started'), { signal: controller.signal })) {
        seen.push(event.type);
        if (event.type === 'stdout') controller.abort();
      }
    })().catch((e: unknown) => e);
    const job = await started;
    const err = await outcome;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('AbortError');
    expect(seen).toEqual(['stage', 'stdout']);
    await expectIdle();
    expect(job.signal.aborted).toBe(true);
  });

  it('aborting a running execute() rejects with AbortError and cancels the execution on the server', async () => {
    const started = jobPrinting('execute-started');
    const controller = new AbortController();
    const pending = client().execute(sleeper('execute-started'), { signal: controller.signal });
    const job = await started;
    expect(t.app.polyrun.services.executions.inflightCount).toBe(1);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await expectIdle();
    expect(job.signal.aborted).toBe(true);
  });

  it('an abort before the request is sent rejects at once, sending nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    let sent = 0;
    const polyrun = client({ fetch: (url, init) => (sent++, fetch(url, init)) });
    await expect(polyrun.execute(python('print(1)'), { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(sent).toBe(0);
  });

  it('leaving a stream loop early hangs up and cancels the execution', async () => {
    const started = jobPrinting('break-started');
    for await (const event of client().stream(sleeper('break-started'))) if (event.type === 'stdout') break;
    const job = await started;
    await expectIdle();
    expect(job.signal.aborted).toBe(true);
  });

  it('a timeout rejects with PolyrunTimeoutError and cancels the execution', async () => {
    // The job reaching the executor, not its first output: on a loaded machine the timeout may come first.
    const started = nextJob();
    const err = await client({ timeoutMs: 1_500 }).execute(sleeper('timeout-started')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolyrunTimeoutError);
    expect(err).toMatchObject({ timeoutMs: 1_500 });
    const job = await started;
    await expectIdle();
    expect(job.signal.aborted).toBe(true);
  });
});

describe('sessions through the SDK', () => {
  it('creates a session, moves files in and out, runs commands and programs in it, then ends it', async () => {
    const polyrun = client();
    {
      const session = await polyrun.sessions.create({ idleTimeoutMs: 60_000 });
      expect((await polyrun.sessions.list()).map((x) => x.id)).toEqual([session.id]);

      await polyrun.sessions.writeFile(session.id, 'data/in.txt', 'héllo\n');
      await polyrun.sessions.writeFile(session.id, 'data/bytes.bin', new Uint8Array([0, 255, 10]));
      const cat = await polyrun.sessions.exec(session.id, { argv: ['cat', 'data/in.txt'] });
      expect(cat).toMatchObject({ status: 'ok', run: { stdout: 'héllo\n' } });
      const program = await polyrun.sessions.exec(session.id, { language: 'python', code: 'open("out.txt", "w").write(open("data/in.txt").read().upper())' });
      expect(program.status).toBe('ok');
      expect(new TextDecoder().decode(await polyrun.sessions.readFile(session.id, 'out.txt'))).toBe('HÉLLO\n');
      expect([...(await polyrun.sessions.readFile(session.id, 'data/bytes.bin'))]).toEqual([0, 255, 10]);
      // The program's own source (the runtime's default name) stays in the working dir too.
      expect(await polyrun.sessions.listFiles(session.id)).toEqual(expect.arrayContaining(['data/bytes.bin', 'data/in.txt', 'out.txt']));

      const events: ExecutionEvent[] = [];
      for await (const event of polyrun.sessions.execStream(session.id, { argv: ['ls', 'data'] })) events.push(event);
      expect(events.at(-1)).toMatchObject({ type: 'result', result: { status: 'ok', run: { stdout: 'bytes.bin\nin.txt\n' } } });

      expect(await polyrun.sessions.deleteFile(session.id, 'out.txt')).toMatchObject({ deleted: true });
      await expect(polyrun.sessions.readFile(session.id, 'out.txt')).rejects.toBeInstanceOf(NotFoundError);
      expect(await polyrun.sessions.delete(session.id)).toMatchObject({ id: session.id, ended: true });
      await expect(polyrun.sessions.get(session.id)).rejects.toBeInstanceOf(NotFoundError);
    }
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------
// The README's examples: each ```ts block of sdk/README.md is a whole program. It is type-checked, then run
// with tsx against this server ('@polyrun/sdk' resolved to sdk/src); every `// -> text` comment in it must
// appear in what it printed.

interface Example {
  line: number;
  code: string;
  expected: string[];
}

function readmeExamples(): Example[] {
  const text = readFileSync(projectPath('sdk/README.md'), 'utf8');
  const examples: Example[] = [];
  const fence = /^```ts\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(text); m; m = fence.exec(text)) {
    const code = m[1]!;
    const expected = [...code.matchAll(/\/\/ -> (.+)$/gm)].map((x) => x[1]!.trim());
    examples.push({ line: text.slice(0, m.index).split('\n').length, code, expected });
  }
  return examples;
}

const sdkEntry = projectPath('sdk/src/index.js');

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: projectPath('.'), env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('sdk/README.md examples', () => {
  const examples = readmeExamples();
  let dir: string;
  const files: string[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'polyrun-sdk-readme-'));
    examples.forEach((example, i) => {
      const file = join(dir, `example-${i + 1}-line-${example.line}.mts`);
      writeFileSync(file, example.code.replaceAll(`from '@polyrun/sdk'`, `from ${JSON.stringify(sdkEntry)}`));
      files.push(file);
    });
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has examples, each with output to check', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
    for (const e of examples) expect(e.code).toContain(`from '@polyrun/sdk'`);
  });

  it('type-checks every example (strict)', async () => {
    const tsconfig = join(dir, 'tsconfig.json');
    writeFileSync(
      tsconfig,
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [projectPath('node_modules/@types')],
        },
        files,
      }),
    );
    const r = await run(projectPath('node_modules/.bin/tsc'), ['-p', tsconfig]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 60_000);

  it.each(examples.map((e, i) => [e.line, i] as const))('runs the example at line %i', async (_line, i) => {
    const example = examples[i]!;
    const r = await run(projectPath('node_modules/.bin/tsx'), [files[i]!], { POLYRUN_URL: baseUrl, POLYRUN_API_KEY: t.keys.default });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const text of example.expected) expect(r.stdout).toContain(text);
    await expectIdle();
  }, 60_000);
});
