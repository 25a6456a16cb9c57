/**
 * POST /v1/judge with real sandboxes: every verdict (accepted, wrong_answer, time_limit, memory_limit,
 * output_limit, runtime_error by exit code and by signal, compile_error), every built-in checker, a custom
 * checker in another runtime, stop at the first failure, the total time budget, the SSE stream of verdicts,
 * all cases in one sandbox, and a clean host afterwards.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Sandbox } from '../../src/sandbox/sandbox.js';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { makeTestApp, tempDir, type TestApp } from '../helpers/app.js';
import { hostLeftovers } from '../helpers/hostClean.js';
import { parseSse } from '../helpers/sse.js';

const MiB = 1024 * 1024;
const dataDir = tempDir('polyrun-judge-');
let executor: SandboxExecutor;
let t: TestApp;

beforeAll(async () => {
  executor = await createExecutor({ dataDir, languages: ['python', 'c', 'bash'], compileCache: false });
  t = await makeTestApp(executor, {
    config: { slots: 2, defaultPolicy: { rate: { perSecond: 1000, burst: 1000 }, quota: { concurrent: 100 } } },
    dataDir,
    closeExecutor: false,
  });
}, 120_000);

afterAll(async () => {
  await t?.cleanup();
  await executor?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function judge(body: Json, headers: Record<string, string> = {}) {
  const res = await t.app.inject({ method: 'POST', url: '/v1/judge', headers: { ...t.auth(), ...headers }, payload: body });
  return { status: res.statusCode, body: res.body, json: (() => { try { return res.json() as Json; } catch { return {} as Json; } })() };
}

/** A C program that acts on its input: the first word says what to do. */
const BEHAVIOUR_C = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
int main(void) {
  char cmd[32] = {0}; long a = 0, b = 0;
  if (scanf("%31s %ld %ld", cmd, &a, &b) < 1) return 0;
  if (!strcmp(cmd, "add")) printf("%ld\\n", a + b);
  else if (!strcmp(cmd, "wrong")) printf("%ld\\n", a + b + 1);
  else if (!strcmp(cmd, "spin")) { volatile unsigned long x = 0; for (;;) x++; }
  else if (!strcmp(cmd, "eat")) { for (;;) { char *p = malloc(1 << 20); if (!p) return 9; memset(p, 1, 1 << 20); } }
  else if (!strcmp(cmd, "flood")) { for (;;) fputs("yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\\n", stdout); }
  else if (!strcmp(cmd, "exit")) return (int)a;
  else if (!strcmp(cmd, "segv")) raise(SIGSEGV);
  return 0;
}
`;

const c = (cases: Json[], extra: Json = {}) => ({ language: 'c', files: [{ name: 'main.c', content: BEHAVIOUR_C }], cases, ...extra });

describe('POST /v1/judge on real sandboxes', () => {
  it('gives every verdict, compiled once and all cases in one sandbox', async () => {
    const starts = vi.spyOn(Sandbox, 'start');
    const res = await judge(
      c([
        { name: 'ok', stdin: 'add 1 2', expected: '3\n', weight: 2 },
        { name: 'wa', stdin: 'wrong 1 2', expected: '3\n' },
        { name: 'tle', stdin: 'spin', expected: '', limits: { cpuTimeMs: 300, wallTimeMs: 6000 } },
        { name: 'mle', stdin: 'eat', expected: '', limits: { memoryBytes: 32 * MiB } },
        { name: 'ole', stdin: 'flood', expected: '', limits: { outputBytes: 4096 } },
        { name: 'exit', stdin: 'exit 3', expected: '' },
        { name: 'segv', stdin: 'segv', expected: '' },
        { name: 'again', stdin: 'add 40 2', expected: '42' },
      ]),
    );
    expect(res.status, res.body).toBe(200);
    const { json } = res;
    expect(json).toMatchObject({ status: 'ok', verdict: 'wrong_answer', score: 3, maxScore: 9, passed: 2, total: 8 });
    expect(json.compile.status).toBe('ok');
    const byName = Object.fromEntries(json.cases.map((k: Json) => [k.name, k]));
    expect(Object.fromEntries(json.cases.map((k: Json) => [k.name, k.verdict]))).toEqual({
      ok: 'accepted',
      wa: 'wrong_answer',
      tle: 'time_limit',
      mle: 'memory_limit',
      ole: 'output_limit',
      exit: 'runtime_error',
      segv: 'runtime_error',
      again: 'accepted',
    });
    expect(byName.wa.checkerMessage).toBe('line 1: expected "3", got "4"');
    expect(byName.exit).toMatchObject({ exitCode: 3, signal: null, checkerMessage: 'exited with status 3' });
    expect(byName.segv).toMatchObject({ signal: 'SIGSEGV', checkerMessage: 'killed by SIGSEGV' });
    expect(byName.ole.stdout.length).toBeLessThanOrEqual(1024);
    expect(byName.ole.stdoutTruncated).toBe(true);
    expect(byName.tle.cpuTimeMs).toBeGreaterThanOrEqual(300);
    expect(byName.mle.memoryBytes).toBeGreaterThan(16 * MiB);
    expect(byName.ok.memoryBytes).toBeLessThan(16 * MiB); // each case has its own accounting
    // `run` sums the cases
    expect(json.run.cpuTimeMs).toBeGreaterThanOrEqual(byName.tle.cpuTimeMs);
    expect(starts).toHaveBeenCalledTimes(1);
    starts.mockRestore();
  }, 60_000);

  it('compile_error for the whole submission, every case skipped', async () => {
    const res = await judge({ language: 'c', files: [{ content: 'int main( {' }], cases: [{ stdin: '', expected: '' }, { stdin: '' }] });
    expect(res.json).toMatchObject({ status: 'compile_error', verdict: 'compile_error', score: 0, maxScore: 2, passed: 0 });
    expect(res.json.compile.stderr).toMatch(/error/);
    expect(res.json.cases.map((k: Json) => k.verdict)).toEqual(['skipped', 'skipped']);
  }, 30_000);

  it('each built-in checker', async () => {
    const py = (checker: Json, out: string, expected: string) =>
      judge({ language: 'python', files: [{ content: `import sys; sys.stdout.write(${JSON.stringify(out)})` }], checker, cases: [{ expected }] });
    const verdict = async (checker: Json, out: string, expected: string) => (await py(checker, out, expected)).json.verdict;
    expect(await verdict({ type: 'exact' }, '3\n', '3\n')).toBe('accepted');
    expect(await verdict({ type: 'exact' }, '3 \n', '3\n')).toBe('wrong_answer');
    expect(await verdict({ type: 'trailing_whitespace' }, '3 \n\n', '3')).toBe('accepted');
    expect(await verdict({ type: 'tokens' }, '1\n2  3', '1 2 3\n')).toBe('accepted');
    expect(await verdict({ type: 'case_insensitive' }, 'YES', 'yes')).toBe('accepted');
    expect(await verdict({ type: 'float', absTolerance: 0.01 }, '3.141', '3.14159')).toBe('accepted');
    expect(await verdict({ type: 'float' }, '3.141', '3.14159')).toBe('wrong_answer');
    // the default is trailing_whitespace
    const res = await judge({ language: 'python', files: [{ content: 'print(3, end="  \\n\\n")' }], cases: [{ expected: '3' }] });
    expect(res.json.verdict).toBe('accepted');
  }, 60_000);

  it('a custom checker in another runtime, in its own sandbox, gets input, expected and actual as files', async () => {
    // Accepts any output whose number is within 1 of the expected one; says why not otherwise.
    const checker = {
      type: 'custom',
      language: 'bash',
      files: [
        {
          name: 'check.sh',
          content:
            'input=$1 actual=$2 expected=$3\n' +
            '[ -f "$input" ] || { echo "no input file" >&2; exit 3; }\n' +
            'a=$(cat "$actual"); e=$(cat "$expected")\n' +
            'd=$((a - e)); [ ${d#-} -le 1 ] && exit 0\n' +
            'echo "off by $d (input $(cat "$input"))" >&2; exit 1\n',
        },
      ],
    };
    const res = await judge(c([{ stdin: 'add 1 2', expected: '3' }, { stdin: 'wrong 1 2', expected: '3' }, { stdin: 'wrong 5 5', expected: '3' }], { checker }));
    expect(res.status, res.body).toBe(200);
    expect(res.json.cases.map((k: Json) => k.verdict)).toEqual(['accepted', 'accepted', 'wrong_answer']);
    expect(res.json.cases[2].checkerMessage).toBe('off by 8 (input wrong 5 5)');

    const broken = { ...checker, files: [{ content: 'echo "FAIL cannot read" >&2; exit 3' }] };
    const failed = await judge(c([{ stdin: 'add 1 2', expected: '3' }], { checker: broken }));
    expect(failed.json.cases[0]).toMatchObject({ verdict: 'internal_error', checkerMessage: 'the checker failed (exit 3): FAIL cannot read' });
  }, 60_000);

  it('stops at the first failure and keeps to the total time budget', async () => {
    const stop = await judge(c([{ stdin: 'wrong 1 1', expected: '2' }, { stdin: 'add 1 1', expected: '2' }], { stopOnFirstFailure: true }));
    expect(stop.json.cases.map((k: Json) => k.verdict)).toEqual(['wrong_answer', 'skipped']);

    const spin = { stdin: 'spin', expected: '', limits: { cpuTimeMs: 5000, wallTimeMs: 5000 } };
    const budget = await judge(c([spin, spin, spin], { totalTimeMs: 600 }));
    expect(budget.json.cases[0].verdict).toBe('time_limit');
    expect(budget.json.cases[0].wallTimeMs).toBeLessThan(2000);
    expect(budget.json.cases.slice(1).map((k: Json) => k.verdict)).toEqual(['skipped', 'skipped']);
  }, 60_000);

  it('streams each verdict as it is decided (SSE), then the result', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/judge',
      headers: { ...t.auth(), accept: 'text/event-stream' },
      payload: c([{ stdin: 'add 1 2', expected: '3' }, { stdin: 'wrong 1 2', expected: '3' }]),
    });
    expect(res.headers['content-type']).toMatch(/text\/event-stream/);
    const events = parseSse(res.body);
    const names = events.map((e) => e.event);
    expect(names.filter((n) => n === 'case')).toHaveLength(2);
    expect(names.indexOf('case')).toBeGreaterThan(names.lastIndexOf('exit')); // after the compile
    expect(names.at(-1)).toBe('result');
    const cases = events.filter((e) => e.event === 'case').map((e) => (e.data as Json).case.verdict);
    expect(cases).toEqual(['accepted', 'wrong_answer']);
    expect((events.at(-1)!.data as Json).result).toMatchObject({ verdict: 'wrong_answer', score: 1 });
  }, 30_000);

  it('each case starts from the working dir as compiled: files a case leaves are gone for the next', async () => {
    const py = 'import os\nseen = os.path.exists("state.txt")\nopen("state.txt", "w").write("x")\nprint("fresh" if not seen else "stale")';
    const res = await judge({ language: 'python', files: [{ content: py }], cases: [{ expected: 'fresh' }, { expected: 'fresh' }, { expected: 'fresh' }] });
    expect(res.json.cases.map((k: Json) => k.verdict)).toEqual(['accepted', 'accepted', 'accepted']);
  }, 30_000);

  it('refuses bad requests before anything runs', async () => {
    expect((await judge(c([]))).status).toBe(422);
    const over = await judge(c([{ stdin: '', limits: { cpuTimeMs: 10_000_000 } }]));
    expect(over.status).toBe(422);
    expect(over.json.error.code).toBe('LIMIT_EXCEEDS_MAXIMUM');
  });

  it('leaves no container, cgroup or mount behind', async () => {
    await executor.settle();
    expect(await hostLeftovers(executor)).toEqual([]);
  });
});
