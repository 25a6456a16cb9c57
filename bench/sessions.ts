/**
 * `npm run bench:sessions`: what a warm session buys an agent. In one process and one run, interleaved
 * sample by sample, over HTTP on loopback (the whole pipeline, auth off):
 *
 *   bare          python3 -c 'print(1)' spawned on the host (no sandbox, no HTTP)
 *   one-shot      POST /v1/execute {python, print(1)} (warm pool)
 *   session exec  POST /v1/sessions/:id/exec {python, print(1)} (the session's sandbox already runs)
 *   command exec  POST /v1/sessions/:id/exec {argv: [true]}
 *   cell          POST /v1/sessions/:id/cells {print(1)} (the kernel already runs: no interpreter start)
 *
 * Prints p50/p90 and each row's p50 as a ratio of one-shot's (and of bare's). BENCH_RUNS (default 40).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/api/app.js';
import { mergeLayers, validateConfig } from '../src/config/load.js';
import { defaultConfig } from '../src/config/schema.js';
import { createExecutor } from '../src/executor/executor.js';
import { summarize } from './stats.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const WARMUPS = 3;

function bare(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-c', 'print(1)'], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`python3 exited ${code}`))));
  });
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'polyrun-bench-sessions-'));
  const executor = await createExecutor({ dataDir, languages: ['python'], pool: true, slots: 2 });
  const config = validateConfig(
    mergeLayers(defaultConfig(cpus().length), {
      host: '127.0.0.1',
      port: 0,
      dataDir,
      auth: false,
      logLevel: 'silent',
      slots: 2,
      anonymousPolicy: {
        rate: { perSecond: 100_000, burst: 100_000 },
        quota: { concurrent: 10_000, executionsPerDay: 1_000_000_000, cpuSecondsPerDay: 1_000_000_000 },
      },
    }),
  );
  const app = await buildApp({ config, executor, closeExecutor: false });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await res.json()) as { status?: string; id?: string };
    if (!res.ok || (json.status !== undefined && json.status !== 'ok')) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  try {
    const execSession = (await post('/v1/sessions', {})).id!;
    const cellSession = (await post('/v1/sessions', {})).id!;
    const rows: [string, () => Promise<unknown>][] = [
      ['bare python3 (host, no HTTP)', bare],
      ['one-shot POST /v1/execute', () => post('/v1/execute', { language: 'python', files: [{ content: 'print(1)' }] })],
      ['session exec (program)', () => post(`/v1/sessions/${execSession}/exec`, { language: 'python', code: 'print(1)' })],
      ['session exec (command: true)', () => post(`/v1/sessions/${execSession}/exec`, { argv: ['true'] })],
      ['session cell (python kernel)', () => post(`/v1/sessions/${cellSession}/cells`, { code: 'print(1)' })],
    ];
    const samples = rows.map(() => [] as number[]);
    for (let i = 0; i < WARMUPS + RUNS; i++) {
      for (const [r, [, run]] of rows.entries()) {
        const start = performance.now();
        await run();
        if (i >= WARMUPS) samples[r]!.push(performance.now() - start);
      }
    }
    const p50 = samples.map((s) => summarize(s).p50);
    const oneShot = p50[1]!;
    const bareP50 = p50[0]!;
    console.log(`sessions benchmark: ${RUNS} runs each, interleaved, ${cpus().length} cores`);
    console.log('| what | p50 ms | p90 ms | p50 / one-shot | p50 - bare ms |');
    console.log('|---|---|---|---|---|');
    rows.forEach(([name], r) => {
      const s = summarize(samples[r]!);
      console.log(`| ${name} | ${s.p50.toFixed(1)} | ${s.p90.toFixed(1)} | ${(s.p50 / oneShot).toFixed(2)} | ${(s.p50 - bareP50).toFixed(1)} |`);
    });
  } finally {
    await app.close();
    await executor.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
