/**
 * Interactive executions over WebSocket on a real server with real sandboxes: Piston's /api/v2/connect
 * replayed message by message with each of its close codes, polyrun's /v1/connect driving a program turn
 * by turn, output caps, the quota lease given back on every ending, and a client that leaves cancelling
 * its execution.
 */
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.js';

/** The client side of `ws` as this test uses it (the package ships no types). */
interface WsClient {
  on(event: 'open', listener: () => void): void;
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  on(event: 'unexpected-response', listener: (req: unknown, res: { statusCode: number }) => void): void;
  send(data: string): void;
  close(code?: number): void;
}
const WebSocket = createRequire(import.meta.url)('ws') as new (url: string, options?: { headers?: Record<string, string> }) => WsClient;

type Message = Record<string, unknown> & { type: string };

const dataDir = tempDir('polyrun-connect-');
let executor: SandboxExecutor;
let t: TestApp;
let base: string;

beforeAll(async () => {
  executor = await createExecutor({ dataDir, languages: ['python'], pool: { minSize: 1 } });
  t = await makeTestApp(executor, {
    config: { slots: 2, defaultPolicy: { rate: { perSecond: 1000, burst: 1000 } } },
    dataDir,
    closeExecutor: false,
  });
  base = (await t.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws');
}, 60_000);

afterAll(async () => {
  await t?.cleanup();
  await executor?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function usage(): Promise<{ concurrent: { used: number }; executions: { used: number } }> {
  return (await t.app.inject({ method: 'GET', url: '/v1/usage', headers: t.auth() })).json();
}

/** After every conversation: nothing runs any more and the tenant holds no concurrency slot. */
afterEach(async () => {
  expect(await t.app.polyrun.services.executions.waitIdle(10_000)).toBe(true);
  expect((await usage()).concurrent.used).toBe(0);
});

/** One client connection: every message it received, waits on messages, and how it closed. */
class Conversation {
  readonly messages: Message[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  private readonly waiters = new Set<() => void>();
  private ended = false;

  constructor(readonly ws: WsClient) {
    this.opened = new Promise((resolve, reject) => {
      ws.on('open', resolve);
      ws.on('error', reject);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.ended = true;
        this.wake();
        resolve({ code, reason: reason.toString() });
      }),
    );
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as Message);
      this.wake();
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first message (from the start) matching `match`; rejects when the socket closes without one. */
  next(match: (m: Message) => boolean): Promise<Message> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.find(match);
        if (found || this.ended) this.waiters.delete(check);
        if (found) resolve(found);
        else if (this.ended) reject(new Error(`closed without the message; got ${JSON.stringify(this.messages)}`));
      };
      this.waiters.add(check);
      check();
    });
  }

  output(stream: 'stdout' | 'stderr', piston = false): string {
    return this.messages
      .filter((m) => (piston ? m.type === 'data' && m.stream === stream : m.type === stream))
      .map((m) => m.data as string)
      .join('');
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}

async function connect(path: string, headers: Record<string, string> = t.auth()): Promise<Conversation> {
  const c = new Conversation(new WebSocket(`${base}${path}`, { headers }));
  await c.opened;
  return c;
}

const stdoutHas = (text: string) => (m: Message) => m.type === 'stdout' && String(m.data).includes(text);
const pistonStdoutHas = (text: string) => (m: Message) => m.type === 'data' && m.stream === 'stdout' && String(m.data).includes(text);

const pistonInit = (content: string, extra: Record<string, unknown> = {}) => ({
  type: 'init',
  language: 'python',
  version: '*',
  files: [{ content }],
  ...extra,
});
const READ_TWO_LINES = 'print("hello " + input(), flush=True)\nprint("bye " + input(), flush=True)\n';
const WAIT_FOREVER = 'print("ready", flush=True)\nimport time\ntime.sleep(30)\n';

