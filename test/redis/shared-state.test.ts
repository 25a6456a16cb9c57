/**
 * Two API nodes and one worker on one Redis: a tenant's rate limit and quotas hold across the nodes (it
 * gains nothing by spreading requests), a stream's events travel from the worker to the node that holds
 * the client, and an async result is readable from the other node.
 *
 * One anonymous tenant (no auth), so every request below counts against its rate limit: the test counts
 * them, and waits on a streamed event rather than polling an endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute, removeNodeDirs, startNode, until, type ClusterEnv, type NodeProcess } from '../helpers/cluster.js';
import { startRedis, uniquePrefix, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let a: NodeProcess;
let b: NodeProcess;
let worker: NodeProcess;

const BURST = 10;

beforeAll(async () => {
  redis = await startRedis();
  const cluster: ClusterEnv = {
    redisUrl: redis.url,
    prefix: uniquePrefix('shared'),
    config: {
      anonymousPolicy: {
        rate: { perSecond: 0.001, burst: BURST }, // BURST requests, then nothing for hours
        quota: { concurrent: 1, executionsPerDay: 5 },
      },
    },
  };
  worker = await startNode(cluster, 'worker', { name: 'worker-s', env: { POLYRUN_RUNTIMES: 'bash', POLYRUN_SLOTS: '2' } });
  [a, b] = await Promise.all([startNode(cluster, 'api', { name: 'api-a' }), startNode(cluster, 'api', { name: 'api-b' })]);
  // /readyz is public: it costs no rate-limit token.
  await until('both API nodes ready', async () => (await fetch(`${a.url}/readyz`)).ok && (await fetch(`${b.url}/readyz`)).ok, 120_000);
}, 240_000);

afterAll(async () => {
  await Promise.all([a, b, worker].filter(Boolean).map((n) => n.stop()));
  await redis?.stop();
  removeNodeDirs();
}, 120_000);

/** POST /v1/execute as SSE; resolves with the reader once the first chunk of output arrived. */
async function streamUntilOutput(node: NodeProcess, script: string) {
  const res = await fetch(`${node.url}/v1/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ language: 'bash', files: [{ content: script }] }),
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes('"stdout"')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  return {
    text,
    async rest(): Promise<string> {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += new TextDecoder().decode(value);
      }
    },
  };
}

describe('shared state across two API nodes', () => {
  let requests = 0;

  it('concurrency quota: a run on node A holds the slot for node B too; events stream from the worker', async () => {
    requests++;
    const running = await streamUntilOutput(a, 'echo first; sleep 5; echo second');
    requests++;
    const refused = await execute(b, { language: 'bash', files: [{ content: 'echo no' }] });
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'QUOTA_EXCEEDED', details: { quota: 'concurrent' } });
    const all = await running.rest();
    expect(all).toContain('first');
    expect(all).toContain('second');
    expect(all).toContain('"type":"result"');
  });

  it('an async result started on node A is read (long-polled) on node B', async () => {
    requests++;
    const res = await fetch(`${a.url}/v1/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'bash', files: [{ content: 'sleep 0.5; echo async' }] }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    requests++;
    const view = await (await fetch(`${b.url}/v1/executions/${id}?wait=20000`)).json();
    expect(view).toMatchObject({ id, status: 'ok', run: { stdout: 'async\n' } });
  });

  it('daily executions quota: counted over both nodes', async () => {
    // 2 ran above (the refused one was given back); 3 more reach the limit of 5, alternating nodes.
    for (const node of [b, a, b]) {
      requests++;
      const ok = await execute(node, { language: 'bash', files: [{ content: 'echo hi' }] });
      expect(ok.status).toBe(200);
    }
    requests++;
    const over = await execute(a, { language: 'bash', files: [{ content: 'echo over' }] });
    expect(over.status).toBe(429);
    expect(over.body.error).toMatchObject({ code: 'QUOTA_EXCEEDED', details: { quota: 'executionsPerDay', limit: 5, used: 5 } });
    requests++;
    const usage = await (await fetch(`${b.url}/v1/usage`)).json();
    expect(usage).toMatchObject({ executions: { used: 5, limit: 5 }, concurrent: { used: 0, limit: 1 } });
  });

  it(`rate limit: ${BURST} requests in all, whichever node they reach`, async () => {
    const statuses: number[] = [];
    for (let i = requests; i < BURST + 2; i++) statuses.push((await fetch(`${i % 2 ? a.url : b.url}/v1/runtimes`)).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(BURST - requests);
    expect(statuses.slice(-2)).toEqual([429, 429]);
    const limited = await fetch(`${a.url}/v1/runtimes`);
    expect(limited.status).toBe(429);
    expect((await limited.json()).error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
