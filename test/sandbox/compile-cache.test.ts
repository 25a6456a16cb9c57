/**
 * The compile cache: unit tests of CompileCache and compileKey against a temp dir, then end to end through
 * the real executor (real sandboxes, gcc and g++), each with its own data dir so no other test shares entries.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, truncate, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CompileCache, compileKey, type CacheEntry, type CompileKeyInput } from '../../src/cache/compile-cache.js';
import type { ExecutionRequest } from '../../src/contract/request.js';
import type { ExecutionResult, StageResult } from '../../src/contract/result.js';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { hostLeftovers } from '../helpers/hostClean.js';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function entry(files: Record<string, string | Buffer>, stdout = '', stderr = ''): CacheEntry {
  return {
    files: Object.entries(files).map(([name, content]) => ({
      name,
      mode: 0o755,
      content: Buffer.isBuffer(content) ? content : Buffer.from(content),
    })),
    stdout,
    stderr,
  };
}

function filesOnDisk(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

describe('compileKey', () => {
  const base: CompileKeyInput = {
    scope: 'tenant-a',
    runtime: 'c',
    version: '12.2.0',
    argv: ['/usr/bin/gcc', '-O2', '-o', 'a.out', 'main.c', 'util.c'],
    files: [
      { name: 'main.c', mode: 0o644, content: Buffer.from('int main(void) { return 0; }\n') },
      { name: 'util.c', mode: 0o644, content: Buffer.from('int util(void) { return 1; }\n') },
    ],
  };
  const key = compileKey(base);

  it('is a sha256 hex digest and stable for the same input', () => {
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(compileKey(structuredClone(base))).toBe(key);
    expect(compileKey({ ...base, files: base.files.map((f) => ({ ...f, content: Buffer.from(f.content) })) })).toBe(key);
  });

  it('does not depend on the order of the files', () => {
    expect(compileKey({ ...base, files: [...base.files].reverse() })).toBe(key);
  });

  it('changes with the scope, runtime, version and argv', () => {
    const variants: CompileKeyInput[] = [
      { ...base, scope: 'tenant-b' },
      { ...base, scope: 'global' },
      { ...base, runtime: 'c++' },
      { ...base, version: '12.2.1' },
      { ...base, argv: [...base.argv, '-lm'] },
      { ...base, argv: base.argv.map((a) => (a === '-O2' ? '-O0' : a)) },
      { ...base, argv: [base.argv.slice(0, 2).join(' '), ...base.argv.slice(2)] }, // same text, other split
    ];
    const keys = variants.map(compileKey);
    for (const k of keys) expect(k).not.toBe(key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('changes with any file name, mode or content, and with a file added or removed', () => {
    const [main, util] = base.files as [CompileKeyInput['files'][0], CompileKeyInput['files'][0]];
    const variants: CompileKeyInput['files'][] = [
      [main, { ...util, name: 'util2.c' }],
      [main, { ...util, mode: 0o755 }],
      [main, { ...util, content: Buffer.from('int util(void) { return 2; }\n') }],
      [main, { ...util, content: Buffer.concat([util.content, Buffer.from('\n')]) }],
      [main],
      [main, util, { name: 'util.h', mode: 0o644, content: Buffer.from('int util(void);\n') }],
      // the bytes moved from one file's content into the other's name: fields do not run together
      [main, { ...util, name: 'util.cint', content: util.content.subarray(3) }],
    ];
    const keys = variants.map((files) => compileKey({ ...base, files }));
    for (const k of keys) expect(k).not.toBe(key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('fields are delimited: moving characters between scope and runtime gives another key', () => {
    expect(compileKey({ ...base, scope: 'ab', runtime: 'c' })).not.toBe(compileKey({ ...base, scope: 'a', runtime: 'bc' }));
  });
});

describe('CompileCache', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'polyrun-cc-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cacheDir = () => join(dir, 'cache');

  it('two caches on one dir (two services sharing a data dir) see and reuse each other\'s entries', async () => {
    const first = await CompileCache.open(cacheDir(), MiB);
    const second = await CompileCache.open(cacheDir(), MiB);
    const entry = { files: [{ name: 'a.out', mode: 0o755, content: Buffer.from('binary') }], stdout: '', stderr: '' };
    await first.put('shared', entry);
    const hit = await second.get('shared');
    expect(hit?.files[0]?.content.toString()).toBe('binary');
    expect(second.size).toBe(1);
    // Storing a key the other instance stored first keeps that entry and registers it here.
    const third = await CompileCache.open(cacheDir(), MiB);
    await first.put('again', entry);
    await third.put('again', entry);
    expect(third.size).toBe(2);
    expect((await third.get('again'))?.files[0]?.content.toString()).toBe('binary');
  });

  it('a hit returns the same bytes, modes and compile output that were stored', async () => {
    const cache = await CompileCache.open(cacheDir(), MiB);
    const binary = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3, 0xff, 0xfe, 0x00]);
    await cache.put('k1', {
      files: [
        { name: 'a.out', mode: 0o755, content: binary },
        { name: 'Main.class', mode: 0o644, content: Buffer.from('class') },
        { name: 'empty', mode: 0o600, content: Buffer.alloc(0) },
      ],
      stdout: 'out',
      stderr: 'main.c:1: warning: something',
    });
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(binary.length + 5);
    const hit = await cache.get('k1');
    expect(hit).toBeDefined();
    expect(hit!.stdout).toBe('out');
    expect(hit!.stderr).toBe('main.c:1: warning: something');
    expect(hit!.files.map((f) => [f.name, f.mode, f.content.toString('hex')])).toEqual([
      ['a.out', 0o755, binary.toString('hex')],
      ['Main.class', 0o644, Buffer.from('class').toString('hex')],
      ['empty', 0o600, ''],
    ]);
    expect(cache.stats).toMatchObject({ hits: 1, misses: 0, corrupt: 0 });
    expect(await cache.get('other')).toBeUndefined();
    expect(cache.stats).toMatchObject({ hits: 1, misses: 1 });
  });

  it('entries survive a reopen', async () => {
    const first = await CompileCache.open(cacheDir(), MiB);
    await first.put('k1', entry({ 'a.out': 'binary-1' }, 'o', 'e'));
    const second = await CompileCache.open(cacheDir(), MiB);
    expect(second.size).toBe(1);
    expect(second.bytes).toBe(8);
    const hit = await second.get('k1');
    expect(hit?.files[0]?.content.toString()).toBe('binary-1');
    expect(hit?.stderr).toBe('e');
  });

  it('storing the same key twice keeps the first entry and counts its bytes once', async () => {
    const cache = await CompileCache.open(cacheDir(), MiB);
    await cache.put('k1', entry({ 'a.out': 'first' }));
    await cache.put('k1', entry({ 'a.out': 'second!' }));
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(5);
    expect((await cache.get('k1'))?.files[0]?.content.toString()).toBe('first');
  });

  it('an entry whose stored file has a flipped byte is dropped and reported as a miss, never returned', async () => {
    const cache = await CompileCache.open(cacheDir(), MiB);
    await cache.put('k1', entry({ 'a.out': 'good binary', 'lib.so': 'library' }));
    await cache.put('k2', entry({ 'a.out': 'untouched' }));
    const path = join(cacheDir(), 'k1', 'file-1'); // lib.so, the entry's second file
    const bytes = readFileSync(path);
    bytes[3] = bytes[3]! ^ 0x01;
    writeFileSync(path, bytes);
    expect(await cache.get('k1')).toBeUndefined();
    expect(cache.stats).toMatchObject({ hits: 0, misses: 1, corrupt: 1 });
    expect(existsSync(join(cacheDir(), 'k1'))).toBe(false);
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(9);
    // and stays a miss
    expect(await cache.get('k1')).toBeUndefined();
    expect(cache.stats.misses).toBe(2);
    expect((await cache.get('k2'))?.files[0]?.content.toString()).toBe('untouched');
  });

  it('a stored file of the right hash but another size, or a missing file, is a miss', async () => {
    const cache = await CompileCache.open(cacheDir(), MiB);
    await cache.put('grown', entry({ 'a.out': 'abc' }));
    await cache.put('gone', entry({ 'a.out': 'abc', 'b.out': 'def' }));
    writeFileSync(join(cacheDir(), 'grown', 'file-0'), 'abcd');
    await rm(join(cacheDir(), 'gone', 'file-1'));
    expect(await cache.get('grown')).toBeUndefined();
    expect(await cache.get('gone')).toBeUndefined();
    expect(cache.stats).toMatchObject({ hits: 0, corrupt: 2 });
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
    expect(readdirSync(cacheDir())).toEqual([]);
  });

  it('a truncated index.json is dropped: on get, and at the next open', async () => {
    const cache = await CompileCache.open(cacheDir(), MiB);
    await cache.put('k1', entry({ 'a.out': 'one' }));
    await cache.put('k2', entry({ 'a.out': 'two' }));
    await cache.put('k3', entry({ 'a.out': 'three' }));
    await truncate(join(cacheDir(), 'k1', 'index.json'), 10);
    expect(await cache.get('k1')).toBeUndefined();
    expect(cache.stats.corrupt).toBe(1);
    expect(existsSync(join(cacheDir(), 'k1'))).toBe(false);

    await truncate(join(cacheDir(), 'k2', 'index.json'), 0);
    await rm(join(cacheDir(), 'k3', 'index.json')); // an entry without its index is incomplete
    const reopened = await CompileCache.open(cacheDir(), MiB);
    expect(readdirSync(cacheDir())).toEqual([]);
    expect(reopened.size).toBe(0);
    expect(reopened.bytes).toBe(0);
    expect(await reopened.get('k2')).toBeUndefined();
    expect(await reopened.get('k3')).toBeUndefined();
  });

  it('a tampered index naming a file outside the entry (with its right hash) is never followed', async () => {
    const cache = await CompileCache.open(cacheDir(), MiB);
    const secret = Buffer.from('host secret');
    writeFileSync(join(dir, 'outside'), secret);
    const names = ['../../outside', '../k0/a.out', 'sub/x', '/etc/hostname', '..', ''];
    for (const [i, name] of names.entries()) {
      const key = `k${i}`;
      await cache.put(key, entry({ 'a.out': 'real' }));
      mkdirSync(join(cacheDir(), key, 'sub'));
      writeFileSync(join(cacheDir(), key, 'sub', 'x'), secret);
      const content =
        name === '/etc/hostname' ? readFileSync('/etc/hostname') : name === '../k0/a.out' ? Buffer.from('real') : secret;
      const index = { format: 1, files: [{ name, mode: 0o755, size: content.length, sha256: sha256(content) }], stdout: '', stderr: '' };
      writeFileSync(join(cacheDir(), key, 'index.json'), JSON.stringify(index));
    }
    for (const [i, name] of names.entries()) {
      expect(await cache.get(`k${i}`), JSON.stringify(name)).toBeUndefined();
      expect(existsSync(join(cacheDir(), `k${i}`)), JSON.stringify(name)).toBe(false);
    }
    expect(cache.stats).toMatchObject({ hits: 0, corrupt: names.length });
    expect(cache.size).toBe(0);
    expect(readFileSync(join(dir, 'outside'))).toEqual(secret); // not removed or changed either
  });

  it('a leftover .tmp-* dir (a crash mid-write) is removed on open', async () => {
    mkdirSync(join(cacheDir(), '.tmp-0123456789ab'), { recursive: true });
    writeFileSync(join(cacheDir(), '.tmp-0123456789ab', 'a.out'), 'partial');
    mkdirSync(join(cacheDir(), '.tmp-empty'));
    const first = await CompileCache.open(cacheDir(), MiB);
    expect(readdirSync(cacheDir())).toEqual([]);
    expect(first.size).toBe(0);
    await first.put('k1', entry({ 'a.out': 'kept' }));
    // even a complete-looking temp dir (crash between index.json and the rename) is not an entry
    mkdirSync(join(cacheDir(), '.tmp-again'));
    writeFileSync(join(cacheDir(), '.tmp-again', 'a.out'), 'x');
    writeFileSync(
      join(cacheDir(), '.tmp-again', 'index.json'),
      JSON.stringify({ format: 1, files: [{ name: 'a.out', mode: 0o755, size: 1, sha256: sha256(Buffer.from('x')) }], stdout: '', stderr: '' }),
    );
    const cache = await CompileCache.open(cacheDir(), MiB);
    expect(readdirSync(cacheDir())).toEqual(['k1']);
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(4);
    expect((await cache.get('k1'))?.files[0]?.content.toString()).toBe('kept');
  });

  it('a put leaves no temp dir behind', async () => {
    const cache = await CompileCache.open(cacheDir(), MiB);
    await cache.put('k1', entry({ 'a.out': 'x', 'b.out': 'y' }));
    expect(filesOnDisk(cacheDir())).toEqual(['k1', 'k1/file-0', 'k1/file-1', 'k1/index.json']);
    const index = JSON.parse(readFileSync(join(cacheDir(), 'k1', 'index.json'), 'utf8'));
    expect(index.files).toEqual([
      { name: 'a.out', mode: 0o755, size: 1, sha256: sha256(Buffer.from('x')) },
      { name: 'b.out', mode: 0o755, size: 1, sha256: sha256(Buffer.from('y')) },
    ]);
    // stored files are data only: not executable, not readable by others
    expect(statSync(join(cacheDir(), 'k1', 'file-0')).mode & 0o777).toBe(0o600);
    expect(statSync(cacheDir()).mode & 0o777).toBe(0o700);
  });

  it('LRU eviction keeps the total within maxBytes and evicts the least recently used', async () => {
    const cache = await CompileCache.open(cacheDir(), 100);
    const forty = (c: string) => entry({ 'a.out': Buffer.alloc(40, c) });
    await cache.put('a', forty('a'));
    await cache.put('b', forty('b'));
    expect(cache.bytes).toBe(80);
    expect(await cache.get('a')).toBeDefined(); // a is now the most recently used
    await cache.put('c', forty('c'));
    expect(cache.bytes).toBeLessThanOrEqual(100);
    expect(cache.bytes).toBe(80);
    expect(cache.stats.evictions).toBe(1);
    expect(readdirSync(cacheDir()).sort()).toEqual(['a', 'c']);
    expect(await cache.get('b')).toBeUndefined();
    expect((await cache.get('a'))?.files[0]?.content).toEqual(Buffer.alloc(40, 'a'));
    expect((await cache.get('c'))?.files[0]?.content).toEqual(Buffer.alloc(40, 'c'));

    // c was used after a: a big entry pushes out a first, then c as needed
    await cache.put('d', entry({ 'a.out': Buffer.alloc(60, 'd') }));
    expect(readdirSync(cacheDir()).sort()).toEqual(['c', 'd']);
    expect(cache.bytes).toBe(100);
    await cache.put('e', entry({ 'a.out': Buffer.alloc(100, 'e') }));
    expect(readdirSync(cacheDir())).toEqual(['e']);
    expect(cache.bytes).toBe(100);
    expect(cache.size).toBe(1);
    expect(cache.stats.evictions).toBe(4);
  });

  it('open evicts down to a smaller maxBytes, least recently used first (by index.json mtime)', async () => {
    const cache = await CompileCache.open(cacheDir(), 1000);
    for (const k of ['a', 'b', 'c']) await cache.put(k, entry({ 'a.out': Buffer.alloc(40, k) }));
    // last use: b oldest, then c, then a
    const at = (s: number) => new Date(1_700_000_000_000 + s * 1000);
    await utimes(join(cacheDir(), 'b', 'index.json'), at(1), at(1));
    await utimes(join(cacheDir(), 'c', 'index.json'), at(2), at(2));
    await utimes(join(cacheDir(), 'a', 'index.json'), at(3), at(3));
    const small = await CompileCache.open(cacheDir(), 80);
    expect(small.bytes).toBe(80);
    expect(readdirSync(cacheDir()).sort()).toEqual(['a', 'c']);
    const smaller = await CompileCache.open(cacheDir(), 50);
    expect(smaller.bytes).toBe(40);
    expect(readdirSync(cacheDir())).toEqual(['a']);
  });

  it('a get refreshes the entry on disk, so the LRU order survives a reopen', async () => {
    const cache = await CompileCache.open(cacheDir(), 1000);
    await cache.put('a', entry({ 'a.out': Buffer.alloc(40, 'a') }));
    await cache.put('b', entry({ 'a.out': Buffer.alloc(40, 'b') }));
    const old = new Date(1_700_000_000_000);
    await utimes(join(cacheDir(), 'a', 'index.json'), old, old);
    await utimes(join(cacheDir(), 'b', 'index.json'), new Date(old.getTime() + 1000), new Date(old.getTime() + 1000));
    expect(await cache.get('a')).toBeDefined();
    expect(statSync(join(cacheDir(), 'a', 'index.json')).mtimeMs).toBeGreaterThan(old.getTime() + 1000);
    const reopened = await CompileCache.open(cacheDir(), 50);
    expect(readdirSync(cacheDir())).toEqual(['a']);
    expect(reopened.size).toBe(1);
  });

  it('an entry larger than maxBytes is not stored and evicts nothing', async () => {
    const cache = await CompileCache.open(cacheDir(), 100);
    await cache.put('small', entry({ 'a.out': Buffer.alloc(30) }));
    await cache.put('big', entry({ 'a.out': Buffer.alloc(60), 'b.out': Buffer.alloc(41) }));
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(30);
    expect(readdirSync(cacheDir())).toEqual(['small']);
    expect(await cache.get('big')).toBeUndefined();
    expect(cache.stats.evictions).toBe(0);
    await cache.put('exact', entry({ 'a.out': Buffer.alloc(100) }));
    expect(readdirSync(cacheDir())).toEqual(['exact']);
  });

  it('unsafe output names are not stored, and nothing is written outside the cache', async () => {
    const cache = await CompileCache.open(cacheDir(), MiB);
    const before = filesOnDisk(dir);
    for (const name of ['../x', 'a/../../b', '/abs', '..', '.', '', 'a//b', 'a\\b', 'nl\nname', 'x'.repeat(1025)]) {
      await cache.put(`k-${sha256(Buffer.from(name)).slice(0, 8)}`, entry({ 'a.out': 'fine', [name]: 'payload' }));
    }
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
    expect(filesOnDisk(dir)).toEqual(before);
    expect(existsSync(join(dir, 'x'))).toBe(false);
    // a long but legal name is fine, and so is a nested one (Java package dirs): stored flat as file-N
    await cache.put('ok', entry({ ['y'.repeat(255)]: 'payload', 'com/acme/Main.class': 'class' }));
    expect((await cache.get('ok'))?.files.map((f) => f.name)).toEqual(['y'.repeat(255), 'com/acme/Main.class']);
    expect(filesOnDisk(join(cacheDir(), 'ok'))).toEqual(['file-0', 'file-1', 'index.json']);
  });
});

describe('compile cache through the executor (real sandboxes)', () => {
  let ex: SandboxExecutor;
  let dataDir: string;
  const cacheRoot = () => join(dataDir, 'compile-cache');

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'polyrun-cc-e2e-'));
    ex = await createExecutor({ languages: ['c', 'c++'], dataDir, compileCache: { maxBytes: 64 * MiB } });
    for (const lang of ['c', 'c++']) {
      if (!ex.findRuntime(lang)) throw new Error(`runtime ${lang} is not available: ${JSON.stringify(ex.unavailable)}`);
    }
  }, 120_000);

  afterAll(async () => {
    if (ex) {
      await ex.settle();
      const leftovers = await hostLeftovers(ex);
      await ex.close();
      expect(leftovers).toEqual([]);
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  function exec(language: string, files: Record<string, string>, extra: Partial<ExecutionRequest> = {}, cacheScope?: string): Promise<ExecutionResult> {
    return ex.execute(
      { language, files: Object.entries(files).map(([name, content]) => ({ name, content: Buffer.from(content) })), ...extra },
      cacheScope === undefined ? {} : { cacheScope },
    );
  }

  const compileOf = (r: ExecutionResult): StageResult => {
    if (!r.compile) throw new Error(`no compile stage: ${JSON.stringify(r)}`);
    return r.compile;
  };
  const runOf = (r: ExecutionResult): StageResult => {
    if (!r.run) throw new Error(`no run stage: ${JSON.stringify(r)}`);
    return r.run;
  };

  const CPP_HELLO = `#include <iostream>
#include <string>
int main(int argc, char **argv) {
  std::string line;
  std::getline(std::cin, line);
  std::cout << "hello from c++ " << line;
  for (int i = 1; i < argc; i++) std::cout << " " << argv[i];
  std::cout << std::endl;
}
`;

  it('c++ hello compiled twice: the second compile is a cache hit with the same output', async () => {
    const first = await exec('c++', { 'main.cpp': CPP_HELLO }, { stdin: 'one\n' });
    expect(first.status).toBe('ok');
    expect(compileOf(first).cached).toBe(false);
    expect(runOf(first).stdout).toBe('hello from c++ one\n');
    const statsAfterFirst = { ...ex.compileCache!.stats };

    const second = await exec('c++', { 'main.cpp': CPP_HELLO }, { stdin: 'one\n' });
    expect(second.status).toBe('ok');
    expect(compileOf(second).cached).toBe(true);
    expect(compileOf(second).status).toBe('ok');
    expect(compileOf(second).stdout).toBe(compileOf(first).stdout);
    expect(compileOf(second).stderr).toBe(compileOf(first).stderr);
    expect(runOf(second).stdout).toBe(runOf(first).stdout);
    expect(runOf(second).exitCode).toBe(0);
    expect(ex.compileCache!.stats.hits).toBe(statsAfterFirst.hits + 1);

    // stdin and args are not part of the compile: still a hit, and the run sees them
    const third = await exec('c++', { 'main.cpp': CPP_HELLO }, { stdin: 'two\n', args: ['x', 'y z'] });
    expect(compileOf(third).cached).toBe(true);
    expect(runOf(third).stdout).toBe('hello from c++ two x y z\n');
  });

  it('a different source or file name is a miss', async () => {
    const changed = await exec('c++', { 'main.cpp': CPP_HELLO.replace('hello from', 'hi from') }, { stdin: 'z\n' });
    expect(compileOf(changed).cached).toBe(false);
    expect(runOf(changed).stdout).toBe('hi from c++ z\n');
    const renamed = await exec('c++', { 'prog.cpp': CPP_HELLO }, { stdin: 'z\n' });
    expect(compileOf(renamed).cached).toBe(false);
    expect(runOf(renamed).stdout).toBe('hello from c++ z\n');
    const again = await exec('c++', { 'prog.cpp': CPP_HELLO }, { stdin: 'z\n' });
    expect(compileOf(again).cached).toBe(true);
  });

  it('different cacheScope values do not share entries', async () => {
    const code = `#include <stdio.h>\nint main(void) { puts("scoped ${Date.now()}"); return 0; }\n`;
    const a1 = await exec('c', { 'main.c': code }, {}, 'tenant-a');
    expect(compileOf(a1).cached).toBe(false);
    const b1 = await exec('c', { 'main.c': code }, {}, 'tenant-b');
    expect(compileOf(b1).cached).toBe(false);
    const none = await exec('c', { 'main.c': code });
    expect(compileOf(none).cached).toBe(false);
    const a2 = await exec('c', { 'main.c': code }, {}, 'tenant-a');
    const b2 = await exec('c', { 'main.c': code }, {}, 'tenant-b');
    const none2 = await exec('c', { 'main.c': code });
    for (const r of [a2, b2, none2]) {
      expect(compileOf(r).cached).toBe(true);
      expect(runOf(r).stdout).toBe(runOf(a1).stdout);
    }
    for (const r of [a1, b1, none, a2, b2, none2]) expect(r.status).toBe('ok');
  });

  it('a compile error is not cached', async () => {
    const broken = `int main(void) { return undefined_symbol; }\n`;
    const sizeBefore = ex.compileCache!.size;
    const dirsBefore = readdirSync(cacheRoot()).sort();
    const first = await exec('c', { 'main.c': broken });
    expect(first.status).toBe('compile_error');
    expect(compileOf(first).stderr).toContain('undefined_symbol');
    expect(first.run).toBeNull();
    const second = await exec('c', { 'main.c': broken });
    expect(second.status).toBe('compile_error');
    expect(compileOf(second).cached).not.toBe(true);
    expect(compileOf(second).stderr).toBe(compileOf(first).stderr);
    expect(ex.compileCache!.size).toBe(sizeBefore);
    expect(readdirSync(cacheRoot()).sort()).toEqual(dirsBefore);
  });

  it('c: the manifest outputs (a.out) are what is stored, not the sources; warnings are replayed on a hit', async () => {
    const code = `#include <stdio.h>\n#warning this is a warning\nint main(int argc, char **argv) { printf("args=%d\\n", argc - 1); return 3; }\n`;
    const before = new Set(readdirSync(cacheRoot()));
    const first = await exec('c', { 'main.c': code, 'helper.h': '#define X 1\n' }, { args: ['a'] });
    expect(first.status).toBe('runtime_error');
    expect(runOf(first).exitCode).toBe(3);
    expect(compileOf(first).stderr).toContain('this is a warning');
    const added = readdirSync(cacheRoot()).filter((k) => !before.has(k));
    expect(added).toHaveLength(1);
    const entryDir = join(cacheRoot(), added[0]!);
    expect(readdirSync(entryDir).sort()).toEqual(['file-0', 'index.json']);
    const index = JSON.parse(readFileSync(join(entryDir, 'index.json'), 'utf8'));
    expect(index.files.map((f: { name: string }) => f.name)).toEqual(['a.out']);
    expect(index.files[0].mode & 0o111).not.toBe(0); // recorded as executable: the run needs it so
    expect(readFileSync(join(entryDir, 'file-0')).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));

    const second = await exec('c', { 'main.c': code, 'helper.h': '#define X 1\n' }, { args: ['a', 'b'] });
    expect(compileOf(second).cached).toBe(true);
    expect(compileOf(second).stderr).toBe(compileOf(first).stderr);
    expect(second.status).toBe('runtime_error');
    expect(runOf(second).exitCode).toBe(3);
    expect(runOf(second).stdout).toBe('args=2\n');
  });

  it('a change to a file that is not compiled itself (a header) is a miss too', async () => {
    const code = `#include <stdio.h>\n#include "value.h"\nint main(void) { printf("value=%d\\n", VALUE); return 0; }\n`;
    const one = await exec('c', { 'main.c': code, 'value.h': '#define VALUE 1\n' });
    expect(runOf(one).stdout).toBe('value=1\n');
    const two = await exec('c', { 'main.c': code, 'value.h': '#define VALUE 2\n' });
    expect(compileOf(two).cached).toBe(false);
    expect(runOf(two).stdout).toBe('value=2\n');
    const oneAgain = await exec('c', { 'main.c': code, 'value.h': '#define VALUE 1\n' });
    expect(compileOf(oneAgain).cached).toBe(true);
    expect(runOf(oneAgain).stdout).toBe('value=1\n');
  });

  it('a tampered binary in the cache is never run: it is dropped and the source compiled again', async () => {
    const code = `#include <stdio.h>\nint main(void) { puts("genuine"); return 0; }\n`;
    const before = new Set(readdirSync(cacheRoot()));
    const first = await exec('c', { 'main.c': code });
    expect(runOf(first).stdout).toBe('genuine\n');
    const [key] = readdirSync(cacheRoot()).filter((k) => !before.has(k));
    expect(key).toBeDefined();
    const binPath = join(cacheRoot(), key!, 'file-0');
    const bin = readFileSync(binPath);
    const at = bin.indexOf('genuine');
    expect(at).toBeGreaterThan(0);
    bin.write('tampere', at, 'latin1'); // same size, other bytes
    writeFileSync(binPath, bin);
    const corruptBefore = ex.compileCache!.stats.corrupt;

    const second = await exec('c', { 'main.c': code });
    expect(second.status).toBe('ok');
    expect(compileOf(second).cached).toBe(false);
    expect(runOf(second).stdout).toBe('genuine\n');
    expect(ex.compileCache!.stats.corrupt).toBe(corruptBefore + 1);
    // the fresh compile was stored again, intact
    const third = await exec('c', { 'main.c': code });
    expect(compileOf(third).cached).toBe(true);
    expect(runOf(third).stdout).toBe('genuine\n');
  });

  it('an output larger than maxBytes is not cached; the program still runs every time', async () => {
    const smallDir = await mkdtemp(join(tmpdir(), 'polyrun-cc-small-'));
    // the same runtime detection as the main executor, so the self-tests are not run again
    copyFileSync(join(dataDir, 'runtimes-cache.json'), join(smallDir, 'runtimes-cache.json'));
    const tiny = await createExecutor({ languages: ['c'], dataDir: smallDir, compileCache: { maxBytes: 1024 } });
    try {
      const code = `#include <stdio.h>\nint main(void) { puts("too big to cache"); return 0; }\n`;
      for (let i = 0; i < 2; i++) {
        const r = await tiny.execute({ language: 'c', files: [{ name: 'main.c', content: Buffer.from(code) }] });
        expect(r.status).toBe('ok');
        expect(compileOf(r).cached).toBe(false);
        expect(runOf(r).stdout).toBe('too big to cache\n');
      }
      expect(tiny.compileCache!.size).toBe(0);
      expect(readdirSync(join(smallDir, 'compile-cache'))).toEqual([]);
    } finally {
      await tiny.close();
      await rm(smallDir, { recursive: true, force: true });
    }
  });
});
