/**
 * /readyz with a fake executor: ready only when the executor says sandboxes start and a runtime is
 * available; draining comes first. And the runner's side of a sandbox failure in the middle of a stage
 * (no root needed: a stand-in sandbox): the tenant gets a notice with a reference, the log the detail.
 * The real case (a broken OCI runtime) is test/sandbox/readiness.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { ExecutionEvent } from '../../src/contract/events.js';
import type { ExecutionJob } from '../../src/contract/job.js';
import { DEFAULT_PROFILE } from '../../src/contract/profile.js';
import { LocalJobContext } from '../../src/executor/local-context.js';
import { ExecutionRunner } from '../../src/executor/runner.js';
import { DEFAULT_BOUNDS, DEFAULT_LIMITS, MAX_LIMITS } from '../../src/limits/limits.js';
import { RuntimeCatalogue } from '../../src/runtimes/catalogue.js';
import { loadManifests } from '../../src/runtimes/registry.js';
import type { SandboxHost } from '../../src/sandbox/host.js';
import type { SandboxPool } from '../../src/sandbox/pool.js';
import type { RunningStage, StageOptions, StageOutcome } from '../../src/sandbox/sandbox.js';
import { FakeExecutor } from '../helpers/fake-executor.js';
import { appsCleanedAfterEach } from '../helpers/app.js';

const start = appsCleanedAfterEach();

describe('/readyz', () => {
  it('is 503 NOT_READY with the executor detail while sandboxes do not start, 200 again once they do', async () => {
    const executor = new FakeExecutor();
    const t = await start(executor);
    expect((await t.app.inject({ url: '/readyz' })).json()).toEqual({ status: 'ready', runtimes: 3 });

    executor.setHealth(false, 'sandboxes do not start (reference readiness-1234); the log has the details');
    const notReady = await t.app.inject({ url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json().error).toMatchObject({ code: 'NOT_READY', message: expect.stringContaining('readiness-1234') });
    // Liveness is not readiness: the process is fine.
    expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200);

    executor.setHealth(true);
    expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });

  it('is 503 NOT_READY when sandboxes start but no runtime is available', async () => {
    const t = await start(new FakeExecutor([]));
    const r = await t.app.inject({ url: '/readyz' });
    expect(r.statusCode).toBe(503);
    expect(r.json().error.code).toBe('NOT_READY');
  });

  it('says SHUTTING_DOWN while draining, before anything else', async () => {
    const executor = new FakeExecutor();
    executor.setHealth(false);
    const t = await start(executor);
    const stopping = t.app.polyrun.shutdown(1_000);
    const r = await t.app.inject({ url: '/readyz' });
    expect(r.statusCode).toBe(503);
    expect(r.json().error.code).toBe('SHUTTING_DOWN');
    await stopping;
  });
});

describe('a sandbox failure during a stage', () => {
  it('gives the tenant a notice with the job id as reference; the host paths go only to the log', async () => {
    const detail = 'sandbox ended unexpectedly: /usr/sbin/runc: container_linux.go: /run/polyrun/instances/1-abc/runc: broken';
    const outcome: StageOutcome = {
      exitCode: null,
      signal: 'SIGKILL',
      stdout: Buffer.alloc(0),
      stderr: Buffer.from('partial\n'),
      output: Buffer.from('partial\n'),
      stdoutTruncated: false,
      stderrTruncated: false,
      cpuTimeMs: 1,
      wallTimeMs: 2,
      memoryBytes: 3,
      killedFor: null,
      oomKilled: false,
      sandboxError: detail,
    };
    const stage: RunningStage = {
      write: () => false,
      endInput: () => undefined,
      sendSignal: () => undefined,
      inputOverflowed: false,
      done: Promise.resolve(outcome),
    };
    const sandbox = {
      putFiles: async () => undefined,
      startStage: (_cmd: unknown, options: StageOptions) => {
        options.onOutput?.('stderr', outcome.stderr);
        return stage;
      },
      destroy: async () => undefined,
    };
    const pool = { take: () => sandbox, executionFinished: () => undefined } as unknown as SandboxPool;
    const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
    let failures = 0;
    const manifest = (await loadManifests()).find((m) => m.name === 'bash')!;
    const runner = new ExecutionRunner({
      host: {} as SandboxHost,
      catalogue: new RuntimeCatalogue([manifest], DEFAULT_LIMITS, MAX_LIMITS),
      bounds: DEFAULT_BOUNDS,
      pool,
      log: (_level, msg, fields) => logs.push({ msg, ...(fields ? { fields } : {}) }),
      track: () => undefined,
      onSandboxFailure: () => failures++,
    });
    const job: ExecutionJob = {
      id: 'exec-42',
      tenantId: 't',
      runtime: { name: 'bash', version: '5.2.15' },
      files: [{ name: 'main.sh', content: Buffer.from('echo hi').toString('base64') }],
      stdin: '',
      interactive: false,
      args: [],
      limits: DEFAULT_LIMITS,
      cacheScope: 'default',
      profile: DEFAULT_PROFILE,
    };
    const events: ExecutionEvent[] = [];
    const result = await runner.runManifest(manifest, job, new LocalJobContext(undefined, (e) => events.push(e)));

    expect(result.status).toBe('internal_error');
    expect(result.run!.stderr).toMatch(/^partial\npolyrun: the sandbox failed \(reference exec-42\)/);
    expect(JSON.stringify(result)).not.toMatch(/\/(usr|run)\b/);
    // The stream says the same as the result.
    const streamed = events.filter((e) => e.type === 'stderr').map((e) => (e as { data: string }).data).join('');
    expect(streamed).toBe(result.run!.stderr);
    expect(logs).toEqual([{ msg: 'sandbox failure', fields: { reference: 'exec-42', language: 'bash', stage: 'run', error: detail } }]);
    expect(failures).toBe(1);
  });
});
