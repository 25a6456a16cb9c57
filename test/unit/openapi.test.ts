/**
 * /openapi.json covers every route: each operation has a 2xx response with a schema, errors have theirs,
 * and the streaming answer of POST /v1/execute is described. (The SDK's types are generated from this
 * document; test/unit/sdk-types.test.ts checks they are current.)
 */
import { describe, expect, it } from 'vitest';
import { FakeExecutor } from '../helpers/fake-executor.js';
import { appsCleanedAfterEach } from '../helpers/app.js';

type Operation = { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> };

describe('the OpenAPI document', () => {
  const start = appsCleanedAfterEach();

  it('describes a response schema for every route and method', async () => {
    const t = await start(new FakeExecutor());
    await t.app.ready();
    const doc = t.app.swagger() as { paths: Record<string, Record<string, Operation>> };
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })),
    );
    expect(operations.map((o) => o.name)).toEqual(
      expect.arrayContaining(['POST /v1/execute', 'POST /v1/executions', 'GET /v1/executions/{id}', 'GET /v1/runtimes', 'GET /v1/usage', 'GET /api/v2/runtimes', 'POST /api/v2/execute', 'GET /v1/connect', 'GET /api/v2/connect', 'GET /healthz', 'GET /readyz', 'GET /metrics']),
    );
    // The WebSocket routes answer 101 Switching Protocols, never a 2xx: their 101 response stands for it.
    const WEBSOCKET_ROUTES = new Set(['GET /v1/connect', 'GET /api/v2/connect', 'GET /v1/sessions/{id}/connect']);
    for (const { name, op } of operations) {
      const success = Object.entries(op.responses ?? {}).filter(
        ([code]) => /^2\d\d$/.test(code) || (WEBSOCKET_ROUTES.has(name) && code === '101'),
      );
      expect(success.length, `${name} has a 2xx response`).toBeGreaterThan(0);
      for (const [code, response] of success) {
        const media = Object.values(response.content ?? {});
        expect(media.length, `${name} ${code} has content`).toBeGreaterThan(0);
        for (const m of media) expect(m.schema, `${name} ${code} has a schema`).toBeDefined();
      }
    }
    const execute = doc.paths['/v1/execute']!.post!.responses!['200']!.content!;
    expect(Object.keys(execute).sort()).toEqual(['application/json', 'text/event-stream']);
    expect(JSON.stringify(execute['text/event-stream'])).toMatch(/event: stage\|stdout\|stderr\|exit/);
    expect(doc.paths['/v1/execute']!.post!.responses!['4XX'] ?? doc.paths['/v1/execute']!.post!.responses!['4xx']).toBeDefined();
  });
});
