/**
 * Every runtime end to end through the real executor and sandbox: hello world, stdin, program arguments,
 * a compile error (compiled languages), a non-zero exit, plus multi-file programs and Java's class naming.
 *
 * `npm test` runs scripts/setup --test first, which installs all toolchains, so every manifest must be
 * detected here: a runtime missing from the executor is a failure, not a skip.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ExecutionRequest } from '../src/contract/request.js';
import type { ExecutionResult } from '../src/contract/result.js';
import { createExecutor } from '../src/executor/executor.js';
import { loadManifests } from '../src/runtimes/registry.js';

type Executor = Awaited<ReturnType<typeof createExecutor>>;
/** One program: a single unnamed file (the runtime names it) or named files, the first being the entry. */
type Program = string | { name?: string; content: string }[];

interface LanguageCases {
  language: string;
  /** Prints "Hello, World!" and a newline. */
  hello: Program;
  /** Copies stdin to stdout unchanged. */
  echo: Program;
  /** Prints its arguments joined by "|" and a newline. */
  args: Program;
  /** Prints "partial" and a newline, then exits with status 3. */
  exit3: Program;
  /** Only for compiled languages: a type or syntax error the compiler rejects. */
  compileError?: Program;
}

const STDIN = 'first line\nhéllo wörld ✓\n\nlast line without newline';
/** A space, a shell variable and a glob: arguments reach the program verbatim, never through a shell. */
const ARGS = ['one', 'two words', '$HOME', '*.txt'];

