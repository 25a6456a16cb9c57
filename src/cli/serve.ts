/**
 * `polyrun serve [flags]`: load the configuration, create the executor, start the HTTP service, and shut
 * down gracefully on SIGTERM/SIGINT. Resolves once the service has stopped.
 */
import { pino } from 'pino';
import { buildApp, keysFilePath } from '../api/app.js';
import { SETTINGS, loadConfig } from '../config/load.js';
import type { PolyrunConfig } from '../config/schema.js';
import { createExecutor } from '../executor/executor.js';
import { KeyStore } from '../store/keys.js';
import { reloadOnHangup, writePidFile } from './reload.js';
import { ensurePrivateDir } from '../store/sqlite.js';

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
  ensureFirstKey(config, (line) => process.stdout.write(line));
  if (!config.auth) logger.warn('authentication is off (--no-auth): anyone who can reach the port can run code');

  const executor = await createExecutor({
    config,
    pool: config.sandbox.pool,
    log: (level, msg, fields) => logger[level](fields ?? {}, msg),
  });
  const app = await buildApp({ config, executor, logger, processMetrics: true }).catch(async (err: unknown) => {
    await executor.close(); // e.g. a store that cannot be opened on a full disk: leave no sandbox behind
    throw err;
  });

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
