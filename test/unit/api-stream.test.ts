/**
 * Streaming executions over HTTP (Server-Sent Events) with a fake executor: the event sequence, errors
 * before the start as JSON, and a client that hangs up cancelling its execution and freeing its slot.
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FakeExecutor } from '../helpers/fake-executor.js';
import { appsCleanedAfterEach, body, type TestApp } from '../helpers/app.js';
import { parseSse } from '../helpers/sse.js';

const start = appsCleanedAfterEach();

const SSE = { accept: 'text/event-stream' };

function post(t: TestApp, payload: unknown, headers: Record<string, string> = {}) {
  return t.app.inject({ method: 'POST', url: '/v1/execute', headers: { ...t.auth(), ...headers }, payload: payload as Record<string, unknown> });
}

describe('POST /v1/execute with Accept: text/event-stream', () => {
  it('streams stage, output, exit and the same result the JSON answer has', async () => {
    const t = await start(new FakeExecutor());
    const r = await post(t, body('print:hello\n'), SSE);
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const events = parseSse(r.body);
    expect(events.map((e) => e.event)).toEqual(['stage', 'stdout', 'exit', 'result']);
    expect(events[1]!.data).toEqual({ type: 'stdout', stage: 'run', data: 'hello\n' });
    const result = (events[3]!.data as { result: Record<string, unknown> }).result;
    expect(result).toMatchObject({ status: 'ok', language: 'python', run: { stdout: 'hello\n' } });
    expect(result.id).toEqual(expect.any(String));

    const plain = await post(t, body('print:hello\n'));
    const { id: _a, ...plainResult } = plain.json();
    const { id: _b, ...streamedResult } = result;
    expect(streamedResult).toEqual(plainResult);
  });

  it('answers errors before the start as plain JSON', async () => {
    const t = await start(new FakeExecutor());
    const r = await post(t, { language: 'cobol', files: [{ content: 'x' }] }, SSE);
    expect(r.statusCode).toBe(422);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.json().error.code).toBe('UNKNOWN_LANGUAGE');
  });

  it('answers a full queue as JSON 503 with Retry-After', async () => {
    const executor = new FakeExecutor();
    const t = await start(executor, { config: { slots: 1, queue: { maxQueued: 0 } } });
    const holding = post(t, body('hold'));
    await executor.waitHolding(1);
    const r = await post(t, body('print:x'), SSE);
    expect(r.statusCode).toBe(503);
    expect(r.json().error.code).toBe('QUEUE_FULL');
    expect(r.headers['retry-after']).toBe('1');
    executor.releaseAll();
    expect((await holding).statusCode).toBe(200);
  });

  it('cancels the execution and frees the slot when the client disconnects', async () => {
    const executor = new FakeExecutor();
    const t = await start(executor, { config: { slots: 1, queue: { maxQueued: 0 } } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.server.address() as AddressInfo;
    const payload = JSON.stringify(body('hold'));
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/v1/execute',
      headers: { ...t.auth(), ...SSE, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    req.on('error', () => undefined);
    req.end(payload);
    await executor.waitHolding(1);
    const aborted = new Promise<void>((resolve) => executor.calls[0]!.signal.addEventListener('abort', () => resolve()));
    req.destroy();
    await aborted;
    // The one slot is free again: the next execution runs instead of meeting a full queue.
    const r = await post(t, body('print:next'));
    expect(r.statusCode).toBe(200);
    expect(r.json().run.stdout).toBe('next');
    // A hang-up is the client's doing: it does not count as a sandbox failure (the operator's alert).
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(metrics).not.toMatch(/^polyrun_sandbox_failures_total\{/m);
  });
});
