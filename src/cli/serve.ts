/**
 * `polyrun serve [flags]`: load the configuration, create the executor, start the HTTP service, and shut
 * down gracefully on SIGTERM/SIGINT. Resolves once the service has stopped.
 */
import { pino, type Logger } from 'pino';
import { buildApp, keysFilePath } from '../api/app.js';
import { SETTINGS, loadConfig } from '../config/load.js';
import { isLoopbackHost } from '../config/policy.js';
import type { PolyrunConfig } from '../config/schema.js';
import { createExecutor } from '../executor/executor.js';
import { KeyStore } from '../store/keys.js';
import { reloadOnHangup, writePidFile } from './reload.js';
import { ensurePrivateDir } from '../store/sqlite.js';
import { clusterQueue, nodeName, startWorkerNode } from '../cluster/node.js';
import { RemoteExecutor, withQueueHealth } from '../cluster/remote-executor.js';
import { clusterView } from '../cluster/shared-results.js';
import type { Executor } from '../executor/types.js';
import { connect } from '../queue/redis-connection.js';

/** With auth on and no key at all, make one for the "default" tenant so a fresh install is usable. */
export function ensureFirstKey(config: PolyrunConfig, print: (line: string) => void): void {
  if (!config.auth) return;
  const store = new KeyStore(keysFilePath(config));
  if (store.list().length > 0) return;
  const { key } = store.create('default');
  print(
    `polyrun: created an API key for tenant "default" (shown only now; its hash is in ${store.path}):\n\n  ${key}\n\n` +
      `  curl -H "Authorization: Bearer ${key}" http://${config.host}:${config.port}/v1/runtimes\n`,
  );
}

function usage(): string {
  const rows = SETTINGS.filter((s) => s.flag).map((s) => `  --${s.flag} VALUE`.padEnd(30) + s.description);
  return [
    'usage: polyrun serve [--config FILE] [--no-auth] [flags]',
    '',
    '  --config FILE'.padEnd(30) + 'YAML or JSON config file (or POLYRUN_CONFIG)',
    '  --no-auth'.padEnd(30) + 'no API keys: anyone who can reach the port may run code',
    ...rows,
    '',
    'Every setting, its env var and default: docs/configuration.md',
    '',
  ].join('\n');
}

export async function serveCommand(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage());
    return;
  }
  const { config, source } = loadConfig(argv);
  const logger = pino({ level: config.logLevel, base: { service: 'polyrun' } });
  ensurePrivateDir(config.dataDir);
  // A worker takes no HTTP requests: it needs no key.
  if (config.role !== 'worker') ensureFirstKey(config, (line) => process.stdout.write(line));
  if (!config.auth) logger.warn('authentication is off (--no-auth): anyone who can reach the port can run code');
  if (!config.auth && !isLoopbackHost(config.host)) {
    logger.warn({ host: config.host }, 'authentication is off on a non-loopback address: every client IP is rate-limited (anonymousPolicy.rate)');
  }

  // With redis.url this node is part of a cluster (src/cluster/node.ts): the queue lives in Redis.
  const queue = config.redis.url ? clusterQueue(config) : undefined;
  if (queue) logger.info({ role: config.role, node: nodeName(config), prefix: config.redis.prefix }, 'cluster mode: the job queue is in Redis');
  const sandboxExecutor = () =>
    createExecutor({
      config,
      pool: config.sandbox.pool,
      ...(config.runtimes ? { languages: config.runtimes.split(',') } : {}),
      log: (level, msg, fields) => logger[level](fields ?? {}, msg),
    });
  if (config.role === 'worker' && queue) return serveWorker(config, logger, queue, await sandboxExecutor());

  const executor: Executor =
    config.role === 'api' && queue ? await RemoteExecutor.create(queue) : queue ? withQueueHealth(await sandboxExecutor(), queue) : await sandboxExecutor();
  // Rate limits and quotas shared by every API node: their own connection, failing fast while Redis is down.
  const shared =
    queue && config.redis.url
      ? {
          redis: connect(config.redis.url, 'commands'),
          prefix: config.redis.prefix,
          results: (id: string, tenant: string) => clusterView(queue, id, tenant),
        }
      : undefined;
  const app = await buildApp({
    config,
    executor,
    logger,
    processMetrics: true,
    ...(queue ? { queue, runWorker: config.role === 'all', workers: () => queue.workerList(), shared } : {}),
  }).catch(async (err: unknown) => {
    await executor.close(); // e.g. a store that cannot be opened on a full disk: leave no sandbox behind
    await queue?.disconnect();
    shared?.redis.disconnect();
    throw err;
  });
  if (queue) app.polyrun.services.metrics.registry.setDefaultLabels({ node: nodeName(config), role: config.role });

  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down');
      app.polyrun.shutdown(config.shutdownGraceMs).then(
        async () => {
          await queue?.disconnect();
          shared?.redis.disconnect();
          logger.info('stopped');
          resolve();
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exitCode = 1;
          resolve();
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });

  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await app.close(); // releases the executor's sandboxes too
    throw err;
  }
  logger.info(
    { config: source ?? '(defaults)', dataDir: config.dataDir, auth: config.auth, slots: config.slots, runtimes: executor.runtimes().length },
    'polyrun is serving',
  );
  // `polyrun install` finds the service by this file and sends SIGHUP: the runtimes are detected again.
  const removePidFile = writePidFile(config.dataDir);
  const stopReloading = reloadOnHangup(executor, logger);
  await stopped;
  stopReloading();
  removePidFile();
}

/** `serve --role worker`: run jobs from the cluster's queue until SIGTERM/SIGINT, then finish them and stop. */
async function serveWorker(config: PolyrunConfig, logger: Logger, queue: ReturnType<typeof clusterQueue>, executor: Executor): Promise<void> {
  const node = await startWorkerNode({ config, executor, queue, logger });
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'worker shutting down: finishing its running jobs');
      node.shutdown().then(
        () => {
          logger.info('stopped');
          resolve();
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exitCode = 1;
          resolve();
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  try {
    await node.app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await node.shutdown();
    throw err;
  }
  logger.info({ node: nodeName(config), slots: config.slots, runtimes: executor.runtimes().length }, 'polyrun worker is taking jobs');
  await stopped;
}