const CASES: LanguageCases[] = [
  {
    language: 'python',
    hello: 'print("Hello, World!")\n',
    echo: 'import sys\nsys.stdout.write(sys.stdin.read())\n',
    args: 'import sys\nprint("|".join(sys.argv[1:]))\n',
    exit3: 'import sys\nprint("partial")\nsys.exit(3)\n',
  },
  {
    language: 'javascript',
    hello: 'console.log("Hello, World!");\n',
    echo: 'process.stdout.write(require("fs").readFileSync(0));\n',
    args: 'console.log(process.argv.slice(2).join("|"));\n',
    exit3: 'console.log("partial");\nprocess.exitCode = 3;\n',
  },
  {
    language: 'typescript',
    hello: 'const greeting: string = "Hello, World!";\nconsole.log(greeting);\n',
    echo: 'import * as fs from "fs";\nprocess.stdout.write(fs.readFileSync(0, "utf8"));\n',
    args: 'const args: string[] = process.argv.slice(2);\nconsole.log(args.join("|"));\n',
    exit3: 'console.log("partial");\nprocess.exitCode = 3;\n',
    compileError: 'const n: number = "not a number";\nconsole.log(n);\n',
  },
  {
    language: 'c',
    hello: '#include <stdio.h>\nint main(void) { puts("Hello, World!"); return 0; }\n',
    echo: [
      '#include <stdio.h>',
      'int main(void) {',
      '  char buf[4096]; size_t n;',
      '  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, n, stdout);',
      '  return 0;',
      '}',
    ].join('\n'),
    args: [
      '#include <stdio.h>',
      'int main(int argc, char **argv) {',
      '  for (int i = 1; i < argc; i++) printf("%s%s", i > 1 ? "|" : "", argv[i]);',
      '  putchar(10);',
      '  return 0;',
      '}',
    ].join('\n'),
    exit3: '#include <stdio.h>\nint main(void) { puts("partial"); return 3; }\n',
    compileError: 'int main(void) { return undeclared_variable; }\n',
  },
  {
    language: 'c++',
    hello: '#include <iostream>\nint main() { std::cout << "Hello, World!" << std::endl; }\n',
    echo: '#include <iostream>\nint main() { std::cout << std::cin.rdbuf(); }\n',
    args: [
      '#include <iostream>',
      '#include <string>',
      'int main(int argc, char** argv) {',
      '  std::string out;',
      '  for (int i = 1; i < argc; i++) { if (i > 1) out += "|"; out += argv[i]; }',
      '  std::cout << out << "\\n";',
      '}',
    ].join('\n'),
    exit3: '#include <iostream>\nint main() { std::cout << "partial\\n"; return 3; }\n',
    compileError: '#include <string>\nint main() { int x = std::string("text"); return x; }\n',
  },
  {
    language: 'rust',
    hello: 'fn main() {\n    println!("Hello, World!");\n}\n',
    echo: [
      'use std::io::{self, Read, Write};',
      'fn main() {',
      '    let mut input = Vec::new();',
      '    io::stdin().read_to_end(&mut input).unwrap();',
      '    io::stdout().write_all(&input).unwrap();',
      '}',
    ].join('\n'),
    args: 'fn main() {\n    let args: Vec<String> = std::env::args().skip(1).collect();\n    println!("{}", args.join("|"));\n}\n',
    exit3: 'fn main() {\n    println!("partial");\n    std::process::exit(3);\n}\n',
    compileError: 'fn main() {\n    let x: i32 = "text";\n    println!("{}", x);\n}\n',
  },
  {
    language: 'go',
    hello: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello, World!")\n}\n',
    echo: 'package main\n\nimport (\n\t"io"\n\t"os"\n)\n\nfunc main() {\n\tio.Copy(os.Stdout, os.Stdin)\n}\n',
    args: 'package main\n\nimport (\n\t"fmt"\n\t"os"\n\t"strings"\n)\n\nfunc main() {\n\tfmt.Println(strings.Join(os.Args[1:], "|"))\n}\n',
    exit3: 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tfmt.Println("partial")\n\tos.Exit(3)\n}\n',
    compileError: 'package main\n\nfunc main() {\n\tvar x int = "text"\n}\n',
  },
  {
    language: 'java',
    hello: 'public class Main {\n  public static void main(String[] args) {\n    System.out.println("Hello, World!");\n  }\n}\n',
    echo: [
      'public class Main {',
      '  public static void main(String[] args) throws Exception {',
      '    System.out.write(System.in.readAllBytes());',
      '    System.out.flush();',
      '  }',
      '}',
    ].join('\n'),
    args: 'public class Main {\n  public static void main(String[] args) {\n    System.out.println(String.join("|", args));\n  }\n}\n',
    exit3: 'public class Main {\n  public static void main(String[] args) {\n    System.out.println("partial");\n    System.exit(3);\n  }\n}\n',
    compileError: 'public class Main {\n  public static void main(String[] args) {\n    int x = "text";\n  }\n}\n',
  },
  {
    language: 'ruby',
    hello: 'puts "Hello, World!"\n',
    echo: '$stdout.write($stdin.read)\n',
    args: 'puts ARGV.join("|")\n',
    exit3: 'puts "partial"\nexit 3\n',
  },
  {
    language: 'php',
    hello: '<?php\necho "Hello, World!\\n";\n',
    echo: '<?php\necho stream_get_contents(STDIN);\n',
    args: '<?php\necho implode("|", array_slice($argv, 1)), "\\n";\n',
    exit3: '<?php\necho "partial\\n";\nexit(3);\n',
  },
  {
    language: 'bash',
    hello: 'echo "Hello, World!"\n',
    echo: 'cat\n',
    args: 'IFS="|"\necho "$*"\n',
    exit3: 'echo partial\nexit 3\n',
  },
  {
    language: 'perl',
    hello: 'print "Hello, World!\\n";\n',
    echo: 'local $/;\nprint <STDIN>;\n',
    args: 'print join("|", @ARGV), "\\n";\n',
    exit3: 'print "partial\\n";\nexit 3;\n',
  },
  {
    language: 'lua',
    hello: 'print("Hello, World!")\n',
    echo: 'io.write(io.read("a"))\n',
    args: 'print(table.concat(arg, "|"))\n',
    exit3: 'print("partial")\nos.exit(3)\n',
  },
  {
    language: 'csharp',
    hello: 'using System;\n\nclass Program {\n  static void Main() {\n    Console.WriteLine("Hello, World!");\n  }\n}\n',
    echo: 'using System;\n\nclass Program {\n  static void Main() {\n    Console.Out.Write(Console.In.ReadToEnd());\n  }\n}\n',
    args: 'using System;\n\nclass Program {\n  static void Main(string[] args) {\n    Console.WriteLine(string.Join("|", args));\n  }\n}\n',
    exit3: 'using System;\n\nclass Program {\n  static int Main() {\n    Console.WriteLine("partial");\n    return 3;\n  }\n}\n',
    compileError: 'class Program {\n  static void Main() {\n    int x = "text";\n  }\n}\n',
  },
];

let executor: Executor;
let stateDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'polyrun-runtimes-test-'));
  // The detection cache lives outside the temp dir so that repeated runs skip the self-tests.
  executor = await createExecutor({ stateDir, dataDir: join(tmpdir(), 'polyrun-runtimes-test-data') });
}, 180_000);

