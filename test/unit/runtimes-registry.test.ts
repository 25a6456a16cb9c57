import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RuntimeManifest } from '../../src/runtimes/manifest.js';
import { ManifestError, findManifest, loadManifests, probeVersion, validateManifest } from '../../src/runtimes/registry.js';

const REQUIRED = ['python', 'javascript', 'typescript', 'c', 'c++', 'rust', 'go', 'java', 'ruby', 'php', 'bash', 'perl', 'lua', 'csharp'];

function valid(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'toy',
    aliases: ['ty'],
    extensions: ['.toy'],
    core: false,
    packages: { apt: ['toy'] },
    version: { argv: ['/usr/bin/toy', '--version'], pattern: 'toy (\\d+\\.\\d+)' },
    run: { argv: ['/usr/bin/toy', '{entry}', '{args}'] },
    selfTest: { files: [{ name: 'main.toy', content: 'print ok' }], expectStdout: 'ok\n' },
    ...overrides,
  };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polyrun-registry-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the shipped manifests', () => {
  test('all load, with unique names and at least the 14 required languages', async () => {
    const manifests = await loadManifests();
    const names = manifests.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of REQUIRED) expect(names).toContain(name);
  });

  test('core runtimes are the quick default install', async () => {
    const core = (await loadManifests()).filter((m) => m.core).map((m) => m.name).sort();
    expect(core).toEqual(['bash', 'c', 'c++', 'javascript', 'python']);
  });

  test('runtimes that need host config declare the mount, and JVM/Mono get more room', async () => {
    const manifests = await loadManifests();
    expect(findManifest(manifests, 'csharp')?.mounts).toContain('/etc/mono');
    for (const name of ['java', 'csharp']) {
      const m = findManifest(manifests, name)!;
      expect(m.limits?.run?.processes ?? 0, name).toBeGreaterThanOrEqual(128);
      expect(m.limits?.run?.memoryBytes ?? 0, name).toBeGreaterThanOrEqual(512 * 1024 * 1024);
      expect(m.limits?.compile?.wallTimeMs ?? 0, name).toBeGreaterThanOrEqual(30_000);
    }
  });
});

describe('validation names the file and the field', () => {
  async function loadOne(name: string, content: string): Promise<unknown> {
    const sub = await mkdtemp(join(dir, 'case-'));
    await writeFile(join(sub, `${name}.json`), content);
    return loadManifests(sub).then(
      () => null,
      (err: unknown) => err,
    );
  }

  test('a valid manifest loads', async () => {
    expect(await loadOne('toy', JSON.stringify(valid()))).toBeNull();
  });

  test.each([
    ['missing run', { run: undefined }, 'run', 'must be an object'],
    ['relative program', { run: { argv: ['python3', '{entry}'] } }, 'run.argv[0]', 'absolute path'],
    ['{args} at compile time', { compile: { argv: ['/usr/bin/toyc', '{args}'], outputs: ['a'] } }, 'compile.argv[1]', 'cannot be used here'],
    ['list placeholder inside a string', { run: { argv: ['/usr/bin/toy', '--files={files}'] } }, 'run.argv[1]', 'whole argv element'],
    ['unknown placeholder', { run: { argv: ['/usr/bin/toy', '{entrypoint}'] } }, 'run.argv[1]', 'unknown placeholder'],
    ['compiled without outputs', { compile: { argv: ['/usr/bin/toyc', '{entry}'], outputs: [] } }, 'compile.outputs', 'must not be empty'],
    ['output outside the working dir', { compile: { argv: ['/usr/bin/toyc'], outputs: ['../x'] } }, 'compile.outputs[0]', 'inside the working dir'],
    ['extension without dot', { extensions: ['toy'] }, 'extensions[0]', 'start with a dot'],
    ['version pattern without group', { version: { argv: ['/usr/bin/toy'], pattern: 'toy \\d+' } }, 'version.pattern', 'capture group'],
    ['broken regex', { version: { argv: ['/usr/bin/toy'], pattern: '(' } }, 'version.pattern', 'not a valid regular expression'],
    ['unknown limit', { limits: { run: { cpuMs: 5 } } }, 'limits.run.cpuMs', 'is not a limit'],
    ['non-integer limit', { limits: { compile: { wallTimeMs: 1.5 } } }, 'limits.compile.wallTimeMs', 'positive integer'],
    ['list placeholder in env', { env: { FILES: '{files}' } }, 'env.FILES', 'whole argv element'],
    ['relative mount', { mounts: ['etc/mono'] }, 'mounts[0]', 'absolute path'],
    ['renameTo without classPattern', { entry: { renameTo: '{mainClass}.toy' } }, 'entry.renameTo', 'needs entry.classPattern'],
    ['core not a boolean', { core: 'yes' }, 'core', 'true or false'],
    ['empty self-test', { selfTest: { files: [], expectStdout: 'x' } }, 'selfTest.files', 'non-empty'],
  ])('%s', async (_label, overrides, field, problem) => {
    const err = await loadOne('toy', JSON.stringify(valid(overrides)));
    expect(err).toBeInstanceOf(ManifestError);
    const e = err as ManifestError;
    expect(e.field).toBe(field);
    expect(e.message).toContain(`toy.json: ${field}: `);
    expect(e.message).toContain(problem);
  });

  test('invalid JSON', async () => {
    const err = (await loadOne('broken', '{ "name": ')) as ManifestError;
    expect(err).toBeInstanceOf(ManifestError);
    expect(err.message).toMatch(/broken\.json: \(file\): not valid JSON/);
  });

  test('an alias used by two runtimes', async () => {
    const sub = await mkdtemp(join(dir, 'dup-'));
    await writeFile(join(sub, 'a.json'), JSON.stringify(valid({ name: 'a', aliases: ['same'] })));
    await writeFile(join(sub, 'b.json'), JSON.stringify(valid({ name: 'b', aliases: ['same'] })));
    await expect(loadManifests(sub)).rejects.toThrow(/b\.json: aliases: "same" is already used by a/);
  });

  test('classPattern may be a list of regexes, each checked', () => {
    expect(() => validateManifest(valid({ entry: { classPattern: ['class (\\w+)', 'x('] } }), 'toy.json')).toThrow(
      /entry\.classPattern\[1\]: not a valid regular expression/,
    );
    expect(validateManifest(valid({ entry: { classPattern: ['class (\\w+)'], renameTo: '{mainClass}.toy' } }), 'toy.json').name).toBe('toy');
  });
});

