/**
 * The compile cache and a request's compile limits: a hit reports the original compile's figures (flagged
 * cached), and an entry whose compile cost more than this request's compile limits allow is not used.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { tempDir } from '../helpers/app.js';

const dataDir = tempDir('polyrun-cache-limits-');
let executor: SandboxExecutor;

beforeAll(async () => {
  executor = await createExecutor({ dataDir, languages: ['c'], compileCache: { maxBytes: 64 * 1024 * 1024 } });
}, 120_000);

afterAll(async () => {
  await executor?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const program = (compileLimits?: { cpuTimeMs: number }) => ({
  language: 'c',
  files: [{ name: 'main.c', content: Buffer.from('#include <stdio.h>\nint main(void) { puts("cached?"); return 0; }\n') }],
  ...(compileLimits ? { compileLimits } : {}),
});

describe('compile cache hits and compile limits', () => {
  it("a hit reports the original compile's figures, flagged cached", async () => {
    const first = await executor.execute(program());
    expect(first.compile).toMatchObject({ status: 'ok', cached: false });
    const second = await executor.execute(program());
    expect(second.compile).toMatchObject({ status: 'ok', cached: true });
    expect(second.compile!.cpuTimeMs).toBe(first.compile!.cpuTimeMs);
    expect(second.compile!.wallTimeMs).toBe(first.compile!.wallTimeMs);
    expect(second.compile!.memoryBytes).toBe(first.compile!.memoryBytes);
    expect(second.compile!.cpuTimeMs).toBeGreaterThan(0);
  }, 60_000);

  it('a request whose compile limits the original compile exceeded compiles for real (and meets its limit)', async () => {
    const original = await executor.execute(program());
    expect(original.compile?.cached).toBe(true);
    const strict = await executor.execute(program({ cpuTimeMs: 1 }));
    expect(strict.compile?.cached).not.toBe(true);
    expect(strict.status).toBe('time_limit');
  }, 60_000);
});
