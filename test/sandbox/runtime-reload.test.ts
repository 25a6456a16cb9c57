/**
 * A runtime installed while the service runs is served without a restart (SandboxExecutor.reloadRuntimes,
 * what `polyrun install` triggers with SIGHUP), including a runtime whose manifest mounts a host path that did
 * not exist at start. The "toolchain" here is a file in a fresh directory under /run: absent at start, then
 * created, then removed again, as an install and an uninstall would.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createExecutor } from '../../src/executor/executor.js';
import { defaultManifestDir } from '../../src/runtimes/registry.js';

type Executor = Awaited<ReturnType<typeof createExecutor>>;

const toolDir = `/run/polyrun-reload-test-${process.pid}`;
let executor: Executor;
let stateDir: string;
let manifestsDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'polyrun-reload-test-'));
  manifestsDir = join(stateDir, 'manifests');
  await mkdir(manifestsDir);
  // bash as shipped, and "toy": bash running a program that needs the mounted toolDir.
  await writeFile(join(manifestsDir, 'bash.json'), await readFile(join(defaultManifestDir(), 'bash.json')));
  const toy = {
    name: 'toy',
    aliases: [],
    extensions: ['.toy'],
    core: false,
    onDemand: true,
    packages: {},
    version: { argv: ['/usr/bin/cat', `${toolDir}/VERSION`], pattern: '(\\d+\\.\\d+)' },
    run: { argv: ['/usr/bin/bash', `${toolDir}/toy.sh`, '{entry}'] },
    mounts: [toolDir],
    selfTest: { files: [{ name: 'main.toy', content: 'polyrun self-test ok' }], expectStdout: 'polyrun self-test ok\n' },
  };
  await writeFile(join(manifestsDir, 'toy.json'), JSON.stringify(toy));
  executor = await createExecutor({ stateDir, dataDir: join(stateDir, 'data'), manifestsDir, freshDetection: true });
}, 120_000);

afterAll(async () => {
  await executor?.close();
  await rm(toolDir, { recursive: true, force: true });
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

test('installed while serving: detected, mounted and run after a reload; gone after the next', async () => {
  expect(executor.runtimes().map((r) => r.name)).toEqual(['bash']);
  expect(executor.unavailable.map((u) => u.name)).toEqual(['toy']);

  // "apt-get install toy": the mount's directory appears with the tool in it.
  await mkdir(toolDir, { mode: 0o755 });
  await writeFile(join(toolDir, 'VERSION'), '1.2\n');
  await writeFile(join(toolDir, 'toy.sh'), 'cat "$1"; echo\n', { mode: 0o644 });
  const installed = await executor.reloadRuntimes();
  expect(installed).toMatchObject({ added: ['toy@1.2'], removed: [], mounts: [toolDir], unavailable: [] });
  const r = await executor.execute({ language: 'toy', files: [{ content: Buffer.from('toy runs') }] });
  expect(r).toMatchObject({ status: 'ok', language: 'toy', version: '1.2', run: { stdout: 'toy runs\n' } });

  // "apt-get remove toy".
  await rm(join(toolDir, 'VERSION'));
  const removed = await executor.reloadRuntimes();
  expect(removed).toMatchObject({ added: [], removed: ['toy@1.2'], mounts: [] });
  expect(executor.findRuntime('toy')).toBeUndefined();
}, 120_000);
