/**
 * A Redis server for tests (test/redis/): Debian's redis-server (scripts/setup --test installs it), started
 * on a unix socket in a temp dir of its own, no persistence, stopped by the test. So `npm test` works alone;
 * when POLYRUN_TEST_REDIS_URL is set (.ci/run starts one server on a loopback port for the whole run),
 * `sharedRedis()` uses that instead. Tests that stop and restart Redis always start their own.
 *
 * Isolation between tests on one server: every queue gets its own key prefix (uniquePrefix).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface TestRedis {
  url: string;
  /** Stop the server (and remove its dir unless `keepDir`). */
  stop(keepDir?: boolean): Promise<void>;
  /** Start it again on the same socket (after stop(true)). */
  restart(): Promise<void>;
}

let prefixSeq = 0;
export const uniquePrefix = (name = 'test') => `t-${name}-${process.pid}-${Date.now().toString(36)}-${++prefixSeq}`;

/** Resolves once the server answers PING. Waits on the server's own "ready" line, not on a timer. */
function launch(dir: string, socket: string, persist: boolean): Promise<ChildProcess> {
  // persist: an append-only file synced on every write, so that a restart keeps the queue (as a production
  // Redis for polyrun should be configured: docs/deploy.md).
  const durability = persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const child = spawn(
    'redis-server',
    ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--save', '', ...durability, '--dir', dir, '--loglevel', 'warning'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    child.once('error', (err) => reject(new Error(`cannot start redis-server (scripts/setup --test installs it): ${err.message}`)));
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    // With loglevel warning it prints nothing on success: ask it directly until it answers.
    const probe = new Redis(socket, { retryStrategy: () => 10, maxRetriesPerRequest: null });
    probe.on('error', () => undefined);
    probe.once('ready', () => {
      probe.disconnect();
      child.removeAllListeners('exit');
      resolve(child);
    });
  });
}

export async function startRedis(o: { persist?: boolean } = {}): Promise<TestRedis> {
  const persist = o.persist ?? false;
  const dir = mkdtempSync(join(tmpdir(), 'polyrun-redis-'));
  const socket = join(dir, 'redis.sock');
  let child: ChildProcess | undefined = await launch(dir, socket, persist);
  const stopChild = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGKILL');
    await exited;
  };
  return {
    url: socket,
    async stop(keepDir = false) {
      await stopChild();
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await stopChild();
      child = await launch(dir, socket, persist);
    },
  };
}

/** The run's shared server (POLYRUN_TEST_REDIS_URL) or a server of this test file's own. */
export async function sharedRedis(): Promise<TestRedis> {
  const url = process.env.POLYRUN_TEST_REDIS_URL;
  if (url) return { url, stop: async () => undefined, restart: async () => { throw new Error('a shared Redis cannot be restarted'); } };
  return startRedis();
}
