/**
 * Several runtimes of a language side by side (src/runtimes/versions.ts, catalogue.ts, registry.ts): which one
 * a request's language and `version` selector get, as Piston clients send them. No sandbox.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { DEFAULT_LIMITS, MAX_LIMITS } from '../../src/limits/limits.js';
import { RuntimeCatalogue } from '../../src/runtimes/catalogue.js';
import type { RuntimeManifest } from '../../src/runtimes/manifest.js';
import { ManifestError, loadManifests, manifestsFor, validateManifest } from '../../src/runtimes/registry.js';
import { runtimeLanguageForFile } from '../../src/runtimes/plan.js';
import { chooseRuntime, compareVersionsDescending, rankRuntimes, versionMatches } from '../../src/runtimes/versions.js';

describe('versionMatches', () => {
  test.each([
    ['3.11.2', undefined],
    ['3.11.2', ''],
    ['3.11.2', '*'],
    ['3.11.2', 'latest'],
    ['3.11.2', '3.11.2'],
    ['3.11.2', '3'],
    ['3.11.2', '3.11'],
    ['3.11.2', '3.x'],
    ['3.11.2', '3.11.x'],
    ['3.11.2', '3.11.*'],
    ['3.11.2', '^3.10'],
    ['3.11.2', '~3.11.0'],
    ['3.11.2', '>=3.9 <3.12'],
    ['3.11.2', '>=3.11.2'],
    ['3.11.2', '<=3.11.2'],
    ['3.11.2', '2.x || 3.x'],
    ['8.7', '8.7'],
    ['8.7', '^8'],
    ['8.7', '8.7.0'],
    ['2022.12', '2022.x'],
    ['2.1.0-beta3', '2.1'],
    ['2.1.0-beta3', '^2'],
    ['1.14.0.dfsg', '1.14.0.dfsg'],
    ['1.14.0.dfsg', '1.14'],
  ])('%s satisfies %j', (version, selector) => {
    expect(versionMatches(version, selector)).toBe(true);
  });

  test.each([
    ['3.11.2', '3.12'],
    ['3.11.2', '2'],
    ['3.11.2', '3.11.3'],
    ['3.11.2', '^3.12'],
    ['3.11.2', '~3.10.0'],
    ['3.11.2', '>3.11.2'],
    ['3.11.2', '<3'],
    ['3.11.2', '1.x || 2.x'],
    ['3.11.2', '31'],
    ['8.7', '8.8'],
    ['1.14.0.dfsg', '1.15'],
  ])('%s does not satisfy %j', (version, selector) => {
    expect(versionMatches(version, selector)).toBe(false);
  });
});

describe('ordering', () => {
  test('newer versions first, numerically, also when they are not semver', () => {
    const sorted = ['3.9.1', '3.11.2', '3.10.0', '8.7', '10.0', '2022.12'].sort(compareVersionsDescending);
    expect(sorted).toEqual(['2022.12', '10.0', '8.7', '3.11.2', '3.10.0', '3.9.1']);
  });

  const rt = (name: string, language: string, version: string) => ({ name, language, version });
  const c = [rt('tcc', 'c', '0.9.27'), rt('clang', 'c', '14.0.6'), rt('c', 'c', '12.2.0')];

  test('the reference implementation before alternatives, whatever their versions', () => {
    expect(rankRuntimes(c).map((r) => r.name)).toEqual(['c', 'clang', 'tcc']);
  });

  test('no selector: the reference implementation; a version only an alternative has: that one', () => {
    expect(chooseRuntime(c)?.name).toBe('c');
    expect(chooseRuntime(c, '*')?.name).toBe('c');
    expect(chooseRuntime(c, '14')?.name).toBe('clang');
    expect(chooseRuntime(c, '>=13')?.name).toBe('clang');
    expect(chooseRuntime(c, '0.9.x')?.name).toBe('tcc');
    expect(chooseRuntime(c, '12.2.0')?.name).toBe('c');
    expect(chooseRuntime(c, '13')).toBeUndefined();
  });

  test('versions of the same implementation: the newest that matches', () => {
    const lua = [rt('lua5.3', 'lua', '5.3.6'), rt('lua', 'lua', '5.4.4'), rt('lua5.1', 'lua', '5.1.5')];
    expect(chooseRuntime(lua.map((r) => ({ ...r, name: 'lua' })))?.version).toBe('5.4.4');
    expect(chooseRuntime(lua, '5.3')?.name).toBe('lua5.3');
    expect(chooseRuntime(lua, '<5.4')?.name).toBe('lua5.3');
    expect(chooseRuntime(lua, '5.1.x || 5.3.x')?.name).toBe('lua5.3');
    expect(chooseRuntime(lua, '~5.1')?.name).toBe('lua5.1');
  });
});

/** A minimal valid manifest. */
function manifest(name: string, extra: Partial<RuntimeManifest> = {}): RuntimeManifest {
  return validateManifest(
    {
      name,
      aliases: [],
      extensions: ['.py'],
      core: false,
      packages: {},
      version: { argv: ['/usr/bin/true'], pattern: '(\\d+)' },
      run: { argv: ['/usr/bin/true', '{entry}'] },
      selfTest: { files: [{ name: 'main.py', content: 'x' }], expectStdout: 'ok\n' },
      ...extra,
    },
    `${name}.json`,
  );
}

