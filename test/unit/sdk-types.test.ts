/**
 * The SDK's types come from the server's schemas: sdk/src/openapi.ts must be what the current schemas
 * generate (run `npm run sdk:generate`), and the SDK's named types must be the server's own (checked by the
 * type checker: `npm run typecheck` compiles this file). Also the SDK's wire handling that a real server
 * cannot be made to exercise on demand: SSE framing, Retry-After, and which failures are retried.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ExecuteBody } from '../../src/contract/request.js';
import type { ExecutionResult as ServerResult, StageResult as ServerStage } from '../../src/contract/result.js';
import type { UsageReport } from '../../src/pipeline/quota.js';
import { OPENAPI_TS, generateOpenApiTypes } from '../../sdk/scripts/generate.js';
import { STATUS_OF_CODE } from '../../sdk/src/errors.js';
import { ERROR_CODES } from '../../src/contract/errors.js';
import { parseRetryAfter } from '../../sdk/src/http.js';
import {
  Polyrun,
  PolyrunApiError,
  PolyrunConnectionError,
  RateLimitError,
  ServerError,
  UnavailableError,
  type ExecuteRequest,
  type ExecutionResult,
  type StageResult,
  type Usage,
} from '../../sdk/src/index.js';
import { readEventStream } from '../../sdk/src/sse.js';
import type * as Sdk from '../../sdk/src/types.js';

describe('the SDK error codes', () => {
  it('map every code to the status the server answers it with', () => {
    expect(STATUS_OF_CODE).toEqual(ERROR_CODES);
  });
});

describe('sdk/src/openapi.ts', () => {
  it('is what the server\'s current schemas generate (run npm run sdk:generate)', async () => {
    const generated = await generateOpenApiTypes();
    expect(readFileSync(OPENAPI_TS, 'utf8') === generated, 'sdk/src/openapi.ts is out of date: run npm run sdk:generate').toBe(true);
  });

  it('gives the SDK the server\'s own request and result types', () => {
    // Compile-time: these fail `tsc` when the SDK's types and the server's contract drift apart.
    expectTypeOf<ExecuteRequest>().toEqualTypeOf<ExecuteBody>();
    expectTypeOf<ExecutionResult>().toMatchTypeOf<{ id: string } & ServerResult>();
    expectTypeOf<{ id: string } & ServerResult>().toMatchTypeOf<ExecutionResult>();
    expectTypeOf<StageResult>().toMatchTypeOf<ServerStage>();
    expectTypeOf<ServerStage>().toMatchTypeOf<StageResult>();
    expectTypeOf<UsageReport>().toMatchTypeOf<Usage>();
  });

  it('has a schema for every response the SDK reads', () => {
    type Missing = Sdk.MissingSchema<string, string | number>;
    expectTypeOf<Sdk.ExecutionResult>().not.toMatchTypeOf<Missing>();
    expectTypeOf<Sdk.SubmittedExecution>().not.toMatchTypeOf<Missing>();
    expectTypeOf<Sdk.ExecutionView>().not.toMatchTypeOf<Missing>();
    expectTypeOf<Sdk.Runtime>().not.toMatchTypeOf<Missing>();
    expectTypeOf<Sdk.Usage>().not.toMatchTypeOf<Missing>();
    expectTypeOf<Sdk.Health>().not.toMatchTypeOf<Missing>();
    expectTypeOf<Sdk.Readiness>().not.toMatchTypeOf<Missing>();
    expectTypeOf<Sdk.ErrorBody>().not.toMatchTypeOf<Missing>();
  });
});

/** A ReadableStream delivering `chunks` one by one. */
function bytes(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      controller.close();
    },
  });
}

async function messages(chunks: string[]) {
  const out = [];
  for await (const m of readEventStream(bytes(chunks))) out.push(m);
  return out;
}

describe('SSE reader', () => {
  it('reads frames split anywhere, with LF, CRLF or CR line ends, comments and multi-line data', async () => {
    const text = 'event: stage\ndata: {"a":1}\n\n: a comment\r\nevent:stdout\r\ndata: x\r\ndata: y\r\n\r\ndata: plain\r\rid: 7\nevent: exit\ndata: é\n\n';
    const expected = [
      { event: 'stage', data: '{"a":1}' },
      { event: 'stdout', data: 'x\ny' },
      { event: 'message', data: 'plain' },
      { event: 'exit', data: 'é', id: '7' },
    ];
    expect(await messages([text])).toEqual(expected);
    // One byte at a time: CRLF split across chunks, a UTF-8 character split across chunks.
    const encoded = new TextEncoder().encode(text);
    const oneByOne = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const b of encoded) controller.enqueue(new Uint8Array([b]));
        controller.close();
      },
    });
    const out = [];
    for await (const m of readEventStream(oneByOne)) out.push(m);
    expect(out).toEqual(expected);
  });

  it('drops a frame the stream broke off in the middle of', async () => {
    expect(await messages(['event: stage\ndata: {}\n\nevent: result\ndata: {"type"'])).toEqual([{ event: 'stage', data: '{}' }]);
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
  });
});