describe('Piston /api/v2/connect', () => {
  it('runs a job turn by turn: runtime, stage, data, exit, then closes 4999', async () => {
    const c = await connect('/api/v2/connect');
    c.send(pistonInit(READ_TWO_LINES));
    const runtime = await c.next((m) => m.type === 'runtime');
    expect(runtime).toMatchObject({ language: 'python', version: expect.stringMatching(/^3\./) });
    c.send({ type: 'data', stream: 'stdin', data: 'ada\n' });
    await c.next(pistonStdoutHas('hello ada'));
    expect(c.messages.some((m) => m.type === 'exit')).toBe(false);
    c.send({ type: 'data', stream: 'stdin', data: 'lovelace\n' });
    expect(await c.closed).toEqual({ code: 4999, reason: 'Job Completed' });
    expect(c.output('stdout', true)).toBe('hello ada\nbye lovelace\n');
    expect(c.messages.map((m) => m.type).filter((type, i, all) => type !== 'data' || all[i - 1] !== 'data')).toEqual(['runtime', 'stage', 'data', 'exit']);
    expect(c.messages.find((m) => m.type === 'stage')).toEqual({ type: 'stage', stage: 'run' });
    expect(c.messages.at(-1)).toEqual({ type: 'exit', stage: 'run', code: 0, signal: null });
  });

  it('relays a signal to the program', async () => {
    const c = await connect('/api/v2/connect');
    c.send(pistonInit(WAIT_FOREVER));
    await c.next(pistonStdoutHas('ready'));
    c.send({ type: 'signal', signal: 'SIGTERM' });
    expect((await c.closed).code).toBe(4999);
    expect(c.messages.at(-1)).toEqual({ type: 'exit', stage: 'run', code: null, signal: 'SIGTERM' });
  });

  it('4000: a second init', async () => {
    const c = await connect('/api/v2/connect');
    c.send(pistonInit(WAIT_FOREVER));
    await c.next(pistonStdoutHas('ready'));
    c.send(pistonInit(WAIT_FOREVER));
    expect(await c.closed).toEqual({ code: 4000, reason: 'Already Initialized' });
  });

  it('4001: no init within 1 s (the lease taken on the upgrade is given back, count included)', async () => {
    const before = (await usage()).executions.used;
    const startedAt = Date.now();
    const c = await connect('/api/v2/connect');
    expect((await usage()).concurrent.used).toBe(1);
    expect(await c.closed).toEqual({ code: 4001, reason: 'Initialization Timeout' });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(900);
    expect(c.messages).toEqual([]);
    expect((await usage()).executions.used).toBe(before);
  });

  it('4002: an error is notified, then the socket closes', async () => {
    const c = await connect('/api/v2/connect');
    c.send(pistonInit('print(1)', { language: 'no-such-language' }));
    expect(await c.closed).toEqual({ code: 4002, reason: 'Notified Error' });
    expect(c.messages).toEqual([{ type: 'error', message: 'no-such-language-* runtime is unknown' }]);

    const bad = await connect('/api/v2/connect');
    bad.send({ type: 'init', language: 'python', version: '*' });
    expect((await bad.closed).code).toBe(4002);
    expect(bad.messages).toEqual([{ type: 'error', message: expect.stringContaining('files') }]);
  });

  it('4003: data or a signal before init', async () => {
    const c = await connect('/api/v2/connect');
    c.send({ type: 'data', stream: 'stdin', data: 'x\n' });
    expect(await c.closed).toEqual({ code: 4003, reason: 'Not yet initialized' });
    const s = await connect('/api/v2/connect');
    s.send({ type: 'signal', signal: 'SIGINT' });
    expect((await s.closed).code).toBe(4003);
  });

  it('4004: writing to something other than stdin', async () => {
    const c = await connect('/api/v2/connect');
    c.send(pistonInit(WAIT_FOREVER));
    await c.next(pistonStdoutHas('ready'));
    c.send({ type: 'data', stream: 'stdout', data: 'x' });
    expect(await c.closed).toEqual({ code: 4004, reason: 'Can only write to stdin' });
  });

  it('4005: an invalid signal', async () => {
    const c = await connect('/api/v2/connect');
    c.send(pistonInit(WAIT_FOREVER));
    await c.next(pistonStdoutHas('ready'));
    c.send({ type: 'signal', signal: 'SIGFROB' });
    expect(await c.closed).toEqual({ code: 4005, reason: 'Invalid signal' });
  });

  it('refuses the upgrade without a valid API key (401, before any WebSocket)', async () => {
    const ws = new WebSocket(`${base}/api/v2/connect`);
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode)));
    expect(status).toBe(401);
  });
});

