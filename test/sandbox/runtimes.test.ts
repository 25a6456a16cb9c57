/**
 * Every runtime end to end through the real executor and sandbox: hello world, stdin, program arguments,
 * a compile error (compiled languages), a non-zero exit, plus each runtime's further programs (multi-file,
 * Java's class naming, compile outputs in subdirectories and their cache). The programs are data, one file
 * per runtime beside its manifest (src/runtimes/manifests/NAME.cases.json, shaped by src/runtimes/cases.ts):
 * adding a runtime adds its tests here without touching this file.
 *
 * `npm test` runs scripts/setup --test first, which installs all toolchains, so every manifest must be
 * detected here: a runtime missing from the executor is a failure, not a skip.
 *
 * The whole file runs once per sandbox backend (test/helpers/backends.ts), each with its own executor and
 * detection cache, so every runtime's self-test and cases pass on every backend. gVisor runs everything
 * several times slower: by default its pass covers GVISOR_SUBSET (one runtime of each kind: interpreters,
 * native compilers, the JVM, the BEAM, GHC, Go, Rust), and all runtimes when POLYRUN_TEST_BACKENDS names
 * gvisor. A runtime whose manifest says it cannot run under gVisor (gvisorUnsupported) must be reported
 * unavailable there, with that reason.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ExecutionRequest } from '../../src/contract/request.js';
import type { ExecutionResult } from '../../src/contract/result.js';
import { createExecutor } from '../../src/executor/executor.js';
import { NONCE, loadCases, programFiles, type CaseProgram } from '../../src/runtimes/cases.js';
import { loadManifests } from '../../src/runtimes/registry.js';
import type { BackendName } from '../../src/sandbox/backend.js';
import { backendsOnThisHost, configWithBackend, requestedBackends } from '../helpers/backends.js';

type Executor = Awaited<ReturnType<typeof createExecutor>>;

/** What every runtime's echo and args cases get (their meaning is in src/runtimes/cases.ts). */
const STDIN = 'first line\nhéllo wörld ✓\n\nlast line without newline';
/** A space, a shell variable and a glob: arguments reach the program verbatim, never through a shell. */
const ARGS = ['one', 'two words', '$HOME', '*.txt'];

/**
 * Every manifest with its cases file (src/runtimes/manifests/NAME.cases.json). Loading fails, and with it
 * this file, when a manifest has no cases file or a cases file is invalid.
 */
const RUNTIMES = await loadCases();

let executor: Executor;
let stateDir: string;

/**
 * At most this many executions at once in this file: the test machine has two cores, and JVM or Mono
 * compiles started all together would only fight over them (and risk their wall-time limits).
 */
const PARALLEL = 3;
let running = 0;
const waiting: (() => void)[] = [];

