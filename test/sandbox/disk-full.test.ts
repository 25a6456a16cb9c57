/**
 * A full data disk, for real: the data dir is a 2 MiB tmpfs this test mounts (and removes). Async
 * executions with large outputs fill it; nothing may exit or be lost quietly: callers still get their
 * results, results that could not be stored read back as STORAGE_FULL, /readyz and /metrics say so, the
 * service recovers by itself when the disk has room, and a restart on the full disk names the file.
 * Needs root (mount); no sandbox (a fake executor produces the outputs).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResultStore } from '../../src/store/results.js';
import { FakeExecutor } from '../helpers/fake-executor.js';
import { body, makeTestApp, type TestApp } from '../helpers/app.js';

const mount = mkdtempSync(join(tmpdir(), 'polyrun-full-'));
const filler = join(mount, 'filler');
let t: TestApp;

beforeAll(async () => {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mount]);
  t = await makeTestApp(new FakeExecutor(), {
    dataDir: mount,
    config: { results: { maxEntries: 5 }, defaultPolicy: { rate: { perSecond: 1000, burst: 1000 } } },
  });
  // Most of the disk taken by something else; freeing it later is the operator making room.
  writeFileSync(filler, Buffer.alloc(1024 * 1024));
});

afterAll(async () => {
  await t?.cleanup();
  execFileSync('umount', ['-l', mount]);
  rmSync(mount, { recursive: true, force: true });
});

const OUTPUT = 'x'.repeat(60 * 1024);

async function runAsync(): Promise<{ id: string; view: Record<string, unknown> }> {
  const accepted = await t.app.inject({ method: 'POST', url: '/v1/executions', headers: t.auth(), payload: body(`print:${OUTPUT}`) });
  expect(accepted.statusCode).toBe(202);
  const { id } = accepted.json();
  const view = (await t.app.inject({ url: `/v1/executions/${id}?wait=10000`, headers: t.auth() })).json();
  return { id, view };
}

async function storeFailures(): Promise<number> {
  const metrics = (await t.app.inject({ url: '/metrics' })).body;
  return Number(/^polyrun_store_write_failures_total\{store="results"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
}

describe('a full data disk', () => {
  it('keeps serving: results reach their callers, unstored ones read back as STORAGE_FULL, readiness says degraded', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40 && (await storeFailures()) < 3; i++) {
      const { id, view } = await runAsync();
      ids.push(id);
      // The caller waiting for it gets the whole result, stored or not.
      expect(view).toMatchObject({ id, status: 'ok', run: { stdout: OUTPUT } });
    }
    expect(await storeFailures()).toBeGreaterThanOrEqual(3);
    // Enough more that the unstored ones leave memory (results.maxEntries is 5).
    for (let i = 0; i < 6; i++) {
      const { id, view } = await runAsync();
      ids.push(id);
      expect(view).toMatchObject({ id, status: 'ok', run: { stdout: OUTPUT } });
    }

    const ready = await t.app.inject({ url: '/readyz' });
    expect(ready.json()).toMatchObject({ status: 'degraded' });
    expect(JSON.stringify(ready.json())).toMatch(/results/);

    // Older results have left memory: each reads back as what the disk holds, or as a clear error.
    const codes = new Set<string>();
    for (const id of ids.slice(0, -5)) {
      const r = await t.app.inject({ url: `/v1/executions/${id}`, headers: t.auth() });
      if (r.statusCode === 404) continue; // pruned by results.maxEntries, as on any disk
      const view = r.json();
      codes.add(view.status === 'error' ? view.error.code : view.status);
    }
    expect(codes).toContain('STORAGE_FULL');
    for (const code of codes) expect(['ok', 'STORAGE_FULL']).toContain(code);
  });

  it('recovers by itself once the disk has room', async () => {
    unlinkSync(filler);
    const { view } = await runAsync();
    expect(view).toMatchObject({ status: 'ok' });
    const ready = await t.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().status).toBe('ready');
    // Usage recorded while the disk was full was kept and is counted.
    const usage = (await t.app.inject({ url: '/v1/usage', headers: t.auth() })).json();
    expect(usage.executions.used).toBeGreaterThanOrEqual(4);
  });

  it('a restart on a full disk names the file it cannot write', () => {
    writeFileSync(join(mount, 'filler2'), Buffer.alloc(0));
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${join(mount, 'filler2')}`, 'bs=64k'], { stdio: 'ignore' });
    } catch {
      // dd stops at ENOSPC: the disk is now full to the last block
    }
    const path = join(mount, 'fresh.sqlite');
    expect(() => new ResultStore({ ttlMs: 1000, maxEntries: 10, path })).toThrow(`cannot open ${path}`);
  });
});