describe('polyrun /v1/connect', () => {
  it('drives an interactive program turn by turn, then result and close 1000', async () => {
    const program =
      'import sys\nprint("hello " + input(), flush=True)\nprint("bye " + input(), flush=True)\n' +
      'print("rest", len(sys.stdin.read()), flush=True)\n';
    const c = await connect('/v1/connect');
    c.send({ type: 'execute', language: 'python', files: [{ name: 'main.py', content: program }] });
    c.send({ type: 'stdin', data: Buffer.from('ada\n').toString('base64') });
    await c.next(stdoutHas('hello ada'));
    expect(c.messages.some((m) => m.type === 'exit')).toBe(false);

    // A bad message is answered; the run goes on.
    c.send({ type: 'stdin', data: 42 });
    const error = await c.next((m) => m.type === 'error');
    expect(error).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    c.send('not json');
    await c.next((m) => m.type === 'error' && (m.error as { code: string }).code === 'INVALID_JSON');

    c.send({ type: 'stdin', data: Buffer.from('lovelace\nabc').toString('base64') });
    await c.next(stdoutHas('bye lovelace'));
    expect(c.messages.some((m) => m.type === 'exit')).toBe(false);
    c.send({ type: 'stdin_end' });
    const { result } = (await c.next((m) => m.type === 'result')) as unknown as { result: { status: string; id: string; run: { stdout: string } } };
    expect(result).toMatchObject({ status: 'ok', run: { stdout: 'hello ada\nbye lovelace\nrest 3\n' } });
    expect(result.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await c.closed).toEqual({ code: 1000, reason: '' });
    expect(c.messages.filter((m) => m.type !== 'stdout' && m.type !== 'error').map((m) => m.type)).toEqual(['stage', 'exit', 'result']);
  });

  it('a signal ends a program that waits', async () => {
    const c = await connect('/v1/connect');
    c.send({ type: 'execute', language: 'python', files: [{ content: WAIT_FOREVER }] });
    await c.next(stdoutHas('ready'));
    c.send({ type: 'signal', signal: 'SIGINT' });
    const { result } = (await c.next((m) => m.type === 'result')) as unknown as { result: { run: { exitCode: number; stderr: string } } };
    expect(result.run.stderr).toContain('KeyboardInterrupt');
    expect((await c.closed).code).toBe(1000);
  });

  it('cuts a flood at the output cap with output_limit', async () => {
    const c = await connect('/v1/connect');
    c.send({
      type: 'execute',
      language: 'python',
      files: [{ content: 'import sys\nwhile True:\n    sys.stdout.write("x" * 4096)\n' }],
      limits: { outputBytes: 20_000 },
    });
    const { result } = (await c.next((m) => m.type === 'result')) as unknown as { result: { status: string; run: { stdoutTruncated: boolean } } };
    expect(result).toMatchObject({ status: 'output_limit', run: { stdoutTruncated: true } });
    expect(c.output('stdout').length).toBe(20_000);
    expect((await c.closed).code).toBe(1000);
  });

  it('refuses a bad first message with an error and 4000 + its status', async () => {
    const unknown = await connect('/v1/connect');
    unknown.send({ type: 'execute', language: 'no-such-language', files: [{ content: 'x' }] });
    expect(await unknown.closed).toEqual({ code: 4422, reason: 'UNKNOWN_LANGUAGE' });
    expect(unknown.messages).toEqual([{ type: 'error', error: expect.objectContaining({ code: 'UNKNOWN_LANGUAGE' }) }]);

    const notExecute = await connect('/v1/connect');
    notExecute.send({ type: 'stdin', data: '' });
    expect(await notExecute.closed).toEqual({ code: 4400, reason: 'BAD_REQUEST' });

    const badShape = await connect('/v1/connect');
    badShape.send({ type: 'execute', language: 'python', files: [{ content: 'x', colour: 'blue' }] });
    expect((await badShape.closed).code).toBe(4422);
    expect(badShape.messages[0]).toMatchObject({ type: 'error', error: { code: 'VALIDATION_FAILED' } });
  });

  it('a client that closes mid-run cancels the execution', async () => {
    const c = await connect('/v1/connect');
    c.send({ type: 'execute', language: 'python', files: [{ content: WAIT_FOREVER }] });
    await c.next(stdoutHas('ready'));
    expect(t.app.polyrun.services.executions.inflightCount).toBe(1);
    expect((await usage()).concurrent.used).toBe(1);
    c.ws.close(1000);
    await c.closed;
    // afterEach: inflightCount back to 0 (long before the program's 30 s) and no slot held.
    expect(await t.app.polyrun.services.executions.waitIdle(10_000)).toBe(true);
    expect(t.app.polyrun.services.executions.inflightCount).toBe(0);
  });

  it('closes 1009 on a message larger than the body limit', async () => {
    const c = await connect('/v1/connect');
    c.send({ type: 'execute', language: 'python', files: [{ content: 'x'.repeat(t.config.bodyLimitBytes) }] });
    expect((await c.closed).code).toBe(1009);
  });

  it('a plain GET without the upgrade is refused', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/connect', headers: t.auth() });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('BAD_REQUEST');
  });
});