async function execute(language: string, program: CaseProgram, extra: Partial<ExecutionRequest> = {}): Promise<ExecutionResult> {
  while (running >= PARALLEL) await new Promise<void>((wake) => waiting.push(wake));
  running++;
  try {
    const files = programFiles(program).map((f) => ({ ...f, content: Buffer.from(f.content) }));
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

/** The runtimes of gVisor's default pass (see the header). */
const GVISOR_SUBSET = ['python', 'ruby', 'bash', 'c', 'c++', 'java', 'javascript', 'go', 'erlang', 'haskell', 'rust'];
const gvisorFull = requestedBackends().includes('gvisor');

/** The runtimes this backend's pass covers. */
function covered(backend: BackendName): typeof RUNTIMES {
  if (backend !== 'gvisor') return RUNTIMES;
  const runnable = RUNTIMES.filter((r) => !r.manifest.gvisorUnsupported);
  return gvisorFull ? runnable : runnable.filter((r) => GVISOR_SUBSET.includes(r.manifest.name));
}

describe.each(backendsOnThisHost().backends)('%s', (backend: BackendName) => {
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'polyrun-runtimes-test-'));
    // The detection cache lives outside the temp dir so that repeated runs skip the self-tests; one per
    // backend, so that each backend's self-tests really ran on it once.
    executor = await createExecutor({
      config: configWithBackend(backend),
      stateDir,
      dataDir: join(tmpdir(), `polyrun-runtimes-test-data-${backend}`),
      ...(backend === 'gvisor' && !gvisorFull ? { languages: GVISOR_SUBSET } : {}),
    });
    expect(executor.sandboxInfo().backend).toBe(backend);
  }, 180_000);

  afterAll(async () => {
    await executor?.close();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  test('every manifest passed its self-test and reports a version', async () => {
    const manifests = await loadManifests();
    const found = new Map(executor.runtimes().map((r) => [r.name, r.version]));
    const unavailable = (executor as { unavailable?: { name: string; reason: string }[] }).unavailable;
    const expected = covered(backend).map((r) => r.manifest.name);
    // Under gVisor, the runtimes that cannot run there are unavailable, each with its manifest's reason.
    const refused = backend === 'gvisor' && gvisorFull ? manifests.filter((m) => m.gvisorUnsupported) : [];
    expect({ missing: expected.filter((n) => !found.has(n)), unavailable }).toEqual({
      missing: [],
      unavailable: refused.map((m) => ({ name: m.name, reason: expect.stringContaining(m.gvisorUnsupported!) })),
    });
    for (const version of found.values()) expect(version).toMatch(/^\d+\.\d+/);
    expect(manifests.length).toBeGreaterThanOrEqual(60);
    if (backend === 'gvisor' && !gvisorFull) return;
    expect(new Set(executor.runtimes().map((r) => r.language)).size).toBeGreaterThanOrEqual(50);
  });

  /** Fresh for each test run and backend, so that a cachedOnRerun program's first run is a real compile, never an old cache hit. */
  const nonce = `${process.pid}${Date.now()}${backend}`;
  const withNonce = (text: string) => text.replaceAll(NONCE, nonce);

  for (const { manifest, cases: c } of covered(backend)) {
    const language = manifest.name;
    describe.concurrent(language, () => {
      test('hello world', async () => {
        const r = await execute(language, c.hello);
        expect(summary(r)).toMatchObject({ status: 'ok', run: { status: 'ok', exitCode: 0, stdout: 'Hello, World!\n' } });
        expect(r.language).toBe(language);
        expect(r.version).toMatch(/^\d+\.\d+/);
        if (manifest.compile) expect(r.compile?.status).toBe('ok');
        else expect(r.compile).toBeNull();
      }, TIMEOUT);

      test('copies stdin to stdout byte for byte', async () => {
        const r = await execute(language, c.echo, { stdin: STDIN });
        expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: STDIN } });
      }, TIMEOUT);

      test('receives program arguments verbatim', async () => {
        const r = await execute(language, c.args, { args: ARGS });
        expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: `${ARGS.join('|')}\n` } });
      }, TIMEOUT);

      test('a non-zero exit is a runtime error with its exit code and the output so far', async () => {
        const r = await execute(language, c.exit3);
        expect(summary(r)).toMatchObject({ status: 'runtime_error', run: { status: 'runtime_error', exitCode: 3, stdout: 'partial\n' } });
      }, TIMEOUT);

      const compileError = c.compileError;
      if (compileError) {
        test('a compile error stops before the run stage', async () => {
          const r = await execute(language, compileError);
          expect(summary(r)).toMatchObject({ status: 'compile_error', run: null });
          expect(r.compile?.exitCode).not.toBe(0);
          expect(r.compile!.stdout + r.compile!.stderr).not.toBe('');
        }, TIMEOUT);
      }

      // Multi-file programs, naming rules (Java's public class), compile outputs in subdirectories...
      for (const p of c.programs ?? []) {
        test(p.title, async () => {
          const files = programFiles(p.files).map((f) => ({ ...f, content: withNonce(f.content) }));
          const stdout = withNonce(p.stdout);
          const first = await execute(language, files);
          expect(summary(first)).toMatchObject({ status: 'ok', run: { stdout } });
          if (!p.cachedOnRerun) return;
          expect(first.compile?.cached).toBe(false);
          const second = await execute(language, files);
          expect(summary(second)).toMatchObject({ status: 'ok', run: { stdout } });
          expect(second.compile?.cached).toBe(true);
        }, TIMEOUT);
      }
    });
  }

  /**
   * Several runtimes of one language, chosen by the request's version as Piston clients send it: the reference
   * runtime by default, an alternative by a version only it has or by its own name (src/runtimes/versions.ts).
   */
  // Alternatives of one language are the point here, not the backend: gVisor's default pass has no alternatives.
  if (backend !== 'gvisor' || gvisorFull) describe.concurrent('versions side by side', () => {
    const cases: { language: string; version?: string; runtime: string }[] = [
      { language: 'python', runtime: 'python' },
      { language: 'python', version: '*', runtime: 'python' },
      { language: 'python', version: '3.x', runtime: 'python' },
      { language: 'python', version: '2', runtime: 'jython' },
      { language: 'python', version: '^7.3', runtime: 'pypy' },
      { language: 'pypy', runtime: 'pypy' },
      { language: 'c', version: '>=14', runtime: 'clang' },
      { language: 'c', version: '0.9.x', runtime: 'tcc' },
      { language: 'lua', version: '5.1.x || 5.3.x', runtime: 'lua5.3' },
      { language: 'lua', version: '~5.1', runtime: 'lua5.1' },
      { language: 'lua', runtime: 'lua' },
    ];
    for (const { language, version, runtime } of cases) {
      test(`${language} ${version ?? '(no version)'} runs ${runtime}`, async () => {
        const hello = RUNTIMES.find((r) => r.manifest.name === runtime)!.cases.hello;
        const r = await execute(language, hello, version === undefined ? {} : { version });
        expect(summary(r)).toMatchObject({ status: 'ok', run: { stdout: 'Hello, World!\n' } });
        expect(r.language).toBe(runtime);
      }, TIMEOUT);
    }
  });
});
