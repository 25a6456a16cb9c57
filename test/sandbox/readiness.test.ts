/**
 * Readiness comes from a real sandbox start, not from the self-test cache. The operator's case: a
 * runtimes-cache.json from a good run is present, and the OCI runtime answers `--version` but fails every
 * container it is asked to run. Detection trusts the cache (the runtimes are listed), yet /readyz must be
 * 503 NOT_READY, every execution is internal_error with a reference and no host path (the detail is in the
 * log under the same reference), and once the runtime works again the service becomes ready by itself. A
 * runtime that breaks after boot makes the service not ready again at the next failed execution.
 */
import { chmodSync, existsSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { PolyrunConfig } from '../../src/config/schema.js';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { chooseOciRuntime, hostFacts } from '../../src/sandbox/backends/choose.js';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.js';

const LANGUAGES = ['bash', 'python'];
const root = tempDir('polyrun-readiness-');
chmodSync(root, 0o711); // the sandbox's mapped uids traverse it to the prepared root in the state dir
const stateDir = join(root, 'state');
const dataDir = join(root, 'data');
const binDir = join(root, 'bin');
const fakeRuntime = join(binDir, 'fake-runc');
const fixedFlag = join(binDir, 'fixed');
const config = loadConfig([]).config;

/**
 * Answers `--version` like runc. Every other command fails with a message naming host paths (its own,
 * its state root, the bundle), as runc's own errors do, unless `fixed` exists: then it is the real runtime.
 */
function writeFakeRuntime(): void {
  mkdirSync(binDir, { recursive: true });
  writeFileSync(
    fakeRuntime,
    [
      '#!/bin/bash',
      'if [ "$1" = "--version" ]; then printf "runc version 1.1.5\\nspec: 1.0.2-dev\\n"; exit 0; fi',
      `if [ -e ${JSON.stringify(fixedFlag)} ]; then exec ${JSON.stringify(chooseOciRuntime(config.sandbox.ociRuntime, hostFacts()).runtime)} "$@"; fi`,
      // Like runc's own errors: host paths (its binary, its state root, the bundle).
      'echo "$0: container_linux.go:380: exec: \\"/usr/sbin/runc\\" (root $2, bundle $5): permission denied" >&2',
      'exit 1',
      '',
    ].join('\n'),
  );
  chmodSync(fakeRuntime, 0o755);
}

type LogLine = { level: string; msg: string; fields?: Record<string, unknown> };
const logs: LogLine[] = [];
let healthy: SandboxExecutor | undefined;
let broken: SandboxExecutor | undefined;
let healthyApp: TestApp | undefined;
let app: TestApp;

/** No host path of this machine: the fake runtime, the temp dirs, /usr, /run. */
const HOST_PATH = /\/(usr|run|tmp|var|etc|root|home)\b/;

beforeAll(async () => {
  // A real detection with the real runtime writes the cache the broken start will trust.
  healthy = await createExecutor({ config: { ...config, dataDir }, stateDir, languages: LANGUAGES, freshDetection: false });
  expect(existsSync(join(dataDir, 'runtimes-cache.json'))).toBe(true);
  healthyApp = await makeTestApp(healthy, { closeExecutor: false });

  writeFakeRuntime();
  // The broken runtime is an OCI one: this executor runs on the oci backend whatever the default is.
  const brokenConfig: PolyrunConfig = { ...config, dataDir, sandbox: { ...config.sandbox, backend: 'oci', ociRuntime: fakeRuntime } };
  broken = await createExecutor({
    config: brokenConfig,
    stateDir,
    languages: LANGUAGES,
    reprobe: { minMs: 200, maxMs: 1000 },
    log: (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }),
  });
  app = await makeTestApp(broken, { closeExecutor: false, config: { defaultPolicy: { rate: { perSecond: 1000, burst: 1000 } } } });
}, 60_000);

afterAll(async () => {
  await healthyApp?.cleanup();
  await app?.cleanup();
  await healthy?.close();
  await broken?.close();
  rmSync(root, { recursive: true, force: true });
});

function execute(t: TestApp, content = 'echo hi') {
  return t.app.inject({ method: 'POST', url: '/v1/execute', headers: t.auth(), payload: { language: 'bash', files: [{ content }] } });
}

async function readyz(t: TestApp) {
  const r = await t.app.inject({ url: '/readyz' });
  return { status: r.statusCode, json: r.json() };
}

async function waitReady(t: TestApp, status: number, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  let last = await readyz(t);
  while (last.status !== status && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    last = await readyz(t);
  }
  return last;
}

describe('readiness proves that sandboxes start', () => {
  it('a healthy executor is ready', async () => {
    const r = await readyz(healthyApp!);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: 'ready', runtimes: LANGUAGES.length });
  });

  it('with the cache present and a runtime that fails every run, runtimes are listed but /readyz is 503 NOT_READY', async () => {
    expect(broken!.runtimes().map((r) => r.name).sort()).toEqual([...LANGUAGES].sort());
    const r = await readyz(app);
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe('NOT_READY');
    expect(JSON.stringify(r.json)).not.toMatch(HOST_PATH);
    expect(JSON.stringify(r.json)).not.toContain(root);
    // The operator's log has the cause, with the runtime's own message.
    expect(logs.some((l) => l.level === 'error' && JSON.stringify(l).includes('permission denied'))).toBe(true);
  });

  it('an execution is internal_error with a reference and no host path; the log has the detail under that reference', async () => {
    const r = await execute(app);
    expect(r.statusCode).toBe(200);
    const result = r.json();
    expect(result.status).toBe('internal_error');
    const text = JSON.stringify(result);
    expect(text).not.toContain(root);
    expect(text).not.toContain(fakeRuntime);
    expect(text).not.toMatch(HOST_PATH);
    expect(result.run.stderr).toContain(`reference ${result.id}`);
    const line = logs.find((l) => l.msg === 'sandbox failure' && l.fields?.reference === result.id);
    expect(line).toBeDefined();
    expect(String(line!.fields!.error)).toContain(fakeRuntime);
  });

  it('becomes ready by itself once the runtime works again, and not ready when it breaks after that', async () => {
    writeFileSync(fixedFlag, '');
    const ready = await waitReady(app, 200);
    expect(ready).toEqual({ status: 200, json: { status: 'ready', runtimes: LANGUAGES.length } });
    const ok = await execute(app, 'echo back');
    expect(ok.json()).toMatchObject({ status: 'ok', run: { stdout: 'back\n' } });

    unlinkSync(fixedFlag);
    const failed = await execute(app);
    expect(failed.json().status).toBe('internal_error');
    const notReady = await waitReady(app, 503);
    expect(notReady.status).toBe(503);
    expect(notReady.json.error.code).toBe('NOT_READY');
  }, 30_000);
});
