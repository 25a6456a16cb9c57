/**
 * The runtimes' test cases as data (src/runtimes/cases.ts): every shipped manifest has a valid cases file,
 * and the loader refuses what test/sandbox/runtimes.test.ts could not run. No sandbox, no root.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CasesError, loadCases, programFiles, sourceText } from '../../src/runtimes/cases.js';
import { loadManifests } from '../../src/runtimes/registry.js';

describe('the shipped cases', () => {
  test('every manifest has a valid cases file, and every cases file a manifest', async () => {
    const runtimes = await loadCases();
    const manifests = await loadManifests();
    expect(runtimes.map((r) => r.manifest.name)).toEqual(manifests.map((m) => m.name));
    for (const { manifest, file } of runtimes) expect(file).toMatch(new RegExp(`/${manifest.name.replace(/\+/g, '\\+')}\\.cases\\.json$`));
  });

  test('compiled runtimes have a compile error case, the others none', async () => {
    for (const { manifest, cases } of await loadCases()) {
      expect(cases.compileError !== undefined, manifest.name).toBe(manifest.compile !== undefined);
    }
  });
});

describe('program texts', () => {
  test('lines end with a newline each; a string is taken as it is', () => {
    expect(sourceText(['a', '', 'b'])).toBe('a\n\nb\n');
    expect(sourceText('no newline')).toBe('no newline');
  });

  test('a single source is one unnamed file; files keep their names', () => {
    expect(programFiles(['print(1)'])).toEqual([{ content: 'print(1)\n' }]);
    expect(programFiles('print(1)\n')).toEqual([{ content: 'print(1)\n' }]);
    expect(programFiles([{ name: 'main.toy', content: ['x'] }, { content: 'y' }])).toEqual([
      { name: 'main.toy', content: 'x\n' },
      { content: 'y' },
    ]);
  });
});

describe('loadCases refuses', () => {
  let dir: string;
  let n = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'polyrun-cases-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const manifest = (compiled: boolean) => ({
    name: 'toy',
    aliases: [],
    extensions: ['.toy'],
    core: false,
    packages: { apt: ['toy'] },
    version: { argv: ['/usr/bin/toy', '--version'], pattern: 'toy (\\d+\\.\\d+)' },
    ...(compiled ? { compile: { argv: ['/usr/bin/toyc', '{sources}'], outputs: ['a.out'] } } : {}),
    run: { argv: compiled ? ['./a.out', '{args}'] : ['/usr/bin/toy', '{entry}', '{args}'] },
    selfTest: { files: [{ name: 'main.toy', content: 'print ok' }], expectStdout: 'ok\n' },
  });
  const cases = (overrides: Record<string, unknown> = {}) => ({
    hello: ['print "Hello, World!"'],
    echo: ['copy stdin'],
    args: ['join args'],
    exit3: ['print partial', 'exit 3'],
    ...overrides,
  });

  /** A fresh dir holding the given files; resolves to loadCases' error message, or 'ok'. */
  async function load(files: Record<string, unknown>): Promise<string> {
    const sub = join(dir, String(n++));
    await mkdir(sub);
    for (const [name, content] of Object.entries(files)) await writeFile(join(sub, name), JSON.stringify(content));
    return loadCases(sub).then(
      () => 'ok',
      (err: unknown) => {
        expect(err).toBeInstanceOf(CasesError);
        return (err as Error).message;
      },
    );
  }

  test('nothing when all is well (and loadManifests skips the cases file)', async () => {
    expect(await load({ 'toy.json': manifest(false), 'toy.cases.json': cases() })).toBe('ok');
    expect(await load({ 'toy.json': manifest(true), 'toy.cases.json': cases({ compileError: 'nope' }) })).toBe('ok');
    const sub = join(dir, String(n - 1));
    expect((await loadManifests(sub)).map((m) => m.name)).toEqual(['toy']);
  });

  test('a manifest without a cases file', async () => {
    expect(await load({ 'toy.json': manifest(false) })).toMatch(/toy\.cases\.json: \(file\): missing/);
  });

  test('a cases file without a manifest', async () => {
    expect(await load({ 'toy.json': manifest(false), 'toy.cases.json': cases(), 'gone.cases.json': cases() })).toMatch(
      /gone\.cases\.json: \(file\): no manifest gone\.json/,
    );
  });

  test('a missing or unknown field, or a wrong type', async () => {
    const { exit3: _, ...noExit3 } = cases();
    expect(await load({ 'toy.json': manifest(false), 'toy.cases.json': noExit3 })).toMatch(/toy\.cases\.json: \/exit3: /);
    expect(await load({ 'toy.json': manifest(false), 'toy.cases.json': cases({ helo: ['x'] }) })).toMatch(/toy\.cases\.json: \/helo: /);
    expect(await load({ 'toy.json': manifest(false), 'toy.cases.json': cases({ hello: 42 }) })).toMatch(/toy\.cases\.json: \/hello: /);
    expect(
      await load({ 'toy.json': manifest(false), 'toy.cases.json': cases({ programs: [{ title: 't', files: ['x'] }] }) }),
    ).toMatch(/toy\.cases\.json: \/programs\/0\/stdout: /);
  });

  test('a compile error case exactly for compiled runtimes', async () => {
    expect(await load({ 'toy.json': manifest(true), 'toy.cases.json': cases() })).toMatch(/compileError: toy compiles/);
    expect(await load({ 'toy.json': manifest(false), 'toy.cases.json': cases({ compileError: ['x'] }) })).toMatch(
      /compileError: toy has no compile stage/,
    );
  });

  test('a cached rerun only for compiled runtimes, and only with a nonce; titles unique', async () => {
    const cached = (content: string) => ({ title: 'cached', files: [content], stdout: 'x\n', cachedOnRerun: true });
    expect(await load({ 'toy.json': manifest(false), 'toy.cases.json': cases({ programs: [cached('{nonce}')] }) })).toMatch(
      /\/programs\/0\/cachedOnRerun: toy has no compile stage/,
    );
    const compiled = { 'toy.json': manifest(true) };
    expect(await load({ ...compiled, 'toy.cases.json': cases({ compileError: 'x', programs: [cached('no nonce')] }) })).toMatch(
      /\/programs\/0\/files: needs \{nonce\}/,
    );
    expect(await load({ ...compiled, 'toy.cases.json': cases({ compileError: 'x', programs: [cached('{nonce}')] }) })).toBe('ok');
    const twice = { title: 'same', files: 'x', stdout: '' };
    expect(await load({ ...compiled, 'toy.cases.json': cases({ compileError: 'x', programs: [twice, twice] }) })).toMatch(
      /\/programs\/1\/title: "same" is used twice/,
    );
  });

  test('a file that is not JSON', async () => {
    const sub = join(dir, String(n++));
    await mkdir(sub);
    await writeFile(join(sub, 'toy.json'), JSON.stringify(manifest(false)));
    await writeFile(join(sub, 'toy.cases.json'), '{ "hello": ');
    await expect(loadCases(sub)).rejects.toThrow(/toy\.cases\.json: \(file\): not valid JSON/);
  });
});
