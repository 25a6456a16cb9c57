/**
 * The Model Context Protocol on real sandboxes, driven by the SDK's own client over both transports: stdio
 * (`polyrun mcp` as a real process, through tsx) and Streamable HTTP (/mcp of a real app with an API key).
 * The same tools either way: a program's failure is a normal result, polyrun's refusal a tool error.
 */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const dataDir = tempDir('polyrun-mcp-');

let executor: SandboxExecutor;
let t: TestApp;
let base: string;
let httpClient: Client;
let stdioClient: Client;
let stdioStderr = '';

async function connectHttp(headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'polyrun-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } }));
  return client;
}

beforeAll(async () => {
  const stdio = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'mcp'],
    cwd: ROOT,
    env: { ...(process.env as Record<string, string>), POLYRUN_DATA_DIR: join(dataDir, 'stdio') },
    stderr: 'pipe',
  });
  stdio.stderr?.on('data', (chunk: Buffer) => (stdioStderr += chunk.toString()));
  stdioClient = new Client({ name: 'polyrun-test', version: '1.0.0' });
  // The server answers `initialize` once its runtimes are detected (see the bound of this hook below).
  const stdioReady = stdioClient.connect(stdio, { timeout: 170_000 });

  executor = await createExecutor({ dataDir, languages: ['python', 'bash'] });
  t = await makeTestApp(executor, {
    config: { slots: 2, tenants: { spent: { quota: { executionsPerDay: 0 } } } },
    tenants: ['default', 'spent'],
    dataDir,
    closeExecutor: false,
  });
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  httpClient = await connectHttp(t.auth());
  await stdioReady;
  // `polyrun mcp` in a fresh data dir self-tests every runtime before it answers: over a minute on 2 cores
  // while another test file runs beside this one.
}, 180_000);

