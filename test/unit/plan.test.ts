import { describe, expect, test } from 'vitest';
import { PolyrunError } from '../../src/contract/errors.js';
import type { SourceFile } from '../../src/contract/request.js';
import { DEFAULT_LIMITS } from '../../src/limits/limits.js';
import type { RuntimeManifest } from '../../src/runtimes/manifest.js';
import {
  BASE_ENV,
  findMainClass,
  matchOutputs,
  planExecution,
  runtimeLanguageForFile,
  stripExtension,
} from '../../src/runtimes/plan.js';
import { findManifest, loadManifests } from '../../src/runtimes/registry.js';

function manifest(overrides: Partial<RuntimeManifest> = {}): RuntimeManifest {
  return {
    name: 'toy',
    aliases: [],
    extensions: ['.toy', '.ty'],
    core: false,
    packages: {},
    version: { argv: ['/usr/bin/toy', '--version'], pattern: '(\\d+)' },
    run: { argv: ['/usr/bin/toy', '{entry}', '{args}'] },
    selfTest: { files: [{ name: 'main.toy', content: 'ok' }], expectStdout: 'ok\n' },
    ...overrides,
  };
}

const file = (content: string, name?: string): SourceFile => ({ ...(name === undefined ? {} : { name }), content: Buffer.from(content) });

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

const javaLike = manifest({
  extensions: ['.java'],
  entry: {
    defaultName: 'Main.java',
    classPattern: ['^\\s*public\\s+class\\s+(\\w+)', '^\\s*class\\s+(\\w+)'],
    renameTo: '{mainClass}.java',
  },
  compile: { argv: ['/usr/bin/javac', '-d', '.', '{sources}'], outputs: ['*.class'] },
  run: { argv: ['/usr/bin/java', '-cp', '.', '{mainClass}', '{args}'] },
});

describe('file names', () => {
  test('an unnamed entry gets main + the first extension, other unnamed files fileI + extension', () => {
    const plan = planExecution(manifest(), [file('a'), file('b'), file('c', 'lib.ty'), file('d')], []);
    expect(plan.files.map((f) => f.name)).toEqual(['main.toy', 'file1.toy', 'lib.ty', 'file3.toy']);
  });

  test('entry.defaultName names an unnamed entry', () => {
    const plan = planExecution(manifest({ entry: { defaultName: 'Program.toy' } }), [file('a')], []);
    expect(plan.files[0]?.name).toBe('Program.toy');
  });

  test('given names are kept, contents and a readable mode are carried over', () => {
    const plan = planExecution(manifest(), [file('x', 'dir/start.toy')], []);
    expect(plan.files).toEqual([{ name: 'dir/start.toy', content: Buffer.from('x'), mode: 0o644 }]);
  });

  test('two files ending up with the same name are refused', () => {
    expect(() => planExecution(manifest(), [file('a', 'file1.toy'), file('b')], [])).toThrowError(PolyrunError);
    const err = thrown(() => planExecution(manifest(), [file('a', 'x.toy'), file('b', 'x.toy')], []));
    expect(err).toBeInstanceOf(PolyrunError);
    expect((err as PolyrunError).code).toBe('INVALID_FILE_NAME');
  });

  test('no files at all is a validation error', () => {
    expect(() => planExecution(manifest(), [], [])).toThrowError(/at least one file/);
  });
});

describe('argv expansion', () => {
  test('{entry} and {args} expand; each argument stays one element, unexpanded by any shell', () => {
    const plan = planExecution(manifest(), [file('x')], ['a b', '$HOME', '*', '']);
    expect(plan.run.argv).toEqual(['/usr/bin/toy', 'main.toy', 'a b', '$HOME', '*', '']);
    expect(plan.compile).toBeNull();
    expect(plan.compileOutputs).toEqual([]);
  });

  test('{files} is every file, {sources} only those with a runtime extension, in request order', () => {
    const m = manifest({
      compile: { argv: ['/usr/bin/toyc', '-o', '{stem}.out', '{sources}', '--', '{files}'], outputs: ['{stem}.out'] },
      run: { argv: ['./{stem}.out', '{args}'] },
    });
    const plan = planExecution(m, [file('a', 'prog.toy'), file('b', 'util.h'), file('c', 'more.ty')], ['x']);
    expect(plan.compile?.argv).toEqual(['/usr/bin/toyc', '-o', 'prog.out', 'prog.toy', 'more.ty', '--', 'prog.toy', 'util.h', 'more.ty']);
    expect(plan.run.argv).toEqual(['./prog.out', 'x']);
    expect(plan.compileOutputs).toEqual(['prog.out']);
  });

  test('{args} in a compile argv expands to nothing: arguments belong to the run', () => {
    const m = manifest({ compile: { argv: ['/usr/bin/toyc', '{entry}', '{args}'], outputs: ['a'] } });
    expect(planExecution(m, [file('x')], ['secret']).compile?.argv).toEqual(['/usr/bin/toyc', 'main.toy']);
  });

  test('no arguments leave no empty element behind', () => {
    expect(planExecution(manifest(), [file('x')], []).run.argv).toEqual(['/usr/bin/toy', 'main.toy']);
  });

  test('text that only looks like a placeholder in a file name is not expanded again', () => {
    const plan = planExecution(manifest(), [file('x', '{args}.toy')], ['boom']);
    expect(plan.run.argv).toEqual(['/usr/bin/toy', '{args}.toy', 'boom']);
  });
});

