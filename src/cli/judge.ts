/**
 * `polyrun judge SOLUTION... --tests DIR`: judge a solution against the test cases of a directory (pairs
 * `NAME.in` / `NAME.out`, in natural order; an `.in` without `.out` only has to exit cleanly), in this
 * process with the same judge as POST /v1/judge. Each verdict is printed as it is decided.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { errors } from '../contract/errors.js';
import { loadConfigFile } from '../config/load.js';
import { createExecutor } from '../executor/executor.js';
import { judgeLocally } from '../judge/local.js';
import { BUILTIN_CHECKERS, type CaseResult, type JudgeBody, type JudgeResult } from '../judge/schema.js';
import { findManifest, loadManifests } from '../runtimes/registry.js';
import { parse, UsageError } from './args.js';

const MiB = 1024 * 1024;

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${flag} must be a positive integer (got "${value}")`);
  return n;
}

/** The test cases of a directory: NAME.in with NAME.out (optional), sorted naturally (2 before 10). */
export async function readTestDir(dir: string): Promise<{ name: string; stdin: Buffer; expected: Buffer | null }[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    throw errors.badRequest(`cannot read ${dir}: ${err.code ?? err.message}`);
  });
  const present = new Set(names);
  const inputs = names.filter((n) => n.endsWith('.in')).map((n) => n.slice(0, -3));
  inputs.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (inputs.length === 0) throw errors.badRequest(`no test cases in ${dir} (NAME.in with NAME.out)`);
  return Promise.all(
    inputs.map(async (name) => ({
      name,
      stdin: await readFile(join(dir, `${name}.in`)),
      expected: present.has(`${name}.out`) ? await readFile(join(dir, `${name}.out`)) : null,
    })),
  );
}

export async function judgeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    tests: { type: 'string', short: 't' },
    language: { type: 'string', short: 'l' },
    checker: { type: 'string' },
    tolerance: { type: 'string' },
    'stop-on-failure': { type: 'boolean' },
    'time-limit': { type: 'string' },
    'wall-limit': { type: 'string' },
    'memory-limit': { type: 'string' },
    'total-time': { type: 'string' },
    json: { type: 'boolean' },
    config: { type: 'string' },
  });
  if (positionals.length === 0) throw new UsageError('judge needs the SOLUTION file(s)');
  if (values.tests === undefined) throw new UsageError('judge needs --tests DIR (pairs NAME.in / NAME.out)');
  const checker = values.checker ?? 'trailing_whitespace';
  if (!(BUILTIN_CHECKERS as readonly string[]).includes(checker)) {
    throw new UsageError(`--checker must be one of ${BUILTIN_CHECKERS.join(', ')} (got "${checker}")`);
  }
  const tolerance = values.tolerance === undefined ? undefined : Number(values.tolerance);
  if (tolerance !== undefined && !(tolerance >= 0 && tolerance <= 1)) throw new UsageError('--tolerance must be a number from 0 to 1');
  const cpuTimeMs = positiveInt('time-limit', values['time-limit']);
  const wallTimeMs = positiveInt('wall-limit', values['wall-limit']);
  const memoryMb = positiveInt('memory-limit', values['memory-limit']);
  const totalTimeMs = positiveInt('total-time', values['total-time']);

  const manifests = await loadManifests();
  const first = positionals[0]!;
  const dot = basename(first).lastIndexOf('.');
  const language = values.language ?? (dot > 0 ? basename(first).slice(dot) : undefined);
  if (language === undefined) throw new UsageError(`cannot infer the language of "${first}": give --language`);
  const manifest = findManifest(manifests, language);
  if (!manifest) throw errors.unknownLanguage(language, undefined, manifests.map((m) => m.name));
  const files = await Promise.all(
    positionals.map(async (path) => ({
      name: basename(path),
      content: (
        await readFile(path).catch((err: NodeJS.ErrnoException) => {
          throw errors.badRequest(`cannot read ${path}: ${err.code ?? err.message}`);
        })
      ).toString('base64'),
      encoding: 'base64' as const,
    })),
  );
  const tests = await readTestDir(values.tests);
  const limits = {
    ...(cpuTimeMs !== undefined && { cpuTimeMs }),
    ...(wallTimeMs !== undefined && { wallTimeMs }),
    ...(memoryMb !== undefined && { memoryBytes: memoryMb * MiB }),
  };
  const body: JudgeBody = {
    language: manifest.name,
    files,
    limits,
    cases: tests.map((t) => ({
      name: t.name,
      stdin: t.stdin.toString('base64'),
      ...(t.expected ? { expected: t.expected.toString('base64') } : {}),
      encoding: 'base64' as const,
    })),
    checker: checker === 'float' && tolerance !== undefined ? { type: 'float', absTolerance: tolerance, relTolerance: tolerance } : { type: checker as 'exact' },
    ...(values['stop-on-failure'] ? { stopOnFirstFailure: true } : {}),
    ...(totalTimeMs !== undefined ? { totalTimeMs } : {}),
  };

  const { config } = loadConfigFile(values.config);
  const executor = await createExecutor({ config, languages: [manifest.name], log: operatorLog });
  try {
    if (!executor.findRuntime(manifest.name)) {
      const why = executor.unavailable.find((u) => u.name === manifest.name)?.reason ?? 'not detected';
      throw errors.runtimeUnavailable(manifest.name, why);
    }
    const result = await judgeLocally(executor, body, {
      onEvent: (event) => {
        if (event.type === 'case' && !values.json) process.stdout.write(caseLine(event.case, tests.length));
      },
    });
    if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
    else printVerdict(result);
  } finally {
    await executor.close();
  }
  return 0;
}

function operatorLog(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void {
  if (level === 'error') process.stderr.write(`polyrun: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
}

function caseLine(c: CaseResult, total: number): string {
  const width = String(total).length;
  const figures = c.verdict === 'skipped' ? '' : `  cpu ${c.cpuTimeMs} ms  wall ${c.wallTimeMs} ms  mem ${(c.memoryBytes / MiB).toFixed(1)} MiB`;
  const why = c.checkerMessage && c.verdict !== 'accepted' ? `  (${c.checkerMessage})` : '';
  return `${String(c.index + 1).padStart(width)}/${total} ${(c.name ?? '').padEnd(8)} ${c.verdict.padEnd(14)}${figures}${why}\n`;
}

function printVerdict(result: JudgeResult): void {
  if (result.verdict === 'compile_error' && result.compile) {
    process.stdout.write(result.compile.stdout);
    process.stdout.write(result.compile.stderr);
  }
  process.stdout.write(`\n${result.verdict}: ${result.passed}/${result.total} passed, score ${result.score}/${result.maxScore} (${result.language} ${result.version})\n`);
}