describe('findManifest', () => {
  test('by name, alias or extension, case-insensitive; names before extensions', async () => {
    const manifests = await loadManifests();
    expect(findManifest(manifests, 'python')?.name).toBe('python');
    expect(findManifest(manifests, 'PY')?.name).toBe('python');
    expect(findManifest(manifests, '.py')?.name).toBe('python');
    expect(findManifest(manifests, 'cpp')?.name).toBe('c++');
    expect(findManifest(manifests, 'C#')?.name).toBe('csharp');
    expect(findManifest(manifests, 'ts')?.name).toBe('typescript');
    expect(findManifest(manifests, '.rs')?.name).toBe('rust');
    expect(findManifest(manifests, 'intercal')).toBeUndefined();
    expect(findManifest(manifests, '')).toBeUndefined();
  });
});

describe('probeVersion', () => {
  const probe = (argv: string[], pattern: string, env?: Record<string, string>, timeoutMs?: number) =>
    probeVersion({ ...(valid() as unknown as RuntimeManifest), version: { argv, pattern }, ...(env ? { env } : {}) }, timeoutMs);

  test("reads Debian's python3, not a toolchain on the host user's PATH", async () => {
    const python = findManifest(await loadManifests(), 'python')!;
    expect(await probeVersion(python)).toMatch(/^3\.\d+\.\d+$/);
  });

  test('matches stderr too and does not mind a non-zero exit', async () => {
    expect(await probe(['/usr/bin/bash', '-c', 'echo "tool v1.2.3" >&2; exit 1'], 'v(\\d+\\.\\d+\\.\\d+)')).toBe('1.2.3');
  });

  test('runs argv without a shell, with the sandbox base env plus the manifest env', async () => {
    expect(await probe(['/usr/bin/printf', '%s', '$HOME;x'], '^(.*)$')).toBe('$HOME;x');
    expect(await probe(['/usr/bin/bash', '-c', 'echo "$PATH|$TOY"'], '^(.*)$', { TOY: 'yes' })).toBe('/usr/local/bin:/usr/bin:/bin|yes');
    // Placeholders in the env are expanded as for a run stage with the default limits.
    expect(await probe(['/usr/bin/bash', '-c', 'echo "$HEAP"'], '^(.*)$', { HEAP: '{memoryMiB}MiB' })).toBe('256MiB');
  });

  test('a missing binary, no match or a hang is null', async () => {
    expect(await probe(['/nonexistent/toy', '--version'], '(\\d+)')).toBeNull();
    expect(await probe(['/usr/bin/true'], '(\\d+)')).toBeNull();
    const started = Date.now();
    expect(await probe(['/usr/bin/cat'], '(\\d+)', undefined, 200)).toBeNull(); // waits on stdin forever
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