describe('environment', () => {
  test('the base env comes first and the manifest env overrides or extends it', () => {
    const plan = planExecution(manifest({ env: { HOME: '/tmp/home', GOCACHE: '/tmp/go' } }), [file('x')], []);
    expect(plan.run.env).toEqual({ PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp/home', LANG: 'C.UTF-8', TMPDIR: '/tmp', GOCACHE: '/tmp/go' });
  });

  test('without a manifest env the stages get exactly the base env, as separate objects', () => {
    const m = manifest({ compile: { argv: ['/usr/bin/toyc', '{entry}'], outputs: ['a'] } });
    const plan = planExecution(m, [file('x')], []);
    expect(plan.run.env).toEqual(BASE_ENV);
    expect(plan.compile?.env).toEqual(BASE_ENV);
    expect(plan.compile?.env).not.toBe(plan.run.env);
  });
});

describe('{memoryMiB}', () => {
  const sized = manifest({
    compile: { argv: ['/usr/bin/toyc', '-Xmx{memoryMiB}m', '{entry}'], outputs: ['a'] },
    run: { argv: ['/usr/bin/toy', '--max={memoryMiB}m', '{entry}'] },
    env: { TOY_HEAP: '{memoryMiB}MiB', PLAIN: 'x' },
    limits: { run: { memoryBytes: 300 * 1024 * 1024 } },
  });

  test('is each stage memory limit in MiB, in argv and env values', () => {
    const limits = {
      compile: { ...DEFAULT_LIMITS.compile, memoryBytes: 1024 * 1024 * 1024 },
      run: { ...DEFAULT_LIMITS.run, memoryBytes: 128 * 1024 * 1024 + 5 },
    };
    const plan = planExecution(sized, [file('x')], [], limits);
    expect(plan.compile?.argv[1]).toBe('-Xmx1024m');
    expect(plan.compile?.env.TOY_HEAP).toBe('1024MiB');
    expect(plan.run.argv[1]).toBe('--max=128m');
    expect(plan.run.env).toMatchObject({ TOY_HEAP: '128MiB', PLAIN: 'x' });
  });

  test('defaults to the built-in limits under the manifest overrides', () => {
    const plan = planExecution(sized, [file('x')], []);
    expect(plan.compile?.argv[1]).toBe(`-Xmx${DEFAULT_LIMITS.compile.memoryBytes / 1024 / 1024}m`);
    expect(plan.run.argv[1]).toBe('--max=300m');
  });
});

describe('main class (Java-style entries)', () => {
  test('an unnamed file is named after its public class, which is the class run', () => {
    const plan = planExecution(javaLike, [file('import java.util.*;\n\npublic class Greeter {\n}\n')], ['x']);
    expect(plan.files[0]?.name).toBe('Greeter.java');
    expect(plan.compile?.argv).toEqual(['/usr/bin/javac', '-d', '.', 'Greeter.java']);
    expect(plan.run.argv).toEqual(['/usr/bin/java', '-cp', '.', 'Greeter', 'x']);
    expect(plan.compileOutputs).toEqual(['*.class']);
  });

  test('a differently named file is renamed after its public class', () => {
    const plan = planExecution(javaLike, [file('public class Contest {}', 'Solution.java'), file('class B {}', 'B.java')], []);
    expect(plan.files.map((f) => f.name)).toEqual(['Contest.java', 'B.java']);
  });

  test('the earlier pattern wins even when the later one matches earlier in the file', () => {
    const source = 'class Helper {}\n\npublic class App {}\n';
    expect(findMainClass(['^\\s*public\\s+class\\s+(\\w+)', '^\\s*class\\s+(\\w+)'], source)).toBe('App');
    expect(findMainClass(['^\\s*public\\s+class\\s+(\\w+)', '^\\s*class\\s+(\\w+)'], 'class Only {}')).toBe('Only');
  });

  test('when no class is found the entry keeps its name and {mainClass} is its stem', () => {
    const plan = planExecution(javaLike, [file('interface Nothing {}', 'Thing.java')], []);
    expect(plan.files[0]?.name).toBe('Thing.java');
    expect(plan.run.argv).toContain('Thing');
  });

  test('a single-string classPattern works too', () => {
    expect(findMainClass('class (\\w+)', 'final class X {}')).toBe('X');
    expect(findMainClass('class (\\w+)', 'nothing')).toBeNull();
  });

  test('renaming onto another file of the request is refused, not silently overwritten', () => {
    expect(() => planExecution(javaLike, [file('public class B {}', 'A.java'), file('class C {}', 'B.java')], [])).toThrowError(/B\.java/);
  });
});

describe('helpers', () => {
  test('stripExtension removes only the last extension of the last path segment', () => {
    expect(stripExtension('main.py')).toBe('main');
    expect(stripExtension('a.tar.gz')).toBe('a.tar');
    expect(stripExtension('dir.x/file')).toBe('dir.x/file');
    expect(stripExtension('.hidden')).toBe('.hidden');
  });

  test('matchOutputs: * matches inside one path segment, everything else is literal', () => {
    const listing = ['Main.class', 'Main$Inner.class', 'Main.java', 'pkg/A.class', 'pkg/sub/B.class', 'a.out', 'aXout', 'lib/a.out'];
    // Without a slash a pattern matches the file name in any directory (Java packages, nested outputs).
    expect(matchOutputs(['*.class'], listing)).toEqual(['Main.class', 'Main$Inner.class', 'pkg/A.class', 'pkg/sub/B.class']);
    expect(matchOutputs(['a.out'], listing)).toEqual(['a.out', 'lib/a.out']);
    // With a slash it matches the whole relative path, and * stays within one segment.
    expect(matchOutputs(['pkg/*.class'], listing)).toEqual(['pkg/A.class']);
    expect(matchOutputs(['a.out', 'pkg/*'], ['a.out', 'pkg/x', 'pkg/y/z'])).toEqual(['a.out', 'pkg/x']);
    expect(matchOutputs([], listing)).toEqual([]);
  });
});

describe('the shipped manifests', async () => {
  const manifests = await loadManifests();

  test('runtimeLanguageForFile maps extensions to languages, longest extension first, case-insensitive', () => {
    expect(runtimeLanguageForFile(manifests, 'main.py')).toBe('python');
    expect(runtimeLanguageForFile(manifests, 'src/App.JAVA')).toBe('java');
    expect(runtimeLanguageForFile(manifests, 'x.cpp')).toBe('c++');
    expect(runtimeLanguageForFile(manifests, 'x.c')).toBe('c');
    expect(runtimeLanguageForFile(manifests, 'x.ts')).toBe('typescript');
    expect(runtimeLanguageForFile(manifests, 'README')).toBeUndefined();
    expect(runtimeLanguageForFile(manifests, '.py')).toBeUndefined();
    const dts = manifest({ name: 'dts', extensions: ['.d.ts'] });
    expect(runtimeLanguageForFile([...manifests, dts], 'types.d.ts')).toBe('dts');
  });

  test('python runs the entry with Debian python3, arguments last', () => {
    const plan = planExecution(findManifest(manifests, 'py')!, [file('print(1)')], ['a']);
    expect(plan.run.argv[0]).toBe('/usr/bin/python3');
    expect(plan.run.argv.slice(-2)).toEqual(['main.py', 'a']);
    expect(plan.compile).toBeNull();
  });

  test('c compiles every .c file but not headers, and lists its binary as the compile output', () => {
    const plan = planExecution(findManifest(manifests, 'c')!, [file('', 'main.c'), file('', 'x.h'), file('', 'x.c')], []);
    expect(plan.compile?.argv).toContain('main.c');
    expect(plan.compile?.argv).toContain('x.c');
    expect(plan.compile?.argv).not.toContain('x.h');
    expect(plan.compileOutputs).toEqual(['a.out']);
  });

  test('java accepts any public class name', () => {
    const plan = planExecution(findManifest(manifests, 'java')!, [file('public final class Foo {\n public static void main(String[] a) {}\n}')], []);
    expect(plan.files[0]?.name).toBe('Foo.java');
    expect(plan.run.argv.slice(-3)).toEqual(['-cp', '.', 'Foo']);
  });

  test('every compiled manifest declares outputs and every self-test plans cleanly', () => {
    for (const m of manifests) {
      const plan = planExecution(m, m.selfTest.files.map((f) => file(f.content, f.name)), []);
      expect(plan.run.argv.length, m.name).toBeGreaterThan(0);
      if (m.compile) expect(plan.compileOutputs.length, m.name).toBeGreaterThan(0);
      for (const argv of [plan.run.argv, plan.compile?.argv ?? []]) {
        expect(argv.join(' '), m.name).not.toMatch(/\{[A-Za-z]+\}/);
      }
    }
  });
});