describe('GET /v1/sessions/:id/connect: an interactive exec in a session', () => {
  async function session(): Promise<string> {
    const res = await t.app.inject({ method: 'POST', url: '/v1/sessions', headers: t.auth(), payload: {} });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().id as string;
  }
  const exec = (id: string, argv: string[]) => t.app.inject({ method: 'POST', url: `/v1/sessions/${id}/exec`, headers: t.auth(), payload: { argv } });

  it('drives a command turn by turn; what it wrote stays in the session', async () => {
    const id = await session();
    const c = await connect(`/v1/sessions/${id}/connect`);
    c.send({ type: 'exec', argv: ['sh', '-c', 'read a; echo "hello $a"; read b; echo "$a $b" > names.txt; echo bye'] });
    c.send({ type: 'stdin', data: Buffer.from('ada\n').toString('base64') });
    await c.next(stdoutHas('hello ada'));
    expect(c.messages.some((m) => m.type === 'exit')).toBe(false);
    c.send({ type: 'stdin', data: Buffer.from('lovelace\n').toString('base64') });
    const { result } = (await c.next((m) => m.type === 'result')) as unknown as { result: { status: string; language: string; run: { stdout: string } } };
    expect(result).toMatchObject({ status: 'ok', language: 'command', run: { stdout: 'hello ada\nbye\n' } });
    expect(await c.closed).toEqual({ code: 1000, reason: '' });
    expect((await exec(id, ['cat', 'names.txt'])).json().run.stdout).toBe('ada lovelace\n');
    await t.app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: t.auth() });
  });

  it('a signal reaches a program exec; a session that is not there closes 4404', async () => {
    const id = await session();
    const c = await connect(`/v1/sessions/${id}/connect`);
    c.send({ type: 'exec', language: 'python', code: WAIT_FOREVER });
    await c.next(stdoutHas('ready'));
    c.send({ type: 'signal', signal: 'SIGINT' });
    const { result } = (await c.next((m) => m.type === 'result')) as unknown as { result: { run: { stderr: string } } };
    expect(result.run.stderr).toContain('KeyboardInterrupt');
    expect((await c.closed).code).toBe(1000);
    await t.app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: t.auth() });

    const gone = await connect(`/v1/sessions/${id}/connect`);
    gone.send({ type: 'exec', argv: ['true'] });
    expect(await gone.next((m) => m.type === 'error')).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect((await gone.closed).code).toBe(4404);
  });
});
