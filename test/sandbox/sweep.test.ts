/**
 * The start-up sweep: a service process killed mid-execution leaves a running container, its cgroups and
 * its bundle behind; the next service process on the same state dir removes all of it. For each backend:
 * with bwrap the sandbox dies with the service (bwrap gets SIGKILL when its parent dies and passes it on
 * to init), and what is left, the cgroups and the instance dir, goes at the next start.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, expect, it } from 'vitest';
import { hierarchyBases } from '../../src/sandbox/cgroups.js';
import { SandboxHost } from '../../src/sandbox/host.js';
import { testHostConfig } from '../helpers/host-config.js';
import { OciRuntime } from '../../src/sandbox/oci.js';
import { backendsOnThisHost } from '../helpers/backends.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const stateDir = mkdtempSync(join(tmpdir(), 'polyrun-sweep-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

/** Host pids whose cgroup path names the instance. */
function processesOf(instanceId: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cgroup`, 'utf8').includes(`/polyrun/${instanceId}/`)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

it.each(backendsOnThisHost().backends)('%s: a crashed service leaves a sandbox behind; the next start removes container, processes, cgroups and bundle', async (backend) => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/crashing-service.ts'), stateDir, backend], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolveLine, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolveLine);
    child.once('exit', (code) => reject(new Error(`the crashing service exited early (${code})`)));
  });
  const { instanceId, sandboxId, cgroup } = JSON.parse(line) as { instanceId: string; sandboxId: string; cgroup: string };
  const instanceDir = join(stateDir, 'instances', instanceId);
  // The instance names the program that ran its sandboxes (the OCI runtime, or bwrap).
  const binary = readFileSync(join(instanceDir, 'backend'), 'utf8').trim();
  const runtime = new OciRuntime(binary, join(instanceDir, 'runc'));

  // The stage is running: the container and its sleeping program are there.
  // An OCI runtime (runc, crun, runsc) keeps the container in its state.
  if (backend !== 'bwrap') expect(await runtime.list()).toContain(sandboxId);
  expect(processesOf(instanceId).length).toBeGreaterThanOrEqual(2); // init and sleep

  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await exited;
  if (backend !== 'bwrap') {
    // (oci and gvisor: the runtime outlives the service.) Nothing was cleaned up by the dead process: the program still sleeps in its sandbox.
    expect(processesOf(instanceId).length).toBeGreaterThanOrEqual(2);
    expect(existsSync(join(instanceDir, 'bundles', sandboxId))).toBe(true);
  } else {
    // bwrap was killed with the service and init with bwrap: the processes end by themselves (as soon as
    // the kernel has delivered the signals), while the cgroups and the instance dir stay for the sweep.
    while (processesOf(instanceId).length > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(existsSync(join(instanceDir))).toBe(true);
    expect(hierarchyBases().some((base) => existsSync(join(base, cgroup)))).toBe(true);
  }

  const next = await SandboxHost.create(testHostConfig({ stateDir, backend }));
  try {
    expect(existsSync(instanceDir)).toBe(false);
    expect(processesOf(instanceId)).toEqual([]);
    for (const base of hierarchyBases()) {
      expect(existsSync(join(base, cgroup)), join(base, cgroup)).toBe(false);
      expect(existsSync(join(base, 'polyrun', instanceId)), join(base, 'polyrun', instanceId)).toBe(false);
    }
  } finally {
    await next.cleanup();
  }
}, 60_000);