afterAll(async () => {
  await executor?.close();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

/**
 * At most this many executions at once in this file: the test machine has two cores, and JVM or Mono
 * compiles started all together would only fight over them (and risk their wall-time limits).
 */
const PARALLEL = 3;
let running = 0;
const waiting: (() => void)[] = [];

async function execute(language: string, program: Program, extra: Partial<ExecutionRequest> = {}): Promise<ExecutionResult> {
  while (running >= PARALLEL) await new Promise<void>((wake) => waiting.push(wake));
  running++;
  try {
    const files =
      typeof program === 'string'
        ? [{ content: Buffer.from(program) }]
        : program.map((f) => ({ ...(f.name ? { name: f.name } : {}), content: Buffer.from(f.content) }));
    return await executor.execute({ language, files, ...extra });
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Enough of the result to see why a case failed, without the timing noise. */
function summary(r: ExecutionResult): unknown {
  const stage = (s: ExecutionResult['run']) => s && { status: s.status, exitCode: s.exitCode, stdout: s.stdout, stderr: s.stderr.slice(0, 2000) };
  return { status: r.status, compile: stage(r.compile), run: stage(r.run) };
}

const TIMEOUT = 90_000;

test('every manifest passed its self-test and reports a version', async () => {
  const manifests = await loadManifests();
  const found = new Map(executor.runtimes().map((r) => [r.name, r.version]));
  const unavailable = (executor as { unavailable?: unknown }).unavailable;
  expect({ missing: manifests.map((m) => m.name).filter((n) => !found.has(n)), unavailable }).toEqual({
    missing: [],
    unavailable: [],
  });
  for (const version of found.values()) expect(version).toMatch(/^\d+\.\d+/);
  expect(manifests.length).toBeGreaterThanOrEqual(14);
});

for (const c of CASES) {
  describe.concurrent(c.language, () => {
    test('hello world', async () => {
      const r = await execute(c.language, c.hello);
      expect(summary(r)).toMatchObject({ status: 'ok', run: { status: 'ok', exitCode: 0, stdout: 'Hello, World!\n' } });
      expect(r.language).toBe(c.language);
      expect(r.version).toMatch(/^\d+\.\d+/);
      if (c.compileError) expect(r.compile?.status).toBe('ok');
      else expect(r.compile).toBeNull();
    }, TIMEOUT);

    test('copies stdin to stdout byte for byte', async () => {
      const r = await execute(c.language, c.echo, { stdin: STDIN });
      expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: STDIN } });
    }, TIMEOUT);

    test('receives program arguments verbatim', async () => {
      const r = await execute(c.language, c.args, { args: ARGS });
      expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: `${ARGS.join('|')}\n` } });
    }, TIMEOUT);

    test('a non-zero exit is a runtime error with its exit code and the output so far', async () => {
      const r = await execute(c.language, c.exit3);
      expect(summary(r)).toMatchObject({ status: 'runtime_error', run: { status: 'runtime_error', exitCode: 3, stdout: 'partial\n' } });
    }, TIMEOUT);

    const compileError = c.compileError;
    if (compileError) {
      test('a compile error stops before the run stage', async () => {
        const r = await execute(c.language, compileError);
        expect(summary(r)).toMatchObject({ status: 'compile_error', run: null });
        expect(r.compile?.exitCode).not.toBe(0);
        expect(r.compile!.stdout + r.compile!.stderr).not.toBe('');
      }, TIMEOUT);
    }
  });
}

