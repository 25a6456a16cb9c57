/**
 * A real cluster on loopback: one API node and two worker processes (`polyrun serve --role ...`, real
 * sandboxes, so root) against a redis-server of this file's own (persistent, so it can be restarted).
 * Runs in order: load, a worker SIGKILLed mid-job, Redis stopped and restarted, a graceful worker stop.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute, removeNodeDirs, startNode, until, workers, type ClusterEnv, type NodeProcess } from '../helpers/cluster.js';
import { startRedis, uniquePrefix, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let cluster: ClusterEnv;
let api: NodeProcess;
let api2: NodeProcess;
const workerNodes: NodeProcess[] = [];

const WORKER_ENV = { POLYRUN_RUNTIMES: 'python,bash', POLYRUN_SLOTS: '2' };

async function startWorker(name: string): Promise<NodeProcess> {
  const node = await startNode(cluster, 'worker', { name, env: WORKER_ENV });
  workerNodes.push(node);
  return node;
}

/** Until the API node sees exactly these workers (by node name) alive. */
const workersAre = (names: string[]) =>
  until(`workers ${names.join(', ')}`, async () => {
    const live = (await workers(api)).map((w) => w.host).sort();
    return JSON.stringify(live) === JSON.stringify([...names].sort());
  }, 120_000);

beforeAll(async () => {
  redis = await startRedis({ persist: true });
  // Short locks so that a dead worker's job is picked up in seconds, not the production 30 s. (A 5 s lock
  // was tried, to leave a loaded worker more room to renew: with it, a job in flight while Redis was
  // stopped once ended INTERNAL instead of finishing or QUEUE_UNAVAILABLE; not understood yet.)
  cluster = {
    redisUrl: redis.url,
    prefix: uniquePrefix('cluster'),
    env: { POLYRUN_REDIS_LOCK_MS: '1500' },
    // No auth in these tests: the anonymous policy must let a load test through.
    config: { anonymousPolicy: { rate: { perSecond: 100_000, burst: 100_000 }, quota: { concurrent: 1_000 } } },
  };
  [api, api2] = await Promise.all([startNode(cluster, 'api', { name: 'api-1' }), startNode(cluster, 'api', { name: 'api-2' })]);
  await Promise.all([startWorker('worker-1'), startWorker('worker-2')]);
  await workersAre(['worker-1', 'worker-2']);
  await until('the API node ready', async () => (await fetch(`${api.url}/readyz`)).ok, 60_000);
}, 240_000);

afterAll(async () => {
  await Promise.all([api, api2, ...workerNodes].filter(Boolean).map((n) => n.stop()));
  await redis?.stop();
  removeNodeDirs();
}, 120_000);

/** The client side of `ws` as this test uses it (the package ships no types). */
interface WsClient {
  on(event: 'open', listener: () => void): void;
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'close', listener: (code: number) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  send(data: string): void;
  terminate(): void;
}
const WebSocket = createRequire(import.meta.url)('ws') as new (url: string) => WsClient;

/** A WebSocket to /v1/connect whose messages can be awaited by predicate. */
async function connect(node: NodeProcess) {
  const ws = new WebSocket(`${node.url.replace('http', 'ws')}/v1/connect`);
  const messages: { type: string; [k: string]: unknown }[] = [];
  const waiters: { test: (m: (typeof messages)[number]) => boolean; resolve: (m: (typeof messages)[number]) => void }[] = [];
  const closed = new Promise<number>((resolve) => ws.on('close', resolve));
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as (typeof messages)[number];
    messages.push(m);
    for (const w of [...waiters]) if (w.test(m)) waiters.splice(waiters.indexOf(w), 1), w.resolve(m);
  });
  await new Promise<void>((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  });
  return {
    messages,
    closed,
    send: (m: unknown) => ws.send(JSON.stringify(m)),
    terminate: () => ws.terminate(),
    next: (test: (m: (typeof messages)[number]) => boolean) =>
      new Promise<(typeof messages)[number]>((resolve) => {
        const seen = messages.find(test);
        if (seen) resolve(seen);
        else waiters.push({ test, resolve });
      }),
  };
}
const stdoutHas = (text: string) => (m: { type: string; data?: unknown }) => m.type === 'stdout' && String(m.data).includes(text);

