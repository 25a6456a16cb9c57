import { mkdtemp, rm, utimes, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { detectRuntimes, type SelfTest } from '../../src/runtimes/detect.js';
import type { RuntimeManifest } from '../../src/runtimes/manifest.js';

let dir: string;
let binary: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polyrun-detect-test-'));
  // Stands in for a toolchain binary: the cache key includes its mtime.
  binary = join(dir, 'toolchain');
  await writeFile(binary, '');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function manifest(name: string, extra: Partial<RuntimeManifest> = {}): RuntimeManifest {
  return {
    name,
    aliases: [],
    extensions: [`.${name}`],
    core: false,
    packages: {},
    version: { argv: [binary, '--version'], pattern: '(.*)' },
    run: { argv: ['/usr/bin/true'] },
    selfTest: { files: [{ name: `main.${name}`, content: '' }], expectStdout: '' },
    ...extra,
  };
}

/** A self-test that records its calls and the most that ran at once. */
function recordingSelfTest(fail: string[] = []): SelfTest & { calls: string[]; peak: number } {
  let running = 0;
  const fn = Object.assign(
    async (m: RuntimeManifest, version: string) => {
      fn.calls.push(`${m.name}@${version}`);
      running++;
      fn.peak = Math.max(fn.peak, running);
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      running--;
      if (m.name === 'throws') throw new Error('sandbox exploded');
      return fail.includes(m.name) ? { ok: false, detail: 'printed nothing' } : { ok: true, detail: 'ok' };
    },
    { calls: [] as string[], peak: 0 },
  );
  return fn;
}

const versions: Record<string, string | null> = { a: '1.0', b: '2.0', c: '3.0', d: '4.0', e: '5.0', gone: null, bad: '1', throws: '1' };
const probe = async (m: RuntimeManifest) => versions[m.name] ?? null;

describe('detectRuntimes', () => {
  test('lists only runtimes with a version and a passing self-test, in manifest order, with reasons', async () => {
    const selfTest = recordingSelfTest(['bad']);
    const result = await detectRuntimes({
      manifests: ['a', 'gone', 'bad', 'throws', 'b'].map((n) => manifest(n)),
      selfTest,
      probe,
    });
    expect(result.available.map((r) => `${r.manifest.name} ${r.version}`)).toEqual(['a 1.0', 'b 2.0']);
    expect(result.unavailable).toEqual([
      { name: 'gone', reason: expect.stringContaining('did not report a version') },
      { name: 'bad', reason: 'self-test failed: printed nothing' },
      { name: 'throws', reason: expect.stringContaining('sandbox exploded') },
    ]);
    expect(selfTest.calls).not.toContain('gone@null');
  });

  test('runs at most two self-tests at once', async () => {
    const selfTest = recordingSelfTest();
    await detectRuntimes({ manifests: ['a', 'b', 'c', 'd', 'e'].map((n) => manifest(n)), selfTest, probe });
    expect(selfTest.calls).toHaveLength(5);
    expect(selfTest.peak).toBe(2);
  });

  test('the default probe runs the version argv on the host', async () => {
    const m = manifest('host', { version: { argv: ['/usr/bin/bash', '-c', 'echo 9.8.7'], pattern: '(\\d+\\.\\d+\\.\\d+)' } });
    const result = await detectRuntimes({ manifests: [m], selfTest: recordingSelfTest() });
    expect(result.available.map((r) => r.version)).toEqual(['9.8.7']);
  });
});

describe('the self-test cache', () => {
  test('a restart with nothing changed skips the self-tests; failures are never cached', async () => {
    const cacheFile = join(dir, 'unchanged', 'cache.json');
    const manifests = [manifest('a'), manifest('bad')];
    const first = recordingSelfTest(['bad']);
    await detectRuntimes({ manifests, selfTest: first, probe, cacheFile });
    expect(first.calls).toEqual(['a@1.0', 'bad@1']);

    const second = recordingSelfTest(['bad']);
    const result = await detectRuntimes({ manifests, selfTest: second, probe, cacheFile });
    expect(second.calls).toEqual(['bad@1']);
    expect(result.available.map((r) => r.manifest.name)).toEqual(['a']);
    expect(result.unavailable.map((r) => r.name)).toEqual(['bad']);
  });

  test('a changed manifest, version or toolchain binary is tested again', async () => {
    const cacheFile = join(dir, 'changes.json');
    const run = async (m: RuntimeManifest, version = '1.0') => {
      const selfTest = recordingSelfTest();
      await detectRuntimes({ manifests: [m], selfTest, probe: async () => version, cacheFile });
      return selfTest.calls.length;
    };
    expect(await run(manifest('a'))).toBe(1);
    expect(await run(manifest('a'))).toBe(0);
    expect(await run(manifest('a', { env: { X: '1' } }))).toBe(1);
    expect(await run(manifest('a', { env: { X: '1' } }), '1.1')).toBe(1);
    expect(await run(manifest('a', { env: { X: '1' } }), '1.1')).toBe(0);
    await utimes(binary, new Date(), new Date(Date.now() + 60_000));
    expect(await run(manifest('a', { env: { X: '1' } }), '1.1')).toBe(1);
  });

  test('a run over some runtimes (polyrun install kotlin) keeps the entries of the others', async () => {
    const cacheFile = join(dir, 'partial.json');
    await detectRuntimes({ manifests: [manifest('a'), manifest('b')], selfTest: recordingSelfTest(), probe, cacheFile });
    await detectRuntimes({ manifests: [manifest('c')], selfTest: recordingSelfTest(), probe, cacheFile });
    const again = recordingSelfTest();
    await detectRuntimes({ manifests: [manifest('a'), manifest('b'), manifest('c')], selfTest: again, probe, cacheFile });
    expect(again.calls).toEqual([]);
  });

  test('a corrupt or foreign cache file is ignored and replaced', async () => {
    const cacheFile = join(dir, 'corrupt.json');
    for (const garbage of ['{ not json', '[]', '{"format": 99, "passed": {}}', '']) {
      await writeFile(cacheFile, garbage);
      const selfTest = recordingSelfTest();
      const result = await detectRuntimes({ manifests: [manifest('a')], selfTest, probe, cacheFile });
      expect(selfTest.calls, garbage).toEqual(['a@1.0']);
      expect(result.available).toHaveLength(1);
      expect(JSON.parse(await readFile(cacheFile, 'utf8')).passed.a.version).toBe('1.0');
    }
  });
});