afterAll(async () => {
  await stdioClient?.close();
  await httpClient?.close();
  await t?.cleanup();
  await executor?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');

describe.each([
  ['stdio', () => stdioClient],
  ['http', () => httpClient],
] as const)('MCP over %s', (_name, client) => {
  it('lists the tools with their input schemas', async () => {
    const { tools } = await client().listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([
      'list_runtimes',
      'run_code',
      'session_close',
      'session_create',
      'session_exec',
      'session_list_files',
      'session_read_file',
      'session_run_cell',
      'session_write_file',
    ]);
    const run = tools.find((tool) => tool.name === 'run_code')!;
    expect(run.inputSchema.required).toEqual(['language']);
    expect(Object.keys(run.inputSchema.properties ?? {})).toEqual(
      expect.arrayContaining(['language', 'version', 'code', 'files', 'stdin', 'args', 'limits']),
    );
    expect((run.inputSchema.properties as Record<string, { description?: string }>).code!.description).toBeTruthy();
  });

  it('list_runtimes gives the runtimes the caller may use', async () => {
    const r = (await client().callTool({ name: 'list_runtimes', arguments: {} })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    const { runtimes } = r.structuredContent as { runtimes: { name: string; version: string; aliases: string[]; compiled: boolean }[] };
    expect(runtimes).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'python', compiled: false, aliases: expect.arrayContaining(['py']) })]));
    expect(text(r)).toMatch(/^python 3\.\d+\.\d+/m);
  });

  it('run_code runs python: ok, stdout, usage', async () => {
    const r = (await client().callTool({
      name: 'run_code',
      arguments: { language: 'python', code: 'import sys\nprint("hello", sys.stdin.read(), sys.argv[1:])\n', stdin: 'in', args: ['a'] },
    })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ language: 'python', status: 'ok', compile: null, run: { status: 'ok', exitCode: 0, stdout: "hello in ['a']\n" } });
    expect(text(r)).toContain("status: ok");
    expect(text(r)).toContain("hello in ['a']");
  });

  it('a session: a file written, a command, a Python kernel keeping a variable, files read back, then closed', async () => {
    const created = (await client().callTool({ name: 'session_create', arguments: {} })) as CallToolResult;
    expect(created.isError, text(created)).toBeFalsy();
    const id = (created.structuredContent as { id: string }).id;
    const call = async (name: string, args: Record<string, unknown> = {}) =>
      (await client().callTool({ name, arguments: { session_id: id, ...args } })) as CallToolResult;

    expect((await call('session_write_file', { path: 'in.txt', content: '21' })).isError).toBeFalsy();
    expect((await call('session_exec', { argv: ['cat', 'in.txt'] })).structuredContent).toMatchObject({ status: 'ok', run: { stdout: '21' } });
    const first = await call('session_run_cell', { code: 'n = int(open("in.txt").read())\nn * 2' });
    expect(first.structuredContent, text(first)).toMatchObject({ status: 'ok', value: '42', executionCount: 1 });
    const second = await call('session_run_cell', { code: 'open("out.txt", "w").write(str(n + 1))\nn' });
    expect(second.structuredContent).toMatchObject({ status: 'ok', value: '21', executionCount: 2 });
    expect(text(second)).toContain('value: 21');
    const raised = await call('session_run_cell', { code: 'undefined_name' });
    expect(raised.isError).toBeFalsy();
    expect(text(raised)).toContain('NameError');
    expect((await call('session_read_file', { path: 'out.txt' })).structuredContent).toEqual({ path: 'out.txt', encoding: 'utf8', content: '22' });
    expect((await call('session_list_files')).structuredContent).toEqual({ files: ['in.txt', 'out.txt'] });
    const refused = await call('session_exec', { argv: ['true'] });
    expect(refused.isError).toBe(true);
    expect(refused.structuredContent).toMatchObject({ error: { code: 'KERNEL_RUNNING' } });
    expect((await call('session_close')).isError).toBeFalsy();
    expect((await call('session_list_files')).structuredContent).toMatchObject({ error: { code: 'NOT_FOUND' } });
  }, 60_000);

  it('a program that fails is a normal result with status runtime_error', async () => {
    const r = (await client().callTool({ name: 'run_code', arguments: { language: 'python', code: 'raise SystemExit(3)\n' } })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ status: 'runtime_error', run: { exitCode: 3 } });
    expect(text(r)).toContain('exit code 3');
  });

  it("polyrun's refusals are tool errors with the API's code", async () => {
    const unknown = (await client().callTool({ name: 'run_code', arguments: { language: 'intercal', code: 'x' } })) as CallToolResult;
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toMatch(/^UNKNOWN_LANGUAGE: /);
    expect(unknown.structuredContent).toMatchObject({ error: { code: 'UNKNOWN_LANGUAGE' } });

    const tooLong = (await client().callTool({
      name: 'run_code',
      arguments: { language: 'python', code: 'pass', limits: { cpuTimeMs: 10_000_000 } },
    })) as CallToolResult;
    expect(tooLong.isError).toBe(true);
    expect(tooLong.structuredContent).toMatchObject({ error: { code: 'LIMIT_EXCEEDS_MAXIMUM' } });
  });
});

describe('MCP over HTTP', () => {
  it('refuses a request without an API key with 401', async () => {
    const res = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    await expect(connectHttp({})).rejects.toThrow();
  });

  it('charges each run_code call to the tenant: usage counts it, and the concurrency slot is given back', async () => {
    const usage = async () => (await (await fetch(`${base}/v1/usage`, { headers: t.auth() })).json()) as { executions: { used: number }; concurrent: { used: number } };
    const before = await usage();
    await httpClient.callTool({ name: 'run_code', arguments: { language: 'python', code: 'print(1)\n' } });
    await httpClient.callTool({ name: 'run_code', arguments: { language: 'nope', code: 'x' } });
    const after = await usage();
    expect(after.executions.used - before.executions.used).toBe(1);
    expect(after.concurrent.used).toBe(0);
  });

  it("a tenant over its quota gets QUOTA_EXCEEDED as a tool error; listing runtimes still works", async () => {
    const spent = await connectHttp(t.auth('spent'));
    try {
      const r = (await spent.callTool({ name: 'run_code', arguments: { language: 'python', code: 'print(1)\n' } })) as CallToolResult;
      expect(r.isError).toBe(true);
      expect(r.structuredContent).toMatchObject({ error: { code: 'QUOTA_EXCEEDED', details: { quota: 'executionsPerDay' } } });
      const list = (await spent.callTool({ name: 'list_runtimes', arguments: {} })) as CallToolResult;
      expect(list.isError).toBeFalsy();
    } finally {
      await spent.close();
    }
  });
});

describe('polyrun mcp', () => {
  it('keeps stdout for the protocol: its log lines are on stderr', () => {
    expect(stdioStderr).toContain('serving tools on stdio');
  });
});
