/**
 * The `polyrun` command line, run as a real process (through tsx, so the test needs no build): the JSON
 * contract of `run --json`, the human output, exit statuses, and bad input.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'polyrun-cli-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Every test here starts at least one `polyrun` process (about 1 s through tsx when the machine is idle,
 * several seconds while the gVisor suites run beside it), and some self-test every runtime in a fresh data
 * dir (72 runtimes, two at a time: over a minute while another test file runs beside this one): the whole
 * file gets the spawn's own bound, not vitest's 5 s.
 */
const SPAWNS_TIMEOUT_MS = 180_000;
vi.setConfig({ testTimeout: SPAWNS_TIMEOUT_MS });

function polyrun(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args],
      // From the project root so that `--import tsx` resolves; the data dir (detection cache) is the test's own.
      { cwd: ROOT, env: { ...process.env, POLYRUN_DATA_DIR: join(work, 'data'), ...env }, timeout: SPAWNS_TIMEOUT_MS },
      (err, stdout, stderr) => done({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function file(name: string, content: string | Buffer): string {
  const path = join(work, name);
  writeFileSync(path, content);
  return path;
}

describe('polyrun run', () => {
  it('--json prints exactly the result contract', async () => {
    const r = await polyrun(['run', file('hello.py', 'print("hello from polyrun")\n'), '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(Object.keys(result).sort()).toEqual(['compile', 'language', 'run', 'status', 'version']);
    expect(result).toMatchObject({ language: 'python', status: 'ok', compile: null });
    expect(result.version).toMatch(/^3\.\d+\.\d+$/);
    expect(Object.keys(result.run).sort()).toEqual(
      ['cpuTimeMs', 'exitCode', 'memoryBytes', 'signal', 'status', 'stderr', 'stderrTruncated', 'stdout', 'stdoutTruncated', 'wallTimeMs'].sort(),
    );
    expect(result.run).toMatchObject({ status: 'ok', exitCode: 0, signal: null, stdout: 'hello from polyrun\n' });
  });

  it('passes stdin and arguments, and applies limits from flags', async () => {
    const prog = file('echo.py', 'import sys\nprint(sys.stdin.read().upper(), sys.argv[1:])\n');
    const r = await polyrun(['run', prog, '--stdin', 'abc', '--arg', 'x y', '--arg=-z', '--json']);
    expect(JSON.parse(r.stdout).run.stdout).toBe("ABC ['x y', '-z']\n");

    const input = file('input.txt', 'from a file');
    const viaFile = await polyrun(['run', prog, '--stdin-file', input, '--json']);
    expect(JSON.parse(viaFile.stdout).run.stdout).toBe('FROM A FILE []\n');

    const loop = await polyrun(['run', file('loop.py', 'while True: pass\n'), '--time-limit', '300', '--json']);
    expect(loop.code).toBe(0);
    expect(JSON.parse(loop.stdout)).toMatchObject({ status: 'time_limit', run: { status: 'time_limit' } });
  });

  it('without --json prints the program output and a one-line summary; a failing program is still exit 0', async () => {
    const r = await polyrun(['run', file('fail.py', 'import sys\nprint("out")\nprint("err", file=sys.stderr)\nsys.exit(4)\n')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err\n');
    expect(r.stderr).toMatch(/\[polyrun\] python \S+ \| runtime_error \| exit 4 \| cpu \d+ ms/);
  });

  it('binary and invalid UTF-8 output is carried, not a crash', async () => {
    const r = await polyrun(['run', file('bin.py', 'import sys\nsys.stdout.buffer.write(bytes([0xff, 0xfe, 0, 0x80, 0x41]))\n'), '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.status).toBe('ok');
    expect(result.run.stdout).toBe('\ufffd\ufffd\u0000\ufffdA');
  });

  it('a compile error is a result (exit 0), with run null', async () => {
    const r = await polyrun(['run', file('broken.c', 'int main( {\n'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ language: 'c', status: 'compile_error', run: null });
  });

  it('refuses what is polyrun\'s own error with a clear line and a non-zero status', async () => {
    const unknown = await polyrun(['run', file('prog.xyz', 'x')]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown language: \.xyz; known: .*python/);

    const noExt = await polyrun(['run', file('noext', 'x')]);
    expect(noExt.code).toBe(2);
    expect(noExt.stderr).toMatch(/give --language/);

    const badLimit = await polyrun(['run', file('ok.py', 'pass'), '--time-limit', 'soon']);
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toMatch(/--time-limit must be a positive integer/);

    const tooHigh = await polyrun(['run', file('ok2.py', 'pass'), '--time-limit', '999999999']);
    expect(tooHigh.code).toBe(1);
    expect(tooHigh.stderr).toMatch(/limits\.cpuTimeMs = 999999999 exceeds the allowed maximum/);

    const missing = await polyrun(['run', join(work, 'does-not-exist.py')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read .*does-not-exist\.py: ENOENT/);

    const unknownFlag = await polyrun(['run', file('ok3.py', 'pass'), '--frobnicate']);
    expect(unknownFlag.code).toBe(2);

    const noRuntime = await polyrun(['run', file('ok4.py', 'pass')], { POLYRUN_SANDBOX_BACKEND: 'oci', POLYRUN_OCI_RUNTIME: 'no-such-oci-runtime' });
    expect(noRuntime.code).toBe(1);
    expect(noRuntime.stderr).toMatch(/OCI runtime "no-such-oci-runtime" is not usable .*polyrun doctor/);
  });
});

describe('polyrun runtimes and doctor', () => {
  it('runtimes --json lists what passed its self-test', async () => {
    const r = await polyrun(['runtimes', '--json']);
    expect(r.code).toBe(0);
    const { runtimes } = JSON.parse(r.stdout);
    expect(runtimes.map((x: { name: string }) => x.name)).toEqual(expect.arrayContaining(['python', 'c', 'bash']));
  });

  it('doctor is green on this host', async () => {
    const r = await polyrun(['doctor']);
    expect(r.stdout).toContain('all required checks passed');
    expect(r.stdout).toMatch(/\[ok {2}\] sandbox runs a program/);
    expect(r.code).toBe(0);
  });
});

it('run --interactive connects stdin and stdout to the program as they come', async () => {
  const { spawn } = await import('node:child_process');
  const prog = file('turns.py', 'print("hello " + input(), flush=True)\nprint("bye " + input(), flush=True)\n');
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'run', prog, '--interactive'], {
    cwd: ROOT,
    env: { ...process.env, POLYRUN_DATA_DIR: join(work, 'data') },
  });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const output = (text: string) =>
    new Promise<void>((resolve) => {
      const check = () => stdout.includes(text) && (waiters.delete(check), resolve());
      waiters.add(check);
      check();
    });

  child.stdin.write('ada\n');
  await output('hello ada\n');
  // The program waits for its second line: it has answered the first one only.
  expect(stdout).toBe('hello ada\n');
  child.stdin.write('lovelace\n');
  await output('bye lovelace\n');
  child.stdin.end();
  expect(await exited).toBe(0);
  expect(stdout).toBe('hello ada\nbye lovelace\n');
  expect(stderr).toMatch(/\[polyrun\] python \S+ \| ok \| exit 0/);
});