type Answer = Response | Error;

/** A fetch double answering from a script, recording what was asked. */
function scripted(answers: (() => Answer)[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    calls.push({ url, init });
    const next = answers.shift();
    if (!next) throw new Error('unexpected request');
    const answer = next();
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { fetch, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const apiError = (status: number, code: string, headers: Record<string, string> = {}) =>
  json(status, { error: { code, message: `${code} happened` } }, headers);
const result = { id: 'x', language: 'python', version: '3', status: 'ok', compile: null, run: null };
const request = { language: 'python', files: [{ content: 'print(1)' }] };

describe('retries (fetch double)', () => {
  it('retries a POST after 429 and 503, with the Retry-After the server sent', async () => {
    const s = scripted([apiError(429, 'RATE_LIMITED', { 'retry-after': '0' }), apiError(503, 'QUEUE_FULL', { 'retry-after': '0' }), json(200, result)]);
    const client = new Polyrun({ baseUrl: 'http://polyrun.test/', apiKey: 'k', fetch: s.fetch });
    expect(await client.execute(request)).toEqual(result);
    expect(s.calls.map((c) => c.url)).toEqual(Array(3).fill('http://polyrun.test/v1/execute'));
    expect(new Headers(s.calls[0]!.init.headers).get('authorization')).toBe('Bearer k');
  });

  it('stops after `retries` and throws the last error, typed, with retryAfter', async () => {
    const s = scripted([apiError(429, 'RATE_LIMITED', { 'retry-after': '0' }), apiError(429, 'QUOTA_EXCEEDED', { 'retry-after': '0', 'x-request-id': 'r1' })]);
    const client = new Polyrun({ baseUrl: 'http://polyrun.test', fetch: s.fetch, retries: 1 });
    const err = await client.execute(request).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err).toMatchObject({ status: 429, code: 'QUOTA_EXCEEDED', retryAfter: 0, requestId: 'r1' });
  });

  it('does not wait longer than maxRetryDelayMs (a daily quota)', async () => {
    const s = scripted([apiError(429, 'QUOTA_EXCEEDED', { 'retry-after': '3600' })]);
    const client = new Polyrun({ baseUrl: 'http://polyrun.test', fetch: s.fetch });
    await expect(client.execute(request)).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED', retryAfter: 3600 });
    expect(s.calls).toHaveLength(1);
  });

  it('does not retry a POST on other statuses or a failed connection; does retry a GET', async () => {
    const post = scripted([apiError(502, 'BAD_GATEWAY'), () => new TypeError('fetch failed')]);
    const client = new Polyrun({ baseUrl: 'http://polyrun.test', fetch: post.fetch });
    await expect(client.execute(request)).rejects.toBeInstanceOf(ServerError);
    await expect(client.submit(request)).rejects.toBeInstanceOf(PolyrunConnectionError);
    expect(post.calls).toHaveLength(2);

    // A GET is sent again after a failed connection (a backoff of 0.5 s) and a 502 (its Retry-After).
    const get = scripted([() => new TypeError('fetch failed'), apiError(502, 'BAD_GATEWAY', { 'retry-after': '0' }), json(200, { status: 'ok' })]);
    const reader = new Polyrun({ baseUrl: 'http://polyrun.test', fetch: get.fetch });
    expect(await reader.health()).toEqual({ status: 'ok' });
    expect(get.calls).toHaveLength(3);
  });

  it('never sends a stream again once it has started', async () => {
    const started = () =>
      new Response(bytes(['event: stage\ndata: {"type":"stage","stage":"run"}\n\n', 'event: error\ndata: {"error":{"code":"QUEUE_TIMEOUT","message":"late"}}\n\n']), {
        status: 200,
        headers: { 'content-type': 'text/event-stream; charset=utf-8' },
      });
    const s = scripted([apiError(503, 'QUEUE_FULL', { 'retry-after': '0' }), started]);
    const client = new Polyrun({ baseUrl: 'http://polyrun.test', fetch: s.fetch });
    const seen: string[] = [];
    const err = await (async () => {
      for await (const event of client.stream(request)) seen.push(event.type);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(['stage']);
    // The error event carries no HTTP status: it gets the status its code has.
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err).toMatchObject({ status: 503, code: 'QUEUE_TIMEOUT', message: 'late' });
    expect(s.calls).toHaveLength(2);
    expect(new Headers(s.calls[1]!.init.headers).get('accept')).toBe('text/event-stream');
  });

  it('makes a non-JSON error answer an error with the status', async () => {
    const s = scripted([() => new Response('<html>bad gateway</html>', { status: 418, statusText: 'Teapot' })]);
    const client = new Polyrun({ baseUrl: 'http://polyrun.test', fetch: s.fetch });
    const err = await client.execute(request).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolyrunApiError);
    expect(err).toMatchObject({ status: 418, code: 'HTTP_418' });
  });
});
