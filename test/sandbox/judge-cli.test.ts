/**
 * `polyrun judge SOLUTION --tests DIR` as a real process: NAME.in / NAME.out pairs in natural order, a
 * verdict line per case, the summary, --json, and usage errors.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'polyrun-judge-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function polyrun(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args],
      { cwd: ROOT, env: { ...process.env, POLYRUN_DATA_DIR: join(work, 'data') }, timeout: 60_000 },
      (err, stdout, stderr) => done({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('polyrun judge', () => {
  const tests = join(work, 'tests');
  mkdirSync(tests);
  for (const [name, input, output] of [['1', '1 2', '3'], ['2', '5 5', '10'], ['10', '2 2', '5'], ['no-out', '0 0', null]] as const) {
    writeFileSync(join(tests, `${name}.in`), `${input}\n`);
    if (output !== null) writeFileSync(join(tests, `${name}.out`), `${output}\n`);
  }
  const solution = join(work, 'sum.py');
  writeFileSync(solution, 'a, b = map(int, input().split())\nprint(a + b)\n');

  it('judges each NAME.in / NAME.out pair in natural order and prints a verdict per case and the score', async () => {
    const r = await polyrun(['judge', solution, '--tests', tests]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 4).map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual([
      '1/4 1 accepted',
      '2/4 2 accepted',
      '3/4 10 wrong_answer',
      '4/4 no-out accepted',
    ]);
    expect(lines[2]).toContain('line 1: expected "5", got "4"');
    expect(lines.at(-1)).toMatch(/^wrong_answer: 3\/4 passed, score 3\/4 \(python /);
  }, 60_000);

  it('--json prints the judge result', async () => {
    const r = await polyrun(['judge', solution, '--tests', tests, '--json', '--stop-on-failure']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ verdict: 'wrong_answer', passed: 2, total: 4 });
    expect(result.cases.map((c: { verdict: string }) => c.verdict)).toEqual(['accepted', 'accepted', 'wrong_answer', 'skipped']);
  }, 60_000);

  it('usage errors exit 2', async () => {
    expect((await polyrun(['judge', solution])).code).toBe(2);
    expect((await polyrun(['judge', solution, '--tests', tests, '--checker', 'nope'])).code).toBe(2);
  }, 60_000);
});