describe('which runtimes a language means', () => {
  const python = manifest('python', { aliases: ['py'] });
  const pypy = manifest('pypy', { language: 'python', aliases: ['pypy3'] });
  const all = [pypy, python];

  test('the language name: all its runtimes; a runtime name or alias: that one; else an extension', () => {
    expect(manifestsFor(all, 'python').map((m) => m.name)).toEqual(['pypy', 'python']);
    expect(manifestsFor(all, 'PyPy').map((m) => m.name)).toEqual(['pypy']);
    expect(manifestsFor(all, 'pypy3').map((m) => m.name)).toEqual(['pypy']);
    expect(manifestsFor(all, 'py').map((m) => m.name)).toEqual(['python']);
    expect(manifestsFor(all, '.py').map((m) => m.name)).toEqual(['pypy', 'python']);
    expect(manifestsFor(all, 'ruby')).toEqual([]);
  });

  test('a file extension names the language, not whichever of its runtimes sorts first', () => {
    expect(runtimeLanguageForFile(all, 'main.py')).toBe('python');
  });

  test('the catalogue: default, by version, by runtime name; each listed with its language', async () => {
    const versions: Record<string, string> = { python: '3.11.2', pypy: '7.3.11' };
    const probed = new RuntimeCatalogue(all, DEFAULT_LIMITS, MAX_LIMITS);
    await probed.detect(async () => ({ ok: true, detail: 'ok' }), undefined, (m) => Promise.resolve(versions[m.name] ?? null));
    expect(probed.runtimes().map((r) => [r.name, r.language, r.version])).toEqual([
      ['pypy', 'python', '7.3.11'],
      ['python', 'python', '3.11.2'],
    ]);
    expect(probed.findRuntime('python')?.name).toBe('python');
    expect(probed.findRuntime('python', '*')?.name).toBe('python');
    expect(probed.findRuntime('python', '3.x')?.name).toBe('python');
    expect(probed.findRuntime('python', '7')?.name).toBe('pypy');
    expect(probed.findRuntime('python', '^7.3')?.name).toBe('pypy');
    expect(probed.findRuntime('pypy')?.name).toBe('pypy');
    expect(probed.findRuntime('pypy', '3')).toBeUndefined();
    expect(probed.findRuntime('python', '2.7')).toBeUndefined();
    expect(probed.manifestFor('pypy', '7.3.11')).toBe(pypy);
  });

  test('a language name may not be another language\'s runtime name or alias', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'polyrun-versions-test-'));
    try {
      await writeFile(join(dir, 'python.json'), JSON.stringify(python));
      await writeFile(join(dir, 'snake.json'), JSON.stringify({ ...manifest('snake'), language: 'py' }));
      await expect(loadManifests(dir)).rejects.toThrow(/snake\.json: language: "py" is a name or alias of python/);
      await writeFile(join(dir, 'snake.json'), JSON.stringify({ ...manifest('snake'), language: 'python' }));
      expect((await loadManifests(dir)).map((m) => m.name)).toEqual(['python', 'snake']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(() => validateManifest({ ...python, language: 'Py thon' }, 'x.json')).toThrow(ManifestError);
  });
});

describe('the shipped manifests', () => {
  test('every alternative runtime names a language that has a reference runtime, and shares no alias', async () => {
    const manifests = await loadManifests();
    const names = new Set(manifests.map((m) => m.name));
    for (const m of manifests.filter((x) => x.language !== undefined)) {
      expect(names.has(m.language!), `${m.name}: language ${m.language}`).toBe(true);
      expect(m.language).not.toBe(m.name);
    }
  });

  test('at least 60 runtimes of at least 50 languages', async () => {
    const manifests = await loadManifests();
    expect(manifests.length).toBeGreaterThanOrEqual(60);
    expect(new Set(manifests.map((m) => m.language ?? m.name)).size).toBeGreaterThanOrEqual(50);
  });
});
