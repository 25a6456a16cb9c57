/**
 * Real polyrun processes for cluster tests (test/redis/): `polyrun serve --role api|worker` from the source
 * (tsx), on loopback, against a test Redis (test/helpers/redis.ts), each with a data dir of its own and one
 * key prefix per cluster. Waits are on conditions (a port answering, a worker registered), never fixed sleeps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectPath } from '../../src/project.js';

export interface NodeProcess {
  name: string;
  child: ChildProcess;
  /** http://127.0.0.1:PORT (API nodes). */
  url: string;
  log: () => string;
  /** SIGTERM and wait for the exit (graceful); SIGKILL after `timeoutMs` (then the exit code is null). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Poll `check` until it returns a truthy value (or throw after `timeoutMs`): for conditions in other processes. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface ClusterEnv {
  redisUrl: string;
  prefix: string;
  /** Extra env for every node. */
  env?: Record<string, string>;
  /** A config file for every node (merged with the node's own `config`). */
  config?: Record<string, unknown>;
}

const dirs: string[] = [];

export async function startNode(
  cluster: ClusterEnv,
  role: 'api' | 'worker' | 'all',
  o: { name: string; env?: Record<string, string>; args?: string[]; config?: Record<string, unknown> },
): Promise<NodeProcess> {
  const port = role === 'worker' ? 0 : await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `polyrun-${o.name}-`));
  dirs.push(dataDir);
  const configArgs: string[] = [];
  const config = { ...cluster.config, ...o.config };
  if (Object.keys(config).length > 0) {
    writeFileSync(join(dataDir, 'config.json'), JSON.stringify(config));
    configArgs.push('--config', join(dataDir, 'config.json'));
  }
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', projectPath('src/cli/main.ts'), 'serve', '--role', role, '--port', String(port), '--no-auth', '--node-name', o.name, ...configArgs, ...(o.args ?? [])],
    {
      env: {
        ...process.env,
        POLYRUN_REDIS_URL: cluster.redisUrl,
        POLYRUN_REDIS_PREFIX: cluster.prefix,
        POLYRUN_DATA_DIR: dataDir,
        POLYRUN_LOG_LEVEL: 'warn',
        ...cluster.env,
        ...o.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const node: NodeProcess = {
    name: o.name,
    child,
    url: `http://127.0.0.1:${port}`,
    log: () => output,
    async stop(timeoutMs = 60_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      // A node that does not stop is a failure to see (null), but never a process left behind.
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  if (role !== 'worker') {
    await until(
      `${o.name} to listen`,
      async () => {
        if (child.exitCode !== null) throw new Error(`${o.name} exited: ${output}`);
        return (await fetch(`${node.url}/healthz`)).ok;
      },
      120_000,
    );
  }
  return node;
}

export function removeNodeDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface WorkerView {
  host: string;
  pid: number;
  busy: number;
  completed: number;
  failed: number;
  slots: number;
  runtimes: string[];
}

export async function workers(api: NodeProcess): Promise<WorkerView[]> {
  const res = await fetch(`${api.url}/v1/workers`);
  if (!res.ok) throw new Error(`GET /v1/workers: ${res.status}`);
  return (await res.json()) as WorkerView[];
}

export async function execute(api: NodeProcess, body: unknown): Promise<{ status: number; body: any; retryAfter: string | null }> {
  const res = await fetch(`${api.url}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json(), retryAfter: res.headers.get('retry-after') };
}