describe.concurrent('multi-file programs', () => {
  test('python imports a module from a second file', async () => {
    const r = await execute('python', [
      { name: 'main.py', content: 'from greeting import greet\nprint(greet("polyrun"))\n' },
      { name: 'greeting.py', content: 'def greet(name):\n    return f"Hello, {name}!"\n' },
    ]);
    expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: 'Hello, polyrun!\n' } });
  }, TIMEOUT);

  test('c compiles every source and finds headers beside them', async () => {
    const r = await execute('c', [
      { name: 'main.c', content: '#include <stdio.h>\n#include "sum.h"\nint main(void) { printf("%d\\n", sum(40, 2)); return 0; }\n' },
      { name: 'sum.c', content: '#include "sum.h"\nint sum(int a, int b) { return a + b; }\n' },
      { name: 'sum.h', content: 'int sum(int a, int b);\n' },
    ]);
    expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: '42\n' } });
  }, TIMEOUT);
  test('go builds every file of package main', async () => {
    const r = await execute('go', [
      { name: 'main.go', content: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println(double(21))\n}\n' },
      { name: 'double.go', content: 'package main\n\nfunc double(n int) int {\n\treturn n * 2\n}\n' },
    ]);
    expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: '42\n' } });
  }, TIMEOUT);

  test('typescript compiles an imported module and runs the entry', async () => {
    const r = await execute('typescript', [
      { name: 'main.ts', content: 'import { double } from "./double";\nconsole.log(double(21));\n' },
      { name: 'double.ts', content: 'export function double(n: number): number {\n  return n * 2;\n}\n' },
    ]);
    expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: '42\n' } });
  }, TIMEOUT);

  test('rust finds a module file beside the entry', async () => {
    const r = await execute('rust', [
      { name: 'main.rs', content: 'mod double;\n\nfn main() {\n    println!("{}", double::double(21));\n}\n' },
      { name: 'double.rs', content: 'pub fn double(n: i32) -> i32 {\n    n * 2\n}\n' },
    ]);
    expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: '42\n' } });
  }, TIMEOUT);
});

describe.concurrent('java class names', () => {
  const greeter = (cls: string) =>
    `import java.util.*;\n\npublic class ${cls} {\n  public static void main(String[] args) {\n    System.out.println("Hello from ${cls}");\n  }\n}\n`;

  test('an unnamed file declaring public class Greeter runs', async () => {
    const r = await execute('java', [{ content: greeter('Greeter') }]);
    expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: 'Hello from Greeter\n' } });
  }, TIMEOUT);

  test('a file named Solution.java declaring public class Contest runs', async () => {
    const r = await execute('java', [{ name: 'Solution.java', content: greeter('Contest') }]);
    expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: 'Hello from Contest\n' } });
  }, TIMEOUT);

  test('the public class wins over a helper class declared before it, with a second file', async () => {
    const r = await execute('java', [
      {
        content:
          'class Helper {\n  static String text() { return Util.shout("picked the public class"); }\n}\n\n' +
          'public class App {\n  public static void main(String[] args) {\n    System.out.println(Helper.text());\n  }\n}\n',
      },
      { name: 'Util.java', content: 'public class Util {\n  static String shout(String s) { return s.toUpperCase(); }\n}\n' },
    ]);
    expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: 'PICKED THE PUBLIC CLASS\n' } });
  }, TIMEOUT);
});

describe('compile outputs in subdirectories, and their compile cache', () => {
  // A fresh source text per test run, so the first execution is a real compile, never an old cache hit.
  const nonce = `${process.pid}${Date.now()}`;

  test('java: a class in a package runs by its qualified name, and its package dir comes back from the cache', async () => {
    const source = `package com.acme.tools;\n\npublic class Tool {\n  public static void main(String[] args) {\n    System.out.println("packaged ${nonce}");\n  }\n}\n`;
    const first = await execute('java', [{ content: source }]);
    expect(summary(first)).toMatchObject({ status: 'ok', run: { stdout: `packaged ${nonce}\n` } });
    expect(first.compile?.cached).toBe(false);
    const second = await execute('java', [{ content: source }]);
    expect(summary(second)).toMatchObject({ status: 'ok', run: { stdout: `packaged ${nonce}\n` } });
    expect(second.compile?.cached).toBe(true);
  }, TIMEOUT);

  test('typescript: a module in a subdirectory compiles, and a cache hit restores lib/util.js', async () => {
    const files = [
      { name: 'main.ts', content: `import { twice } from "./lib/util";\nconsole.log(twice(21), "${nonce}");\n` },
      { name: 'lib/util.ts', content: 'export function twice(n: number): number {\n  return 2 * n;\n}\n' },
    ];
    const first = await execute('typescript', files);
    expect(summary(first)).toMatchObject({ status: 'ok', run: { stdout: `42 ${nonce}\n` } });
    expect(first.compile?.cached).toBe(false);
    const second = await execute('typescript', files);
    expect(summary(second)).toMatchObject({ status: 'ok', run: { stdout: `42 ${nonce}\n` } });
    expect(second.compile?.cached).toBe(true);
  }, TIMEOUT);
});