/** A mixed load: python and bash, each with an answer that names the request. */
function request(i: number): { body: unknown; expected: string } {
  switch (i % 3) {
    case 0:
      return { body: { language: 'python', files: [{ content: `print(${i} * 7)` }] }, expected: `${i * 7}\n` };
    case 1:
      return { body: { language: 'bash', files: [{ content: `echo "job $((${i} + 1000))"` }] }, expected: `job ${i + 1000}\n` };
    default:
      return { body: { language: 'python', files: [{ content: 'print(input()[::-1])' }], stdin: `abc${i}` }, expected: `${[...`abc${i}`].reverse().join('')}\n` };
  }
}

async function runAll(count: number, parallel: number): Promise<{ i: number; status: number; stdout: string; expected: string }[]> {
  const out: { i: number; status: number; stdout: string; expected: string }[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        const { body, expected } = request(i);
        const res = await execute(api, body);
        out.push({ i, status: res.status, stdout: res.body?.run?.stdout, expected });
      }
    }),
  );
  return out.sort((a, b) => a.i - b.i);
}

describe('a cluster of 1 API node and 2 workers on Redis', () => {
  it('runs 300 mixed executions, every result correct, spread over both workers', async () => {
    const before = await workers(api);
    const results = await runAll(300, 12);
    const wrong = results.filter((r) => r.status !== 200 || r.stdout !== r.expected);
    expect(wrong).toEqual([]);
    const after = await until('both workers to report their counts', async () => {
      const list = await workers(api);
      const done = list.reduce((n, w) => n + w.completed, 0) - before.reduce((n, w) => n + w.completed, 0);
      return done >= 300 ? list : undefined;
    }, 30_000);
    for (const w of after) {
      expect(w.completed).toBeGreaterThan(0);
      expect(w.slots).toBe(2);
      expect(w.runtimes.sort()).toEqual(['bash', 'python']);
    }
  }, 300_000);

  it('WebSocket: stdin travels to the worker turn by turn, output back; a client that leaves cancels the run on the worker', async () => {
    const c = await connect(api);
    c.send({ type: 'execute', language: 'python', files: [{ content: 'print("hello " + input(), flush=True)\nprint("bye " + input(), flush=True)' }] });
    c.send({ type: 'stdin', data: Buffer.from('ada\n').toString('base64') });
    await c.next(stdoutHas('hello ada'));
    c.send({ type: 'stdin', data: Buffer.from('bob\n').toString('base64') });
    await c.next(stdoutHas('bye bob'));
    const result = await c.next((m) => m.type === 'result');
    expect(result).toMatchObject({ result: { status: 'ok' } });
    await c.closed;

    // Gone mid-run: the worker's sandbox is stopped long before the program's 60 s sleep would end.
    const leaving = await connect(api);
    leaving.send({ type: 'execute', language: 'bash', files: [{ content: 'echo up; sleep 60' }], limits: { wallTimeMs: 60_000 } });
    await leaving.next(stdoutHas('up'));
    expect((await workers(api)).reduce((n, w) => n + w.busy, 0)).toBe(1);
    leaving.terminate();
    await until('the worker to be idle again', async () => (await workers(api)).every((w) => w.busy === 0), 20_000);
  }, 60_000);

  it('a runtime no worker has is refused at validation (422), not queued', async () => {
    const res = await execute(api, { language: 'ruby', files: [{ content: 'puts 1' }] });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('UNKNOWN_LANGUAGE');
  });

  it('an API node killed after admitting an async job: the job finishes, its result is read from another node', async () => {
    const res = await fetch(`${api2.url}/v1/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'bash', files: [{ content: 'sleep 0.5; echo "outlived its API node"' }] }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await api2.kill();
    const view = await (await fetch(`${api.url}/v1/executions/${id}?wait=20000`)).json();
    expect(view).toMatchObject({ id, status: 'ok', run: { stdout: 'outlived its API node\n' } });
  }, 60_000);

  it('a worker SIGKILLed mid-job: its jobs are run again by the other, flagged attempts: 2, none lost', async () => {
    const victim = workerNodes.find((n) => n.name === 'worker-1')!;
    // Four slow jobs fill both workers' two slots each.
    const jobs = [0, 1, 2, 3].map((i) => execute(api, { language: 'bash', files: [{ content: `sleep 2; echo "slow ${i}"` }] }));
    await until('all four jobs running', async () => {
      const list = await workers(api);
      return list.length === 2 && list.every((w) => w.busy === 2);
    });
    await victim.kill();
    const results = await Promise.all(jobs);
    results.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.body.run.stdout).toBe(`slow ${i}\n`);
    });
    expect(results.filter((r) => r.body.attempts === 2)).toHaveLength(2);
    expect(results.filter((r) => r.body.attempts === undefined)).toHaveLength(2);
    // The dead worker comes back (its start-up sweep removes what its sandboxes left) and takes jobs again.
    workerNodes.splice(workerNodes.indexOf(victim), 1);
    await startWorker('worker-1');
    await workersAre(['worker-1', 'worker-2']);
  }, 180_000);

  it('Redis stopped under load: clear 503 QUEUE_UNAVAILABLE and /readyz 503, then recovery by itself', async () => {
    const inflight = [0, 1, 2, 3].map((i) => execute(api, { language: 'bash', files: [{ content: `sleep 1; echo "inflight ${i}"` }] }));
    await until('a job running', async () => (await workers(api)).some((w) => w.busy > 0));
    await redis.stop(true);

    const refused = await until('a request refused while Redis is down', async () => {
      const res = await execute(api, request(1).body);
      return res.status === 503 ? res : undefined;
    });
    expect(refused.body.error.code).toBe('QUEUE_UNAVAILABLE');
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    const ready = await fetch(`${api.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(JSON.stringify(await ready.json())).toContain('Redis');

    await redis.restart();
    const back = await until('a request served again', async () => {
      const res = await execute(api, request(3).body);
      return res.status === 200 ? res : undefined;
    });
    expect(back.body.run.stdout).toBe(request(3).expected);
    await until('the API node ready again', async () => (await fetch(`${api.url}/readyz`)).ok);

    // What was in flight finished (possibly run twice) or failed with the clear code; nothing hangs.
    const settled = await Promise.all(inflight);
    settled.forEach((r, i) => {
      if (r.status === 200) expect(r.body.run.stdout).toBe(`inflight ${i}\n`);
      else expect(r.body.error.code).toBe('QUEUE_UNAVAILABLE');
    });
  }, 180_000);

  it('a worker stopped with SIGTERM finishes its running jobs first', async () => {
    const leaving = workerNodes.find((n) => n.name === 'worker-2')!;
    const jobs = [0, 1, 2, 3].map((i) => execute(api, { language: 'bash', files: [{ content: `sleep 1; echo "graceful ${i}"` }] }));
    await until('worker-2 busy', async () => (await workers(api)).some((w) => w.host === 'worker-2' && w.busy > 0));
    const code = await leaving.stop();
    expect(code).toBe(0);
    const results = await Promise.all(jobs);
    results.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.body.run.stdout).toBe(`graceful ${i}\n`);
      expect(r.body.attempts).toBeUndefined(); // finished where it started, not re-run
    });
    workerNodes.splice(workerNodes.indexOf(leaving), 1);
    await workersAre(['worker-1']);
  }, 120_000);
});
